import { Browser, expect, Page, test } from '@playwright/test';
import { addAddress, admin, keepScreenshot, logIn, signUp, watchConsole } from './helpers';

const json = { Accept: 'application/json' };

async function balance(page: Page): Promise<number> {
  return (await (await page.request.get('/account', { headers: json })).json()).balance;
}

// A shopper with an address and money buys two units of a product.
async function placeOrder(page: Page): Promise<{ id: number; product: number; price: number }> {
  await signUp(page, 'timeline', 'Timeline Buyer');
  await addAddress(page);
  expect((await page.request.post('/account/topup', { form: { amount: '500000' }, headers: json })).status()).toBe(200);
  const found = await (await page.request.get('/products?in_stock=1&min_price=5000&max_price=80000&sort=price_asc', { headers: json })).json();
  const p = found.items.find((i: { stock: number }) => i.stock >= 5);
  expect(p).toBeTruthy();
  expect((await page.request.post('/cart/items', { form: { product_id: String(p.id), quantity: '2' }, headers: json })).status()).toBe(200);
  const r = await page.request.post('/checkout', { form: { idempotency_key: `timeline-${Date.now()}` }, headers: json });
  expect(r.status(), await r.text()).toBe(201);
  return { id: (await r.json()).id, product: p.id, price: p.price };
}

async function adminPage(browser: Browser): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await logIn(page, admin);
  return page;
}

test('an admin ships an order, the shopper sees the timeline, and a refund of one unit moves the balance by exactly its amount', async ({ page, browser }, testInfo) => {
  test.slow();
  const con = watchConsole(page);
  const o = await placeOrder(page);
  const staff = await adminPage(browser);

  await staff.goto(`/admin/orders/${o.id}`);
  await staff.getByRole('button', { name: 'Mark preparing' }).click();
  await expect(staff.getByTestId('timeline')).toContainText('Preparing');
  await staff.getByLabel('Carrier').fill('CJ Logistics');
  await staff.getByLabel('Tracking number').fill('6123-4567-8901');
  await staff.getByRole('button', { name: 'Mark shipped' }).click();
  await expect(staff.getByTestId('timeline')).toContainText('CJ Logistics 6123-4567-8901');

  // The shopper sees each step and can no longer cancel.
  await page.goto(`/orders/${o.id}`);
  const timeline = page.getByTestId('timeline');
  await expect(timeline).toContainText('Placed');
  await expect(timeline).toContainText('Preparing');
  await expect(timeline).toContainText('Shipped');
  await expect(page.getByTestId('ship-to')).toContainText('06236');
  await expect(page.getByRole('button', { name: 'Cancel order' })).toHaveCount(0);
  await keepScreenshot(page, testInfo, 'order-timeline');

  // One unit of the line refunded: the balance moves by what the order says it gave back.
  const before = await balance(page);
  // A refund is asked for in a dialog that says what will happen.
  await staff.getByRole('button', { name: 'Refund…' }).click();
  const ask = staff.getByRole('dialog', { name: `Refund part of order #${o.id}?` });
  await ask.getByLabel('Units').fill('1');
  await ask.getByLabel('Reason for the refund').fill('Arrived dented');
  await ask.getByRole('button', { name: 'Refund', exact: true }).click();
  await expect(staff.getByText(/Refunded ₩/)).toBeVisible();
  const after = await (await page.request.get(`/orders/${o.id}`, { headers: json })).json();
  expect(after.refunded).toBe(o.price); // no coupon, no points: one unit's price
  expect(await balance(page)).toBe(before + after.refunded);
  await page.reload();
  await expect(page.getByTestId('timeline')).toContainText('Arrived dented');
  await expect(page.getByTestId('order-refunded')).toHaveText(`₩${o.price.toLocaleString('en-US')}`);
  await keepScreenshot(page, testInfo, 'order-refunded');
  con.check();
});
