import { APIRequestContext, expect, Page, request, test } from '@playwright/test';
import { addAddress, admin, keepScreenshot, openCampaign, signUp, watchConsole } from './helpers';

const json = { Accept: 'application/json' };

async function wallet(page: Page): Promise<{ balance: number; points: number; coupons: { campaign_id: number; status: string }[] }> {
  return (await page.request.get('/account', { headers: json })).json();
}

async function stock(page: Page, id: number): Promise<number> {
  return (await (await page.request.get(`/products/${id}`, { headers: json })).json()).stock;
}

// Adds through the product page's own form (HTMX: a note and the header badge update in place).
async function addToCart(page: Page, id: number) {
  await page.goto(`/products/${id}`);
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'to your cart' })).toBeVisible();
}

test('a shopper tops up, buys with a coupon and points, and cancels', async ({ page, baseURL }, testInfo) => {
  test.slow(); // a whole shopping trip: two orders, a claim, a cancel
  const con = watchConsole(page);
  const campaign = `E2E ₩5,000 off ${Date.now()}`;
  const campaignID = await openCampaign(baseURL!, campaign, 5000, 50);

  await signUp(page, 'buyer', 'Buyer');

  // Top up on the account page.
  await page.goto('/account');
  await page.getByLabel(/^Amount in won/).fill('300000');
  await page.getByRole('button', { name: 'Top up' }).click();
  await expect(page.getByTestId('balance')).toHaveText('₩300,000');
  await expect(page.getByRole('table', { name: 'Balance history' })).toContainText('+₩300,000');

  // Two affordable products with stock, found through the search API.
  const found = await (await page.request.get('/products?in_stock=1&min_price=10000&max_price=60000&sort=price_asc', { headers: json })).json();
  const [pa, pb] = found.items.filter((p: { stock: number }) => p.stock >= 10);
  expect(pa && pb).toBeTruthy();
  const [a, b] = [pa.id as number, pb.id as number];

  // A first order, placed with a double click: one order, and it earns points.
  await addToCart(page, a);
  await expect(page.getByTestId('cart-count')).toHaveText('1 item');
  await page.goto('/cart');
  // No address yet: the cart says so and its link comes back here.
  await expect(page.getByText('Add a delivery address to check out')).toBeVisible();
  await page.getByRole('link', { name: 'add an address' }).click();
  await page.getByLabel('Recipient').fill('Buyer');
  await page.getByLabel(/^Phone/).fill('010-9876-5432');
  await page.getByLabel(/^Postal code/).fill('04524');
  await page.getByLabel('Address', { exact: true }).fill('11 Sejong-daero, Jung-gu, Seoul');
  await page.getByRole('button', { name: 'Save address' }).click();
  await expect(page).toHaveURL(/\/cart$/);
  await expect(page.getByRole('group', { name: 'Deliver to' })).toContainText('11 Sejong-daero');
  await page.getByRole('button', { name: 'Place order' }).dblclick();
  await expect(page.getByRole('heading', { level: 1, name: /Order #\d+/ })).toBeVisible();
  const orders = await (await page.request.get('/orders', { headers: json })).json();
  expect(orders.orders).toHaveLength(1);
  const earned = (await wallet(page)).points;
  expect(earned).toBeGreaterThan(0);

  // Claim the coupon on the coupons page; it is usable at once (before the flusher runs).
  await page.goto('/coupons');
  await page.getByRole('article', { name: campaign }).getByRole('button', { name: 'Claim coupon' }).click();
  await expect(page.getByRole('article', { name: campaign }).getByTestId('claim-message')).toHaveText('You got it! The coupon is in your account.');

  // Two products; the badge follows an HTMX quantity change on the cart page.
  await addToCart(page, a);
  await addToCart(page, b);
  await page.goto('/cart');
  await expect(page.getByTestId('cart-count')).toHaveText('2 items');
  // By name: the cart lists lines by product id, which need not be a's first.
  await page.getByLabel(`Quantity of ${pa.name}`, { exact: true }).fill('2');
  await page.getByLabel(`Quantity of ${pa.name}`, { exact: true }).press('Tab'); // applies on change
  await expect(page.getByTestId('cart-count')).toHaveText('3 items');

  const before = await wallet(page);
  const stockBefore = [await stock(page, a), await stock(page, b)];
  const offer = page.getByLabel('Coupon').getByRole('option', { name: new RegExp(`${campaign} — saves ₩5,000`) });
  await expect(offer).toHaveCount(1);
  await page.getByLabel('Coupon').selectOption({ label: (await offer.textContent())!.trim() });
  await page.getByLabel(/^Points to use/).fill(String(earned));
  await keepScreenshot(page, testInfo, 'cart-checkout');
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page.getByText(/Your order #\d+ is placed/)).toBeVisible();
  await expect(page.getByTestId('order-discount')).toHaveText('₩5,000');
  await expect(page.getByTestId('order-points-used')).toHaveText(String(earned));
  await keepScreenshot(page, testInfo, 'order');
  expect(await stock(page, a)).toBe(stockBefore[0] - 2);
  const couponOf = async () => (await wallet(page)).coupons.find((c) => c.campaign_id === campaignID)?.status;
  expect(await couponOf()).toBe('used');

  // Cancel: balance, points, stock and the coupon come back.
  // Asked first, in the page: keeping the order changes nothing.
  await page.getByRole('button', { name: 'Cancel order…' }).click();
  const ask = page.getByRole('dialog', { name: /^Cancel order #\d+\?$/ });
  await expect(ask).toContainText('goes back to your balance');
  await ask.getByRole('button', { name: 'Keep the order' }).click();
  await expect(ask).toBeHidden();
  expect((await wallet(page)).balance).toBeLessThan(before.balance);
  await page.getByRole('button', { name: 'Cancel order…' }).click();
  await ask.getByRole('button', { name: 'Cancel the order' }).click();
  await expect(page.getByText(/is cancelled/)).toBeVisible();
  await expect(page.getByText('Cancelled', { exact: true }).first()).toBeVisible();
  expect(await wallet(page)).toMatchObject({ balance: before.balance, points: before.points });
  expect([await stock(page, a), await stock(page, b)]).toEqual(stockBefore);
  expect(await couponOf()).toBe('issued');
  await page.goto('/account');
  await expect(page.getByRole('table', { name: 'Points history' })).toContainText('Taken back');
  con.check();
});

test('a price changed while the cart was open is shown before the order is placed', async ({ page, baseURL }) => {
  const con = watchConsole(page);
  const run = `${Date.now()}${Math.floor(Math.random() * 1000)}`;
  // A product of the test's own (its own category, so other specs never see it), by an admin.
  const api: APIRequestContext = await request.newContext({ baseURL, extraHTTPHeaders: json });
  expect((await api.post('/login', { form: admin })).status()).toBe(200);
  const product = {
    sku: `E2E-PRICE-${run}`, name: `Kettle ${run}`, brand: 'Kettle Works', category: `E2E Kettles ${run}`,
    description: 'A kettle whose price moves.', price: '1000', stock: '10',
  };
  const created = await api.post('/admin/products', { form: product });
  expect(created.status(), await created.text()).toBe(201);
  const { id } = await created.json();

  await signUp(page, 'price', 'Careful Buyer');
  await addAddress(page);
  await page.goto('/account');
  await page.getByLabel(/^Amount in won/).fill('100000');
  await page.getByRole('button', { name: 'Top up' }).click();
  await expect(page.getByTestId('balance')).toHaveText('₩100,000');

  // The cart shows 2 × ₩1,000 …
  await addToCart(page, id);
  await page.goto('/cart');
  await page.getByLabel(`Quantity of ${product.name}`).fill('2');
  await page.getByLabel(`Quantity of ${product.name}`).press('Tab'); // applies on change
  await expect(page.getByTestId('subtotal')).toHaveText('₩2,000');

  // … while the admin raises the price to ₩40,000.
  const saved = await api.post(`/admin/products/${id}`, { form: { ...product, price: '40000' } });
  expect(saved.status(), await saved.text()).toBe(200);
  await api.dispose();

  // The first try places nothing and shows the difference; the second agrees to it.
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page.getByRole('alert')).toHaveText(
    'The total changed since you opened the cart: you saw ₩2,000, it is now ₩80,000. Check the cart and place the order again.');
  await expect(page.getByTestId('subtotal')).toHaveText('₩80,000');
  expect((await wallet(page)).balance).toBe(100_000);
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page.getByText(/Your order #\d+ is placed/)).toBeVisible();
  await expect(page.getByTestId('order-charged')).toHaveText('₩80,000');
  expect((await wallet(page)).balance).toBe(20_000);
  // The refusal is a 409 page, which Chromium reports on the console; nothing else may be.
  expect(con.problems.filter((p) => !p.includes('status of 409'))).toEqual([]);
});
