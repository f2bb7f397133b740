import { defineConfig } from '@playwright/test';

// The suite drives Debian's Chromium (never a downloaded browser) against the
// real binary, started on a test port against the test PostgreSQL and Redis
// (tools/services.sh up test; `make test` does all of it).
const port = process.env.E2E_PORT ?? '18080';
const baseURL = `http://127.0.0.1:${port}`;
// The instance with a waiting room (room.spec.ts reads the same variable).
const roomPort = Number(port) + 2;
const roomURL = `http://127.0.0.1:${roomPort}`;

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  // Generous: these machines are shared and noisy; a slow run is not a failure of the shop.
  timeout: 90_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    },
  },
  // The phone project runs only the phone journey (phone.spec.ts), so the
  // suite's time grows by one spec, not by a second pass over everything.
  projects: [
    { name: 'desktop', testIgnore: /phone\.spec\.ts$/ },
    {
      name: 'phone',
      testMatch: /phone\.spec\.ts$/,
      use: { viewport: { width: 360, height: 800 }, isMobile: true, hasTouch: true },
    },
  ],
  webServer: [{
    command: '../bin/market seed -if-empty -products 120 && exec ../bin/market serve',
    url: `${baseURL}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'ignore',
    stderr: 'pipe',
    env: {
      ADDR: `127.0.0.1:${port}`,
      METRICS_ADDR: `127.0.0.1:${Number(port) + 1000}`,
      DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:55442/market_test?sslmode=disable',
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:56389/0',
      FLUSH_INTERVAL: '100ms',
      // The consistency spec puts drift into Redis behind the shop's back and
      // expects the report to show it; the background sync would mend it
      // within a second, before the report could run. The sync itself is
      // tested in internal/coupon (sync_test.go, history_test.go).
      COUPON_SYNC_INTERVAL: '10m',
      LOG_LEVEL: 'warn',
      // Every run signs up a dozen shoppers from 127.0.0.1, and a test
      // database is reused between runs: the default 20 an hour would refuse
      // the second run. The limiter has its own Go tests (internal/account).
      SIGNUP_LIMIT_PER_ADDR: '1000',
    },
  }, {
    // A second instance on the same database and Redis, with a waiting room
    // that admits one claim per campaign every 5 s: room.spec.ts waits in it.
    command: 'exec ../bin/market serve',
    url: `${roomURL}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'ignore',
    stderr: 'pipe',
    env: {
      ADDR: `127.0.0.1:${roomPort}`,
      METRICS_ADDR: `127.0.0.1:${roomPort + 1000}`,
      DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:55442/market_test?sslmode=disable',
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:56389/0',
      COUPON_SYNC_INTERVAL: '10m',
      CONSISTENCY_INTERVAL: '0',
      LOG_LEVEL: 'warn',
      SIGNUP_LIMIT_PER_ADDR: '1000',
      ROOM_ADMIT_PER_SECOND: '0.2',
      ROOM_BURST: '1',
    },
  }],
});
