import { expect, Page, TestInfo } from '@playwright/test';

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
