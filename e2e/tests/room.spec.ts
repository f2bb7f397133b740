import AxeBuilder from '@axe-core/playwright';
import { expect, Page, test } from '@playwright/test';
import { keepScreenshot, openCampaign, signUp, watchConsole } from './helpers';

// The second instance of playwright.config.ts: its waiting room admits one
// claim per campaign every 5 s (ROOM_ADMIT_PER_SECOND=0.2, ROOM_BURST=1).
const roomURL = `http://127.0.0.1:${Number(process.env.E2E_PORT ?? '18080') + 2}`;

// The waiting panel passes axe (no serious or critical violation) and adds
// no live region inside another.
async function checkA11y(page: Page) {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help}`);
  expect(bad).toEqual([]);
  const nested = await page.evaluate(() => {
    const live = '[aria-live]:not([aria-live="off"]), [role="status"], [role="alert"], [role="log"]';
    return [...document.querySelectorAll(live)].filter((e) => e.parentElement?.closest(live)).length;
  });
  expect(nested).toBe(0);
}

test('past the admission rate, shoppers wait their turn in line and then claim', async ({ browser }, testInfo) => {
  const name = `Crowded sale ${Date.now()}`;
  const id = await openCampaign(roomURL, name, 2500, 50);

  const first = await (await browser.newContext({ baseURL: roomURL })).newPage();
  const desk = await (await browser.newContext({ baseURL: roomURL, viewport: { width: 1280, height: 900 } })).newPage();
  const phone = await (await browser.newContext({ baseURL: roomURL, viewport: { width: 360, height: 800 }, isMobile: true, hasTouch: true })).newPage();
  const consoles = [watchConsole(desk), watchConsole(phone)];
  await signUp(first, 'room-first', 'First');
  await signUp(desk, 'room-desk', 'Desk');
  await signUp(phone, 'room-phone', 'Phone');
  await desk.goto('/coupons');
  await phone.goto('/coupons');

  // The first arrival is within the rate: the room is skipped. The next
  // two, within 5 s of it, are past the rate.
  const r = await first.request.post(`/coupons/${id}/claim`, { headers: { Accept: 'application/json' } });
  expect(r.status(), await r.text()).toBe(200);

  // Each presses Claim past the rate: the card's claim area becomes the
  // waiting panel, with the place in line and the wait.
  for (const [page, place] of [[desk, /You are next in line\. About (a second|\d+ seconds) to wait\./], [phone, /You are number 2 in line\. About \d+ seconds to wait\./]] as const) {
    const card = page.getByRole('article', { name });
    await card.getByRole('button', { name: 'Claim coupon' }).click();
    await expect(card.getByTestId('waiting-room')).toBeVisible();
    await expect(card.getByRole('status')).toHaveText(place);
    await expect(card.getByRole('button', { name: 'Claim coupon' })).toHaveCount(0);
  }
  await keepScreenshot(desk, testInfo, 'waiting-room-1280');
  await checkA11y(desk);
  await keepScreenshot(phone, testInfo, 'waiting-room-360');

  // The place counts down live, and at the turn the Claim button comes back.
  for (const page of [desk, phone]) {
    const card = page.getByRole('article', { name });
    await expect(card.getByTestId('room-admitted')).toBeVisible({ timeout: 20_000 });
    await card.getByRole('button', { name: 'Claim coupon' }).click();
    await expect(card.getByTestId('claim-message')).toHaveText('You got it! The coupon is in your account.');
  }
  await keepScreenshot(phone, testInfo, 'waiting-room-admitted-360');
  // The browser logs the claim's 429 waiting_room answer as a failed load;
  // that answer is the waiting room working. Anything else is a problem.
  for (const c of consoles) {
    expect(c.problems.filter((p) => !p.includes('status of 429'))).toEqual([]);
  }
});

test('without JavaScript a shopper waits on the waiting room page', async ({ browser }) => {
  const name = `Crowded sale, no script ${Date.now()}`;
  const id = await openCampaign(roomURL, name, 1500, 50);
  const first = await (await browser.newContext({ baseURL: roomURL })).newPage();
  await signUp(first, 'room-first', 'First');
  const page = await (await browser.newContext({ baseURL: roomURL, javaScriptEnabled: false })).newPage();
  await page.goto('/signup');
  await page.getByLabel('Email').fill(`room-noscript-${Date.now()}@example.test`);
  await page.getByLabel('Name').fill('No Script');
  await page.getByLabel(/^Password/).fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.goto('/coupons');
  expect((await first.request.post(`/coupons/${id}/claim`, { headers: { Accept: 'application/json' } })).status()).toBe(200);
  await page.getByRole('article', { name }).getByRole('button', { name: 'Claim coupon' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Waiting room' })).toBeVisible();
  await expect(page.getByRole('status')).toHaveText(/You are next in line/);
  await expect(async () => {
    await page.getByRole('link', { name: 'Check my place' }).click();
    await expect(page.getByRole('button', { name: 'Claim coupon' })).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 20_000 });
  await page.getByRole('button', { name: 'Claim coupon' }).click();
  await expect(page.getByText('You got it! The coupon is in your account.')).toBeVisible();
});
