import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { admin, logIn, watchConsole } from './helpers';

// The test Redis the server under test uses (REDIS_URL of the test profile).
function redisCli(...args: string[]): string {
  const u = new URL(process.env.REDIS_URL ?? `redis://127.0.0.1:${process.env.MARKET_TEST_REDIS_PORT ?? '56389'}/0`);
  const db = u.pathname.replace('/', '') || '0';
  return execFileSync('redis-cli', ['-h', u.hostname, '-p', u.port || '6379', '-n', db, ...args]).toString().trim();
}

test('an admin runs the report green, sees a bumped Redis counter red on its campaign, repairs it and sees green', async ({ page }) => {
  test.setTimeout(90_000); // three report runs on a shared, loaded machine
  const console = watchConsole(page);
  await logIn(page, admin);

  // An active campaign (the seed has one; earlier specs may have added more).
  const res = await page.request.get('/admin/campaigns', { headers: { Accept: 'application/json' } });
  expect(res.ok()).toBeTruthy();
  const { campaigns } = await res.json();
  const campaign = campaigns.find((c: { state: string }) => c.state === 'active');
  expect(campaign, 'an active campaign').toBeTruthy();

  await page.goto('/admin/consistency');
  await page.getByRole('button', { name: 'Run report now' }).click();
  await expect(page.getByTestId('report-verdict')).toContainText('checks agree');

  // Behind the app's back: the campaign's stock counter in Redis grows by 3.
  const key = `coupon:{${campaign.id}}:stock`;
  const before = Number(redisCli('GET', key));
  redisCli('INCRBY', key, '3');

  await page.getByRole('button', { name: 'Run report now' }).click();
  await expect(page.getByTestId('report-verdict')).toContainText('checks disagree');
  const row = page.getByRole('row')
    .filter({ hasText: 'Redis claimed + Redis remaining = total' })
    .filter({ hasText: `campaign ${campaign.id} (` });
  await expect(row).toContainText('✗ differs');

  await row.getByRole('button', { name: 'Repair…' }).click();
  await page.getByRole('dialog', { name: `Rebuild campaign ${campaign.id} in Redis?` }).getByRole('button', { name: 'Rebuild' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Repair #' })).toContainText(`rebuilt campaign ${campaign.id}`);
  await expect(page.getByTestId('report-verdict')).toContainText('checks agree');
  expect(Number(redisCli('GET', key))).toBe(before);

  // The repair is in the history with who ran it.
  await page.reload();
  await expect(page.getByRole('cell', { name: /Repair #\d+ by admin #\d+/ }).first()).toBeVisible();
  console.check();
});
