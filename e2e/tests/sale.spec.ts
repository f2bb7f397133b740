import { APIRequestContext, Browser, expect, Page, request, test } from '@playwright/test';
import { admin, keepScreenshot, logIn, shopper, uniqueEmail, watchConsole } from './helpers';

// Sale day (issue 17): a campaign's Claim button turns on by itself at the
// opening second, on the server's clock; remaining counts fall live while
// other shoppers claim.

async function adminAPI(baseURL: string): Promise<APIRequestContext> {
  const api = await request.newContext({ baseURL, extraHTTPHeaders: { Accept: 'application/json' } });
  const r = await api.post('/login', { form: { email: admin.email, password: admin.password } });
  expect(r.status()).toBe(200);
  return api;
}

// createSale creates and activates a campaign through the admin JSON routes.
async function createSale(api: APIRequestContext, name: string, startsAt: Date, total: number): Promise<number> {
  const r = await api.post('/admin/campaigns', {
    form: {
      name, discount_type: 'fixed', discount_value: '4000', min_order_amount: '0', total_quantity: String(total),
      starts_at: startsAt.toISOString(), ends_at: new Date(startsAt.getTime() + 3_600_000).toISOString(), valid_days: '7',
    },
  });
  expect(r.status(), await r.text()).toBe(201);
  const { id } = await r.json();
  expect((await api.post(`/admin/campaigns/${id}/activate`)).status()).toBe(200);
  return id;
}

// The suite shares one sign-up limit per address (SIGNUP_LIMIT_PER_ADDR):
// one new shopper here, the seeded demo shopper otherwise.
async function demoShopper(browser: Browser): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await logIn(page, shopper);
  return page;
}

async function newShopper(browser: Browser): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto('/signup');
  await page.getByLabel('Email').fill(uniqueEmail('sale'));
  await page.getByLabel('Name').fill('Sale shopper');
  await page.getByLabel('Password (8 characters or more)').fill('password123');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('button', { name: 'Log out' })).toBeVisible();
  return page;
}

test('the Claim button turns on at the opening second and the count falls as another shopper claims', async ({ browser, baseURL }) => {
  const api = await adminAPI(baseURL!);
  const [a, b] = await Promise.all([newShopper(browser), demoShopper(browser)]);
  const consoleA = watchConsole(a);
  const name = `Opening bell ${Date.now()}`;
  const opensAt = new Date(Date.now() + 8_000);
  await createSale(api, name, opensAt, 5);

  // Shopper A's browser clock is an hour fast: a page that trusted it would
  // show the sale as open already.
  await a.clock.setSystemTime(new Date(Date.now() + 3_600_000));
  const streams: string[] = [];
  const polls: string[] = [];
  a.on('request', (r) => {
    if (!r.url().includes('/coupons/live')) return;
    (r.resourceType() === 'eventsource' ? streams : polls).push(r.url());
  });
  await a.goto('/coupons');
  const card = a.getByRole('article', { name });
  const claim = card.getByRole('button', { name: 'Claim coupon' });
  await expect(card.getByTestId('sale-status')).toHaveText('Upcoming');
  await expect(card.getByTestId('sale-when')).toHaveText(/^Opens in 00:0\d$/);
  await expect(claim).toBeDisabled();
  // Note the moment the button turns on, on the page's monotonic clock
  // (the faked wall clock moves performance.timeOrigin too), and turn it
  // into the machine's time, which is the server's: one machine runs both.
  await claim.evaluate((el: HTMLButtonElement) => {
    new MutationObserver(() => {
      if (!el.disabled && !(window as any).openedAt) (window as any).openedAt = performance.now();
    }).observe(el, { attributes: true, attributeFilter: ['disabled'] });
  });
  await expect(claim).toBeEnabled({ timeout: 20_000 });
  const before = Date.now();
  const [opened, now] = await a.evaluate(() => [(window as any).openedAt as number, performance.now()]);
  const after = Date.now();
  expect(before - (now - opened), 'turned on before the opening second').toBeGreaterThanOrEqual(opensAt.getTime() - 50);
  expect(after - (now - opened) - opensAt.getTime(), 'turned on late').toBeLessThan(1_500);
  await expect(card.getByTestId('sale-status')).toHaveText('Open now');
  await expect(card.getByTestId('sale-when')).toHaveText(/^Ends in (1 h 0 min|60 min|59 min)$/);
  await expect(card.getByTestId('remaining')).toHaveText('5 left');

  // Shopper B claims in another browser context; A sees the count fall
  // without reloading (the stream; the poll would take 5 s).
  await b.goto('/coupons');
  const cardB = b.getByRole('article', { name });
  await cardB.getByRole('button', { name: 'Claim coupon' }).click();
  await expect(cardB.getByTestId('claim-message')).toHaveText('You got it! The coupon is in your account.');
  await expect(card.getByTestId('remaining')).toHaveText('4 left', { timeout: 4_000 });
  expect(streams.length, 'no event stream was opened').toBeGreaterThan(0);
  expect(polls, 'polled while the stream was open').toEqual([]);

  // A claims: the answer is beside the button, which stays (turned off now),
  // and focus is on the answer.
  await claim.click();
  const message = card.getByTestId('claim-message');
  await expect(message).toHaveText('You got it! The coupon is in your account.');
  await expect(message).toBeFocused();
  await expect(claim).toBeVisible();
  await expect(claim).toBeDisabled();
  await expect(card.getByTestId('remaining')).toHaveText('3 left');
  consoleA.check();
  await api.dispose();
});

test('without the stream the page polls the counts', async ({ browser, baseURL }) => {
  const api = await adminAPI(baseURL!);
  const name = `Poll fallback ${Date.now()}`;
  await createSale(api, name, new Date(Date.now() - 60_000), 5);
  // A guest watches; the demo shopper claims.
  const a = await (await browser.newContext()).newPage();
  const b = await demoShopper(browser);
  // A proxy that refuses event streams: the page falls back to polling.
  await a.route('**/coupons/live**', (route) => (route.request().resourceType() === 'eventsource' ? route.abort() : route.continue()));
  await a.goto('/coupons');
  const remaining = a.getByRole('article', { name }).getByTestId('remaining');
  await expect(remaining).toHaveText('5 left');
  await b.goto('/coupons');
  await b.getByRole('article', { name }).getByRole('button', { name: 'Claim coupon' }).click();
  await expect(b.getByRole('article', { name }).getByTestId('claim-message')).toHaveText('You got it! The coupon is in your account.');
  await expect(remaining).toHaveText('4 left', { timeout: 12_000 });
  await api.dispose();
});

test('home and coupons at 1280 and 360 px', async ({ browser, baseURL }, testInfo) => {
  const api = await adminAPI(baseURL!);
  await createSale(api, `Midnight flash ${Date.now()}`, new Date(Date.now() + 4 * 60_000), 300);
  const page = await demoShopper(browser);
  for (const width of [1280, 360]) {
    await page.setViewportSize({ width, height: 900 });
    for (const [label, path] of [['home', '/'], ['coupons', '/coupons']]) {
      await page.goto(path);
      await expect(page.getByRole('article').first()).toBeVisible();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, `${path} at ${width} px scrolls sideways`).toBeLessThanOrEqual(0);
      await keepScreenshot(page, testInfo, `${label}-${width}`);
    }
  }
  await api.dispose();
});
