import { expect, test } from '@playwright/test';
import { admin, keepScreenshot, logIn, shopper, watchConsole } from './helpers';

// Every page renders with one h1, no console errors (the CSP would report
// inline code here), and a screenshot kept as an artifact.
const publicPages = ['/', '/login', '/signup', '/no-such-page'];
const shopperPages = ['/account', '/cart', '/orders'];
const adminPages = ['/admin', '/admin/consistency'];

async function visitAll(page, testInfo, paths: string[]) {
  for (const path of paths) {
    await page.goto(path);
    await expect(page.locator('h1')).toHaveCount(1);
    await keepScreenshot(page, testInfo, path === '/' ? 'home' : path.slice(1).replaceAll('/', '-'));
  }
}

test('public pages render cleanly', async ({ page }, testInfo) => {
  const con = watchConsole(page);
  await visitAll(page, testInfo, publicPages);
  // The 404 page's status is the only console error a browser reports here.
  con.problems.splice(0, con.problems.length, ...con.problems.filter((p) => !p.includes('404')));
  con.check();
});

test('shopper pages render cleanly', async ({ page }, testInfo) => {
  const con = watchConsole(page);
  await logIn(page, shopper);
  await visitAll(page, testInfo, shopperPages);
  con.check();
});

test('admin pages render cleanly', async ({ page }, testInfo) => {
  const con = watchConsole(page);
  await logIn(page, admin);
  await visitAll(page, testInfo, adminPages);
  con.check();
});
