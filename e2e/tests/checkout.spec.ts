import { APIRequestContext, expect, Page, request, test } from '@playwright/test';
import { TestInfo } from '@playwright/test';
import { addAddress, admin, signUp, watchConsole } from './helpers';

// The price before paying (GET /checkout/preview) and the cart's quantities,
// as a shopper sees them on the cart page.

const json = { Accept: 'application/json' };

async function asAdmin(baseURL: string): Promise<APIRequestContext> {
  const api = await request.newContext({ baseURL, extraHTTPHeaders: json });
  expect((await api.post('/login', { form: admin })).status()).toBe(200);
  return api;
}

// A product of the test's own, in its own category so other specs never see it.
async function newProduct(api: APIRequestContext, name: string, price: number, stock: number): Promise<number> {
  const run = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  const r = await api.post('/admin/products', {
    form: {
      sku: `E2E-CHECKOUT-${run}`, name: `${name} ${run}`, brand: 'Checkout Works', category: `E2E Checkout ${run}`,
      description: 'A product for the checkout spec.', price: String(price), stock: String(stock),
    },
  });
  expect(r.status(), await r.text()).toBe(201);
  return (await r.json()).id;
}

// An open fixed-discount campaign.
async function newCampaign(api: APIRequestContext, name: string, off: number, minOrder: number): Promise<number> {
  const now = Date.now();
  const c = await api.post('/admin/campaigns', {
    form: {
      name, discount_type: 'fixed', discount_value: String(off), min_order_amount: String(minOrder), total_quantity: '50',
      starts_at: new Date(now - 60_000).toISOString(), ends_at: new Date(now + 3_600_000).toISOString(), valid_days: '7',
    },
  });
  expect(c.status(), await c.text()).toBe(201);
  const { id } = await c.json();
  expect((await api.post(`/admin/campaigns/${id}/activate`)).status()).toBe(200);
  return id;
}

// A new shopper with a balance, signed in on the page.
async function newShopper(page: Page, balance: number) {
  await signUp(page, 'checkout', 'Careful Buyer');
  await addAddress(page);
  const r = await page.request.post('/account/topup', { form: { amount: String(balance) }, headers: json });
  expect(r.status(), await r.text()).toBe(200);
}

async function setLine(page: Page, product: number, quantity: number) {
  const r = await page.request.post('/cart/items', { form: { product_id: String(product), quantity: String(quantity) }, headers: json });
  expect(r.status(), await r.text()).toBe(200);
}

// A full-page screenshot kept with the test's results. The caret stays as it
// is: hiding it injects a style, which the shop's CSP refuses (a console error).
async function keepScreenshot(page: Page, testInfo: TestInfo, name: string) {
  await page.screenshot({ path: testInfo.outputPath(`${name}.png`), fullPage: true, caret: 'initial' });
}

const summary = (page: Page, id: string) => page.getByTestId('checkout-summary').getByTestId(id);

