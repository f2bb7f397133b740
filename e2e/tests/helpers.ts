import { APIRequestContext, expect, Page, request, TestInfo } from '@playwright/test';

export const admin = { email: 'admin@opener.market', password: 'admin-password' };
export const shopper = { email: 'shopper@opener.market', password: 'shopper-password' };

// A fresh address per run, so the suite can run again on the same database.
export function uniqueEmail(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.test`;
}

export async function logIn(page: Page, who: { email: string; password: string }) {
  await page.goto('/login');
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('button', { name: 'Log out' })).toBeVisible();
}

export async function logOut(page: Page) {
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page.getByRole('link', { name: 'Log in', exact: true })).toBeVisible();
}

// Collects console errors and uncaught exceptions; call check() at the end.
export function watchConsole(page: Page) {
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  return { problems, check: () => expect(problems, problems.join('\n')).toEqual([]) };
}

// Keeps a full-page screenshot as a test artifact under e2e/test-results/.
export async function keepScreenshot(page: Page, testInfo: TestInfo, name: string) {
  const path = testInfo.outputPath(`${name}.png`);
  // caret 'initial': Playwright's caret-hiding style, copied into an htmx history
  // snapshot, would be refused by the CSP when Back restores the page.
  await page.screenshot({ path, fullPage: true, caret: 'initial' });
}

// Gives the signed-in shopper of page a default delivery address (checkout
// needs one), through the JSON answer of POST /account/addresses.
export async function addAddress(page: Page) {
  const r = await page.request.post('/account/addresses', {
    form: { recipient: 'E2E Shopper', phone: '010-1234-5678', postal_code: '06236', line1: '152 Teheran-ro, Gangnam-gu', is_default: '1' },
    headers: { Accept: 'application/json' },
  });
  expect(r.status(), await r.text()).toBe(201);
}

// Signs a new shopper up on the page (a fresh email) and waits for the session.
export async function signUp(page: Page, prefix: string, name: string) {
  await page.goto('/signup');
  await page.getByLabel('Email').fill(uniqueEmail(prefix));
  await page.getByLabel('Name').fill(name);
  await page.getByLabel(/^Password/).fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('button', { name: 'Log out', exact: true })).toBeVisible();
}

// An admin opens a campaign of `total` fixed-discount coupons, open from a
// minute ago for an hour, through the JSON API; its id.
export async function openCampaign(baseURL: string, name: string, discount: number, total: number): Promise<number> {
  const api: APIRequestContext = await request.newContext({ baseURL, extraHTTPHeaders: { Accept: 'application/json' } });
  expect((await api.post('/login', { form: admin })).status()).toBe(200);
  const now = Date.now();
  const c = await api.post('/admin/campaigns', {
    form: {
      name, discount_type: 'fixed', discount_value: String(discount), min_order_amount: '0', total_quantity: String(total),
      starts_at: new Date(now - 60_000).toISOString(), ends_at: new Date(now + 3_600_000).toISOString(), valid_days: '7',
    },
  });
  expect(c.status(), await c.text()).toBe(201);
  const { id } = await c.json();
  expect((await api.post(`/admin/campaigns/${id}/activate`)).status()).toBe(200);
  await api.dispose();
  return id;
}
