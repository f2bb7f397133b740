import { expect, Page, test } from '@playwright/test';
import { admin, keepScreenshot, logIn, logOut, watchConsole } from './helpers';

// The demo seed spreads 120 products over a dozen categories, which is less
// than one page per category; so the test gives itself a category of its own
// with more than a page of products in the price range (a fresh name per run,
// so the suite can run again on the same database).
const inRange = 24; // prices 12,000 … 35,000 won
const low = 12_000;
const high = 40_000;

async function createProducts(page: Page, category: string, run: string) {
  await logIn(page, admin);
  const prices = [500, 99_000]; // outside the range: the price filter must drop them
  for (let i = 0; i < inRange; i++) prices.push(low + i * 1000);
  for (const [i, price] of prices.entries()) {
    const res = await page.request.post('/admin/products', {
      headers: { Accept: 'application/json' },
      form: {
        sku: `E2E-${run}-${i}`, name: `Test Lamp ${run} no. ${i}`, brand: 'Lumen Works', category,
        description: 'A lamp made for the search test.', price: String(price), stock: String(i % 3),
      },
    });
    expect(res.status(), await res.text()).toBe(201);
  }
  await logOut(page);
}

function wonValue(text: string): number {
  return Number(text.replace(/[^0-9]/g, ''));
}

// The names and prices of the result cards on screen.
async function cards(page: Page) {
  const articles = page.getByRole('article');
  const names = await articles.getByRole('heading').allInnerTexts();
  const prices = (await articles.getByText(/^₩[\d,]+$/).allInnerTexts()).map(wonValue);
  return { names, prices };
}

