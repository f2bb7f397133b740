import { APIRequestContext, expect, request, test } from '@playwright/test';
import { admin, keepScreenshot, logIn, uniqueEmail, watchConsole } from './helpers';

const json = { Accept: 'application/json' };

// A shopper who talks to the shop through its HTTP API only, with a session of its own.
async function apiShopper(baseURL: string): Promise<APIRequestContext> {
  const ctx = await request.newContext({ baseURL });
  const r = await ctx.post('/signup', {
    headers: json,
    form: { email: uniqueEmail('watcher'), name: 'Claimer', password: 'password123' },
  });
  expect(r.status()).toBe(201);
  return ctx;
}

test('an admin watches claims arrive on the dashboard without a reload', async ({ page, baseURL }, testInfo) => {
  const console = watchConsole(page);
  await logIn(page, admin);

  // The campaign through the admin JSON API, on the admin's own session.
  const name = `Live ${Date.now()}`;
  const created = await page.request.post('/admin/campaigns', {
    headers: json,
    form: {
      name, discount_type: 'fixed', discount_value: '1000', min_order_amount: '0', total_quantity: '20', valid_days: '7',
      starts_at: new Date(Date.now() - 60_000).toISOString(), ends_at: new Date(Date.now() + 3_600_000).toISOString(),
    },
  });
  expect(created.status()).toBe(201);
  const { id } = await created.json();
  const activated = await page.request.post(`/admin/campaigns/${id}/activate`, { headers: json });
  expect(activated.status()).toBe(200);

  await page.goto('/admin');
  const card = page.getByRole('article', { name });
  const bar = card.getByRole('progressbar', { name: `Claimed in ${name}` });
  await expect(card.getByTestId(`claimed-${id}`)).toHaveText('0 / 20 claimed');
  await expect(bar).toHaveAttribute('value', '0');
  await page.evaluate(() => { (window as unknown as { marker: string }).marker = 'no reload'; });

  const shoppers = await Promise.all(Array.from({ length: 5 }, () => apiShopper(baseURL!)));
  const claim = async (s: APIRequestContext) => {
    const r = await s.post(`/coupons/${id}/claim`, { headers: json });
    expect(r.status()).toBe(200);
    expect((await r.json()).result).toBe('claimed');
  };

  await Promise.all(shoppers.slice(0, 3).map(claim));
  await expect(card.getByTestId(`claimed-${id}`)).toHaveText('3 / 20 claimed');
  await expect(bar).toHaveAttribute('value', '3');
  await expect(card.getByTestId(`remaining-${id}`)).toHaveText('17 remaining');

  await Promise.all(shoppers.slice(3).map(claim));
  await expect(card.getByTestId(`claimed-${id}`)).toHaveText('5 / 20 claimed');
  await expect(bar).toHaveAttribute('value', '5');
  // The flusher saves them, and the row says so in the operator's words.
  await expect(card.getByTestId(`saved-${id}`)).toHaveText('5 saved, 0 waiting');
  await expect(card.getByTitle('Persisted to PostgreSQL')).toHaveText('saved');
  await expect(page.getByRole('img', { name: /Claims per 10 seconds, last 10 minutes: peak \d+ claims, total \d+/ })).toBeVisible();

  // Every update came by polling: the page was never reloaded.
  expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('no reload');
  await keepScreenshot(page, testInfo, 'dashboard');

  // It fits a screen: at 1280×800 the key numbers are in view without scrolling.
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.evaluate(() => window.scrollTo(0, 0));
  for (const id of ['claim-rate', 'pending', 'dead-letters', 'orders-today', 'revenue-today', 'consistency-last']) {
    await expect(page.getByTestId(id)).toBeInViewport();
  }
  await expect(page.getByTitle(/^Dead letters/)).toHaveText('Failed saves');
  for (const s of shoppers) await s.dispose();
  console.check();
});
