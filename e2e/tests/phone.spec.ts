import AxeBuilder from '@axe-core/playwright';
import { APIRequestContext, expect, Page, request, test, TestInfo } from '@playwright/test';
import { addAddress, admin, logIn, openCampaign, signUp, uniqueEmail, watchConsole } from './helpers';

// The phone project (360×800, playwright.config.ts): the shopper's main
// journey and the admin dashboard, with a screenshot of every step kept as
// an attachment (saved under e2e/test-results).
const json = { Accept: 'application/json' };

async function shot(page: Page, testInfo: TestInfo, name: string) {
  // Nothing sticks out sideways on a phone: no page scrolls horizontally.
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect.soft(width, `${name} fits 360 px`).toBeLessThanOrEqual(360);
  // And the phone layout (folded filters, stacked rows) stays accessible.
  const bad = (await new AxeBuilder({ page }).analyze()).violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect.soft(bad.map((v) => `${v.id}: ${v.help}`), `${name} accessibility`).toEqual([]);
  const path = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path, fullPage: true, caret: 'initial' });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}

test('a shopper searches, buys with a coupon and an admin checks the dashboard, on a phone', async ({ page, baseURL }, testInfo) => {
  test.slow(); // a whole journey with a screenshot per step
  const con = watchConsole(page);
  const campaign = `Phone sale ${Date.now()}`;
  await openCampaign(baseURL!, campaign, 2000, 30);

  await signUp(page, 'phone', 'Pho');
  await addAddress(page);
  await page.goto('/account');
  await page.getByLabel(/^Amount in won/).fill('300000');
  await page.getByRole('button', { name: 'Top up' }).click();
  await expect(page.getByTestId('balance')).toHaveText('₩300,000');
  await shot(page, testInfo, '1-home-account');

  // Search: the filters fold behind "Filters", which counts the active ones.
  await page.goto('/');
  await shot(page, testInfo, '2-home');
  // A word the catalogue holds: the brand of a product in stock under ₩100,000.
  const found = await (await page.request.get('/products?in_stock=1&max_price=100000', { headers: json })).json();
  const word: string = found.items[0].brand.split(' ')[0];
  await page.getByRole('searchbox', { name: 'Search products' }).fill(word);
  await page.getByRole('searchbox', { name: 'Search products' }).press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Products' })).toBeVisible();
  const filters = page.getByRole('button', { name: /^Filters/ });
  await expect(filters).toHaveText('Filters');
  await expect(page.getByLabel('Category')).toBeHidden();
  await filters.click();
  await expect(filters).toHaveAttribute('aria-expanded', 'true');
  await page.getByLabel('In stock only').check();
  await page.getByLabel('Highest price (₩)').fill('100000');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await expect(page).toHaveURL(/max_price=100000/);
  await expect(filters).toHaveText('Filters (2)');
  await shot(page, testInfo, '3-search');

  // A product, added to the cart.
  await page.getByRole('article').first().getByRole('link').first().click();
  await expect(page).toHaveURL(/\/products\/\d+$/);
  await shot(page, testInfo, '4-product');
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'to your cart' })).toBeVisible();

  // A coupon claimed.
  await page.goto('/coupons');
  const card = page.getByRole('article', { name: campaign });
  await card.getByRole('button', { name: 'Claim coupon' }).click();
  await expect(card.getByText('You got it! The coupon is in your account.')).toBeVisible();
  await shot(page, testInfo, '5-coupons');

  // Checkout with the coupon.
  await page.goto('/cart');
  const offer = page.getByLabel('Coupon').getByRole('option', { name: new RegExp(campaign) });
  await page.getByLabel('Coupon').selectOption({ label: (await offer.textContent())!.trim() });
  await shot(page, testInfo, '6-cart');
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page.getByRole('heading', { level: 1, name: /Order #\d+/ })).toBeVisible();
  await shot(page, testInfo, '7-order');
  con.check();

  // The admin dashboard on a phone.
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await logIn(page, admin);
  await page.goto('/admin');
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Consistency' })).toBeInViewport();
  await shot(page, testInfo, '8-admin-dashboard');
});

test('a guest presses Add to cart, signs up from the login page and finds it in the cart', async ({ page }, testInfo) => {
  const con = watchConsole(page);
  const found = await (await page.request.get('/products?in_stock=1&sort=price_asc', { headers: json })).json();
  const product = found.items.find((p: { stock: number }) => p.stock >= 3);
  await page.goto(`/products/${product.id}`);
  await page.getByLabel('Quantity').fill('2');
  await page.getByRole('button', { name: 'Add to cart' }).click();

  // Sent to log in, told what will happen, with the way back kept by the sign-up link.
  await expect(page).toHaveURL(new RegExp(`/login\\?next=%2Fproducts%2F${product.id}$`));
  await expect(page.getByTestId('intent')).toContainText('we will put the product in your cart');
  await shot(page, testInfo, 'guest-login');
  await page.getByRole('link', { name: 'Create an account' }).click();
  await expect(page).toHaveURL(new RegExp(`/signup\\?next=%2Fproducts%2F${product.id}$`));
  await page.getByLabel('Email').fill(uniqueEmail('guest'));
  await page.getByLabel('Name').fill('Gus');
  await page.getByLabel(/^Password/).fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();

  // Back on the product, with the two in the cart.
  await expect(page).toHaveURL(new RegExp(`/products/${product.id}$`));
  await expect(page.getByText(`Added 2 × ${product.name} to your cart.`)).toBeVisible();
  await expect(page.getByTestId('cart-count')).toHaveText('2 items');
  await shot(page, testInfo, 'guest-added');
  // The header's "Log in" comes back to the page it was pressed on.
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await page.goto(`/products/${product.id}`);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Log in' }).click();
  await expect(page).toHaveURL(new RegExp(`/login\\?next=%2Fproducts%2F${product.id}$`));
  con.check();
});
