import AxeBuilder from '@axe-core/playwright';
import { APIRequestContext, expect, Page, request, test } from '@playwright/test';
import { addAddress, admin, logIn, signUp } from './helpers';

// Every page of the shop and of the admin area, checked with axe: no serious
// or critical violation anywhere (docs/HTTP.md lists the routes).
const json = { Accept: 'application/json' };

async function axeCheck(page: Page, path: string) {
  const res = await page.goto(path);
  expect(res?.status(), `${path} answers`).toBeLessThan(400);
  const results = await new AxeBuilder({ page }).analyze();
  expect(results.passes.length, 'axe ran its rules').toBeGreaterThan(0);
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const described = bad.map((v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('\n  ')}`);
  expect.soft(described, `${path}\n${described.join('\n')}`).toEqual([]);
  // What axe 4 no longer checks: one <h1> naming the page, no id used twice
  // (a label would point at the wrong field), and a <main> landmark.
  expect.soft(await page.locator('h1').count(), `${path}: one h1`).toBe(1);
  expect.soft(await page.locator('main').count(), `${path}: one main`).toBe(1);
  const dupes = await page.evaluate(() => {
    const seen = new Map<string, number>();
    document.querySelectorAll('[id]').forEach((e) => seen.set(e.id, (seen.get(e.id) ?? 0) + 1));
    return [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  });
  expect.soft(dupes, `${path}: ids used twice`).toEqual([]);
  // One live region per result, never one inside another (a screen reader
  // would read the inner one twice or not at all).
  const nested = await page.evaluate(() => {
    const live = '[aria-live]:not([aria-live="off"]), [role="status"], [role="alert"], [role="log"]';
    return [...document.querySelectorAll(live)].filter((e) => e.parentElement?.closest(live)).map((e) => e.outerHTML.slice(0, 80));
  });
  expect.soft(nested, `${path}: live regions inside live regions`).toEqual([]);
}

// What the pages need to show something: an open campaign, a shopper with an
// order and a cart, all through the JSON API.
async function setUp(baseURL: string) {
  const api: APIRequestContext = await request.newContext({ baseURL, extraHTTPHeaders: json });
  expect((await api.post('/login', { form: admin })).status()).toBe(200);
  const now = Date.now();
  const c = await api.post('/admin/campaigns', {
    form: {
      name: `A11y sale ${now}`, discount_type: 'fixed', discount_value: '3000', min_order_amount: '0', total_quantity: '20',
      starts_at: new Date(now - 60_000).toISOString(), ends_at: new Date(now + 3_600_000).toISOString(), valid_days: '7',
    },
  });
  expect(c.status(), await c.text()).toBe(201);
  const campaignID: number = (await c.json()).id;
  expect((await api.post(`/admin/campaigns/${campaignID}/activate`)).status()).toBe(200);
  const found = await (await api.get('/products?in_stock=1&max_price=50000&sort=price_asc')).json();
  const productID: number = found.items.find((p: { stock: number }) => p.stock >= 5).id;
  await api.dispose();
  return { campaignID, productID };
}

test('every page has no serious or critical accessibility violation', async ({ page, baseURL }) => {
  test.slow(); // some twenty pages, each analysed in the browser
  const { campaignID, productID } = await setUp(baseURL!);

  // As a guest.
  for (const path of ['/', '/products?in_stock=1&sort=price_asc', '/products?q=zzzqqqxxnothing', `/products/${productID}`, '/login', '/signup', '/coupons']) {
    await axeCheck(page, path);
  }

  // As a shopper with an order and something in the cart.
  await signUp(page, 'a11y', 'Ally');
  await addAddress(page);
  expect((await page.request.post('/account/topup', { form: { amount: '500000' }, headers: json })).status()).toBe(200);
  expect((await page.request.post('/cart/items', { form: { product_id: String(productID), quantity: '1' }, headers: json })).status()).toBe(200);
  const placed = await page.request.post('/checkout', { form: { idempotency_key: `a11y-${Date.now()}` }, headers: json });
  expect(placed.status(), await placed.text()).toBe(201);
  const orderID: number = (await placed.json()).id;
  expect((await page.request.post('/cart/items', { form: { product_id: String(productID), quantity: '2' }, headers: json })).status()).toBe(200);
  for (const path of ['/', '/coupons', '/cart', '/orders', `/orders/${orderID}`, '/account']) {
    await axeCheck(page, path);
  }
  await page.getByRole('button', { name: 'Log out', exact: true }).click();

  // As an admin.
  await logIn(page, admin);
  for (const path of ['/admin', '/admin/campaigns', `/admin/campaigns/${campaignID}`, '/admin/products', `/admin/products/${productID}`,
    '/admin/orders', `/admin/orders/${orderID}`, '/admin/consistency', '/admin/shoppers', '/admin/audit']) {
    await axeCheck(page, path);
  }
});