test('a shopper filters by category and price in place, pages forward and opens a product', async ({ page }, testInfo) => {
  // 26 products created through the admin route first: more than the suite's
  // default 30 s on a busy machine.
  test.setTimeout(90_000);
  const con = watchConsole(page);
  const run = `${Date.now()}${Math.floor(Math.random() * 1000)}`;
  const category = `E2E Lamps ${run}`;
  await createProducts(page, category, run);

  await page.goto('/products');
  await expect(page.getByRole('heading', { level: 1, name: 'Products' })).toBeVisible();
  // A full page load would make a new window object and lose this marker.
  await page.evaluate(() => { (window as any).searchMarker = 'no reload'; });
  const marker = () => page.evaluate(() => (window as any).searchMarker);

  // Choosing a category updates the results at once (a change on the form).
  await page.getByLabel('Category').selectOption({ label: category });
  await expect(page).toHaveURL(/[?&]category=/);
  await expect(page.getByTestId('result-count')).toHaveText(`${inRange + 2} products`);
  expect(await marker()).toBe('no reload');

  // Then a price range, applied with the button.
  await page.getByLabel('Lowest price (₩)').fill(String(low));
  await page.getByLabel('Highest price (₩)').fill(String(high));
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await expect(page).toHaveURL(new RegExp(`min_price=${low}`));
  await expect(page).toHaveURL(new RegExp(`max_price=${high}`));
  await expect(page.getByTestId('result-count')).toHaveText(`${inRange} products`);
  expect(await marker()).toBe('no reload');

  // The header's search box follows the page's own keyword box.
  await page.getByLabel('Keyword').pressSequentially('Lamp');
  await expect(page).toHaveURL(/[?&]q=Lamp/);
  await expect(page.getByRole('searchbox', { name: 'Search products' })).toHaveValue('Lamp');
  await expect(page.getByTestId('result-count')).toHaveText(`${inRange} products`);

  const first = await cards(page);
  expect(first.names).toHaveLength(20);
  for (const n of first.names) expect(n).toContain(`Test Lamp ${run}`);
  for (const p of first.prices) {
    expect(p).toBeGreaterThanOrEqual(low);
    expect(p).toBeLessThanOrEqual(high);
  }
  await keepScreenshot(page, testInfo, 'search-filtered');

  // Page forward, straight from the keyword box (its blur must not search
  // again over the page): the rest, none repeated, still without a reload.
  await page.getByRole('link', { name: 'Next page' }).click();
  await expect(page).toHaveURL(/[?&]after=/);
  await expect(page.getByRole('article')).toHaveCount(inRange - 20);
  expect(await marker()).toBe('no reload');
  await expect(page.getByRole('link', { name: 'Next page' })).toHaveCount(0);
  const second = await cards(page);
  for (const n of second.names) expect(first.names).not.toContain(n);
  expect(new Set([...first.names, ...second.names]).size).toBe(inRange);
  // The count is the one live region; the list is not live.
  await expect(page.getByRole('status').filter({ hasText: 'products' })).toHaveText(`${inRange} products, page 2`);
  await expect(page.locator('#results')).not.toHaveAttribute('aria-live', /.*/);
  // The top of the results is in view after paging.
  await expect(page.getByTestId('result-count')).toBeInViewport();
  // The URL is a shareable link: loaded on its own it shows the same page.
  const url = page.url();

  // Previous goes back one page, still keyset (no offset in the link).
  await page.getByRole('link', { name: 'Previous page' }).click();
  await expect(page).not.toHaveURL(/[?&]after=/);
  await expect(page.getByRole('article')).toHaveCount(20);
  expect((await cards(page)).names).toEqual(first.names);
  await expect(page.getByRole('link', { name: 'Previous page' })).toHaveCount(0);
  expect(await marker()).toBe('no reload');

  // Back (an htmx history restore) brings the controls back with the
  // results: another order, then Back to the filtered page as it was.
  await page.getByLabel('Sort by').selectOption({ label: 'Price: high to low' });
  await expect(page).toHaveURL(/sort=price_desc/);
  await page.goBack();
  await expect(page).not.toHaveURL(/sort=price_desc/);
  await expect(page.getByLabel('Sort by')).not.toHaveValue('price_desc');
  await expect(page.getByLabel('Category')).toHaveValue(/^e2e-lamps-/);
  await expect(page.getByLabel('Lowest price (₩)')).toHaveValue(String(low));
  await expect(page.getByLabel('Highest price (₩)')).toHaveValue(String(high));
  expect(await marker()).toBe('no reload');

  // Open a product from the second page, loaded from its link.
  await page.goto(url);
  await expect(page.getByLabel('Category')).toHaveValue(/^e2e-lamps-/);
  const pick = second.names[0];
  await page.getByRole('link', { name: pick, exact: true }).click();
  await expect(page).toHaveURL(/\/products\/\d+$/);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(pick);
  await expect(page.getByText('Lumen Works')).toBeVisible();
  await expect(page.getByText(/^₩\d{2},\d{3}$/)).toBeVisible();

  await page.goto(url);
  expect((await cards(page)).names).toEqual(second.names);
  con.check();
});

test('a filter the shop refuses shows its message beside the form and keeps the results', async ({ page }) => {
  const con = watchConsole(page);
  await page.goto('/products');
  const before = await page.getByRole('article').count();
  expect(before).toBeGreaterThan(0);
  await page.getByLabel('Lowest price (₩)').fill('9000');
  await page.getByLabel('Highest price (₩)').fill('100');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  const message = page.getByRole('search', { name: 'Filter products' }).getByRole('alert');
  await expect(message).toHaveText('The highest price must not be below the lowest.');
  await expect(message).toBeFocused();
  await expect(page.getByRole('article')).toHaveCount(before);
  await expect(page.getByRole('button', { name: 'Apply filters' })).toBeEnabled();
  // Put right, the message goes and the results follow the filter.
  await page.getByLabel('Highest price (₩)').fill('900000');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await expect(page).toHaveURL(/max_price=900000/);
  await expect(message).toHaveCount(0);
  // The browser logs the 422 itself; nothing else may go wrong.
  expect(con.problems.filter((p) => !p.includes('status of 422'))).toEqual([]);
});
