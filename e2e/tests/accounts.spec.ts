import { expect, test } from '@playwright/test';
import { admin, keepScreenshot, logIn, logOut, shopper, uniqueEmail, watchConsole } from './helpers';

test('a new shopper signs up, logs out and logs in again', async ({ page }, testInfo) => {
  const con = watchConsole(page);
  const email = uniqueEmail('signup');
  await page.goto('/signup');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Name').fill('Min-ji Kim');
  await page.getByLabel(/^Password/).fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByText('Welcome to Opener Market, Min-ji Kim!')).toBeVisible();
  await keepScreenshot(page, testInfo, 'after-signup');

  await logOut(page);
  await logIn(page, { email, password: 'correct horse battery' });
  await page.getByRole('link', { name: 'Min-ji Kim' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Your account' })).toBeVisible();
  await expect(page.getByTestId('balance')).toHaveText('₩0');
  await keepScreenshot(page, testInfo, 'account');
  con.check();
});

test('signup with bad input shows the message under the field', async ({ page }) => {
  await page.goto('/signup');
  await page.getByLabel('Email').fill('not-an-email');
  await page.getByLabel('Name').fill('<script>alert(1)</script>');
  await page.getByLabel(/^Password/).fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByText('Enter a valid email address')).toBeVisible();
  await expect(page.getByText('Choose a password of at least 8 characters.')).toBeVisible();
  // The name comes back as typed, as text, never as markup.
  await expect(page.getByLabel('Name')).toHaveValue('<script>alert(1)</script>');
});

test('a wrong password is refused with a readable message', async ({ page }) => {
  await page.goto('/login');
  await page.getByLabel('Email').fill(shopper.email);
  await page.getByLabel('Password').fill('wrong-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toHaveText('The email or password is not right.');
});

test('an admin reaches the admin area; a shopper does not', async ({ page }, testInfo) => {
  const con = watchConsole(page);
  await logIn(page, admin);
  await expect(page).toHaveURL(/\/admin$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'Admin' })).toBeVisible();
  await keepScreenshot(page, testInfo, 'admin-dashboard');
  await logOut(page);

  await logIn(page, shopper);
  await expect(page.getByRole('link', { name: 'Admin' })).toHaveCount(0);
  con.check();
  const res = await page.goto('/admin');
  expect(res?.status()).toBe(403);
  await expect(page.getByRole('heading', { level: 1, name: 'Not allowed' })).toBeVisible();
});

test('an anonymous visitor is sent to log in and comes back', async ({ page }) => {
  await page.goto('/account');
  await expect(page).toHaveURL(/\/login\?next=%2Faccount$/);
  await page.getByLabel('Email').fill(shopper.email);
  await page.getByLabel('Password').fill(shopper.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(/\/account$/);
});
