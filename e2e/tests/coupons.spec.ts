import { Browser, expect, Page, test } from '@playwright/test';
import { admin, logIn, uniqueEmail } from './helpers';

// A datetime-local value in the shop's zone (SHOP_TIMEZONE, Asia/Seoul by
// default), which the form names and the server reads it in.
function local(d: Date): string {
  const f = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Seoul', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  return f.format(d).replace(' ', 'T');
}

async function newShopper(browser: Browser): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto('/signup');
  await page.getByLabel('Email').fill(uniqueEmail('claimer'));
  await page.getByLabel('Name').fill('Claimer');
  await page.getByLabel('Password (8 characters or more)').fill('password123');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('button', { name: 'Log out' })).toBeVisible();
  return page;
}

test('two shoppers race for the last coupon: exactly one wins', async ({ page, browser }) => {
  const name = `Last one ${Date.now()}`;
  await logIn(page, admin);
  await page.goto('/admin/campaigns');
  await page.getByText('New campaign', { exact: true }).first().click();
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Discount (won, or percent)').fill('2000');
  await page.getByLabel('Total quantity').fill('1');
  await page.getByLabel('Claims start').fill(local(new Date(Date.now() - 60_000)));
  await page.getByLabel('Claims end').fill(local(new Date(Date.now() + 3_600_000)));
  await page.getByRole('button', { name: 'Create campaign' }).click();
  await expect(page.getByRole('heading', { level: 1, name })).toBeVisible();
  await page.getByRole('button', { name: 'Activate campaign' }).click();
  await expect(page.getByText('Active', { exact: true })).toBeVisible();

  const [a, b] = await Promise.all([newShopper(browser), newShopper(browser)]);
  for (const p of [a, b]) {
    await p.goto('/coupons');
    await expect(p.getByRole('article', { name }).getByTestId('remaining')).toHaveText('1 left');
  }
  await Promise.all([a, b].map((p) => p.getByRole('article', { name }).getByRole('button', { name: 'Claim coupon' }).click()));

  const won = 'You got it! The coupon is in your account.';
  const lost = 'Sorry, this coupon just sold out.';
  const outcome = async (p: Page) => {
    const area = p.getByRole('article', { name }).getByTestId('claim-message');
    await expect(area).toHaveText(new RegExp(`${won}|${lost}`));
    return (await area.textContent())?.trim();
  };
  const results = [await outcome(a), await outcome(b)];
  expect([...results].sort()).toEqual([won, lost].sort());
  const winner = results[0] === won ? a : b;
  // The remaining count updated in place, without a reload.
  await expect(winner.getByRole('article', { name }).getByTestId('remaining')).toHaveText('0 left');

  await winner.goto('/account');
  await expect(winner.getByTestId('my-coupons').getByRole('row', { name: new RegExp(name) })).toContainText('Ready to use');
});

test('an anonymous shopper is sent to log in and comes back to the coupons', async ({ page }) => {
  await page.goto('/coupons');
  await expect(page.getByRole('heading', { level: 1, name: 'Coupons' })).toBeVisible();
  const login = page.getByRole('link', { name: 'Log in to claim' }).first();
  await login.click();
  await expect(page).toHaveURL(/\/login\?next=%2Fcoupons|\/login\?next=\/coupons/);
});