test('the price before paying follows the coupon and points, and is what the order charges', async ({ page, baseURL }, testInfo) => {
  test.slow();
  const con = watchConsole(page);
  const api = await asAdmin(baseURL!);
  const product = await newProduct(api, 'Teapot', 10_000, 20);
  const small = `E2E ₩3,000 off ${Date.now()}`;
  const big = `E2E ₩5,000 off big orders ${Date.now()}`;
  const smallID = await newCampaign(api, small, 3000, 0);
  const bigID = await newCampaign(api, big, 5000, 30_000);
  await api.dispose();

  await newShopper(page, 100_000);
  for (const id of [smallID, bigID]) {
    const r = await page.request.post(`/coupons/${id}/claim`, { headers: json });
    expect(r.status(), await r.text()).toBe(200);
  }
  // A first order earns 100 points to spend.
  await setLine(page, product, 1);
  const first = await page.request.post('/checkout', { form: { idempotency_key: `first-${Date.now()}` }, headers: json });
  expect(first.status(), await first.text()).toBe(201);

  await setLine(page, product, 2);
  await page.goto('/cart');
  // Rendered with the page, for no coupon and no points.
  await expect(summary(page, 'charged')).toHaveText('₩20,000');
  await expect(summary(page, 'points-earned')).toHaveText('200');
  await expect(summary(page, 'balance-after')).toHaveText('₩70,000');

  // The coupon below its minimum is offered disabled, with the reason.
  const coupon = page.getByLabel('Coupon');
  await expect(coupon.getByRole('option', { name: `${big} — needs an order of ₩30,000` })).toBeDisabled();
  const offer = coupon.getByRole('option', { name: new RegExp(`^${small} — saves ₩3,000`) });
  await expect(offer).toBeEnabled();

  await coupon.selectOption({ label: (await offer.textContent())!.trim() });
  await expect(summary(page, 'discount')).toHaveText('−₩3,000');
  await expect(summary(page, 'charged')).toHaveText('₩17,000');
  await expect(summary(page, 'points-earned')).toHaveText('170');

  await page.getByLabel(/^Points to use/).fill('100');
  await expect(summary(page, 'points-used')).toHaveText('−₩100');
  await expect(summary(page, 'charged')).toHaveText('₩16,900');
  await expect(summary(page, 'balance-after')).toHaveText('₩73,100');

  // More points than held: said in the summary, the controls stay.
  await page.getByLabel(/^Points to use/).fill('101');
  await expect(page.getByTestId('summary-message')).toHaveText('You have 100 points; you cannot spend more.');
  await expect(page.getByLabel(/^Points to use/)).toBeVisible();
  await page.getByLabel(/^Points to use/).fill('100');
  await expect(summary(page, 'charged')).toHaveText('₩16,900');

  await keepScreenshot(page, testInfo, 'checkout-1280');
  await page.setViewportSize({ width: 360, height: 800 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
  await keepScreenshot(page, testInfo, 'checkout-360');
  await page.setViewportSize({ width: 1280, height: 800 });

  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page.getByText(/Your order #\d+ is placed/)).toBeVisible();
  await expect(page.getByTestId('order-discount')).toHaveText('₩3,000');
  await expect(page.getByTestId('order-charged')).toHaveText('₩16,900');

  // The orders list and the order page fit a phone too.
  await page.setViewportSize({ width: 360, height: 800 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
  await keepScreenshot(page, testInfo, 'order-360');
  await page.goto('/orders');
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
  await keepScreenshot(page, testInfo, 'orders-360');
  // The refused points are a 422 answer, which Chromium reports on the console; nothing else may be.
  expect(con.problems.filter((p) => !/status of 422/.test(p))).toEqual([]);
});

test('a typed quantity is what "Place order" orders, and a stock limit is stated beside the line', async ({ page, baseURL }, testInfo) => {
  const con = watchConsole(page);
  const api = await asAdmin(baseURL!);
  const mug = await newProduct(api, 'Mug', 1_000, 10);
  const lamp = await newProduct(api, 'Lamp', 2_000, 2);
  await api.dispose();
  await newShopper(page, 100_000);

  // Typed 3, then straight to "Place order": the order has 3.
  await setLine(page, mug, 1);
  await page.goto('/cart');
  const mugQty = page.getByLabel(/^Quantity of Mug/);
  await mugQty.fill('3');
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page.getByText(/Your order #\d+ is placed/)).toBeVisible();
  const placed = await (await page.request.get(page.url(), { headers: json })).json();
  expect(placed.items.map((i: { quantity: number }) => i.quantity)).toEqual([3]);
  expect(placed.charged).toBe(3000);

  // More than the stock left: the limit beside the line, focused; the cart stays.
  await setLine(page, lamp, 1);
  await page.goto('/cart');
  const lampQty = page.getByLabel(/^Quantity of Lamp/);
  await lampQty.fill('5');
  await lampQty.press('Tab');
  const limit = page.getByText(/^Only 2 left of Lamp .*\. Choose 2 or fewer\. Your cart still has 1\.$/);
  await expect(limit).toBeVisible();
  await expect(limit).toBeFocused();
  await expect(page.getByTestId('subtotal')).toHaveText('₩2,000');
  await expect(page.getByRole('button', { name: 'Place order' })).toBeVisible();
  await keepScreenshot(page, testInfo, 'cart-limit-1280');

  // Ordering now would not order the 5 on the page: refused, saying why.
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page.getByRole('alert')).toContainText('Your cart has 1 × Lamp');
  await expect(page.getByRole('alert')).toBeFocused();
  await expect(lampQty).toHaveValue('1');
  const orders = await (await page.request.get('/orders', { headers: json })).json();
  expect(orders.orders).toHaveLength(1);

  await page.setViewportSize({ width: 360, height: 800 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
  await keepScreenshot(page, testInfo, 'cart-360');
  await page.setViewportSize({ width: 1280, height: 800 });

  // A quantity changed in another tab is not charged silently either.
  await setLine(page, lamp, 2);
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page.getByRole('alert')).toContainText('Your cart has 2 × Lamp');
  await expect(page.getByTestId('subtotal')).toHaveText('₩4,000');
  await expect(page.getByTestId('checkout-summary').getByTestId('charged')).toHaveText('₩4,000');
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page.getByText(/Your order #\d+ is placed/)).toBeVisible();
  await expect(page.getByTestId('order-charged')).toHaveText('₩4,000');
  // The refusals are 4xx answers, which Chromium reports on the console; nothing else may be.
  expect(con.problems.filter((p) => !/status of 409/.test(p))).toEqual([]);
});
