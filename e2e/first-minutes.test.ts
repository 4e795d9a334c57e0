import { TachoClient } from '@tacho/client';
import type { NativeMessage } from '@tacho/protocol';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, noBrowser, screenshot } from './support/browser.js';
import { driveMessage, publish } from './support/device.js';
import { type RunningServer, startServer } from './support/server.js';
import { ensureWebBuilt } from './support/web-build.js';

/**
 * What a new user meets in the first ten minutes (issue 23): history axes that follow the chosen range,
 * stale data that says so, pages that fit a phone, first-start hints, the small things.
 */
const admin = { email: 'admin@example.org', password: 'correct horse battery staple' };
const VIN = 'WVWZZZ1JZXW000023';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Short, so a vehicle goes offline while the test watches. */
const OFFLINE_AFTER_S = 20;

describe.skipIf(noBrowser)('the dashboard in the first minutes', { timeout: 120_000 }, () => {
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let vehicleId = '';
  let deviceToken = '';

  /** A burst of driving: `count` messages 10 s apart, the last at `endMs`. */
  const burst = (count: number, endMs: number, firstStep = 0): NativeMessage[] =>
    Array.from({ length: count }, (_, i) => driveMessage(firstStep + i, endMs - (count - 1 - i) * 10_000));

  async function logIn(p: Page) {
    await p.goto('/login');
    await p.getByLabel('Email').fill(admin.email);
    await p.getByLabel('Password', { exact: true }).fill(admin.password);
    await p.getByRole('button', { name: 'Log in' }).click();
    await p.waitForURL(/\/vehicles$/);
  }

  beforeAll(async () => {
    await ensureWebBuilt();
    server = await startServer({
      TACHO_ADMIN_EMAIL: admin.email,
      TACHO_ADMIN_PASSWORD: admin.password,
      TACHO_OFFLINE_AFTER_S: String(OFFLINE_AFTER_S),
    });
    const api = new TachoClient({ baseUrl: server.url, mode: 'cookie', cookieJar: true });
    await api.auth.login(admin.email, admin.password);
    const vehicle = await api.vehicles.create({
      vin: VIN,
      name: 'Family car',
      make: 'Volkswagen',
      model: 'ID.3',
    });
    vehicleId = vehicle.id;
    deviceToken = (await api.vehicles.createToken(vehicle.id, 'device')).token;
    browser = await launchBrowser();
    context = await browser.newContext({ baseURL: server.url, viewport: { width: 1280, height: 860 } });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await logIn(page);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('history: the x axis spans exactly the chosen range, and an hour without data is a break in the line', async () => {
    const now = Date.now();
    // Two drives three hours apart: 2.5 minutes each.
    await publish(server.url, VIN, deviceToken, burst(15, now - 3 * HOUR));
    await publish(server.url, VIN, deviceToken, burst(15, now - 5_000, 20));

    for (const [range, span] of [
      ['day', DAY],
      ['week', 7 * DAY],
      ['month', 30 * DAY],
    ] as const) {
      await page.goto(`/vehicles/${vehicleId}/history?range=${range}`);
      const chart = page.getByRole('region', { name: 'Speed' }).locator('.chart[data-x-from]');
      await chart.waitFor();
      const from = Number(await chart.getAttribute('data-x-from'));
      const to = Number(await chart.getAttribute('data-x-to'));
      // The axis ends now and starts one range before, not where the data starts or ends.
      expect(Math.abs(to - now)).toBeLessThan(60_000);
      expect(Math.abs(to - from - span)).toBeLessThan(1_000);
      // The three hours between the drives are a gap, not a straight line.
      expect(Number(await chart.getAttribute('data-breaks'))).toBeGreaterThanOrEqual(1);
      const battery = page.getByRole('region', { name: 'Battery level' }).locator('.chart[data-x-from]');
      expect(Number(await battery.getAttribute('data-x-from'))).toBe(from);
    }
    await page.getByLabel('Time range').selectOption('day');
    await page.getByRole('region', { name: 'Speed' }).locator('canvas').first().waitFor();
    await screenshot(page, 'readme-history');
  });

  it('live view: values show their age, the vehicle turns offline at TACHO_OFFLINE_AFTER_S without a reload, and the connection badge is told apart', async () => {
    await publish(server.url, VIN, deviceToken, [driveMessage(40, Date.now())]);
    await page.goto(`/vehicles/${vehicleId}`);
    const connection = page.locator('.badge.connection');
    const vehicleState = page.locator('.badge.vehicle-state');
    await connection.getByText('Updates live').waitFor();
    await vehicleState.getByText('Vehicle online').waitFor();
    // Each value says how old it is.
    await page
      .locator('.readout[data-metric="battery_level_pct"] [data-age]')
      .getByText(/just now|second/)
      .waitFor();
    await screenshot(page, 'readme-live');
    const colour = (l: typeof connection) => l.evaluate((e) => getComputedStyle(e).color);
    expect(await colour(connection)).not.toBe(await colour(vehicleState));

    // Nothing more is sent: past the limit the page says offline by itself, and the values look stale.
    await vehicleState.getByText('Vehicle offline').waitFor({ timeout: (OFFLINE_AFTER_S + 15) * 1000 });
    await page.locator('.readout.stale[data-metric="battery_level_pct"]').waitFor();
    await page
      .locator('.readout[data-metric="battery_level_pct"] [data-age]')
      .getByText(/second|minute/)
      .waitFor();
    // The page's connection is still live: the two badges say different things.
    await connection.getByText('Updates live').waitFor();
    expect(await colour(connection)).not.toBe(await colour(vehicleState));
    await screenshot(page, 'first-minutes-vehicle-offline');

    await page.goto('/vehicles');
    await page.getByRole('article').filter({ hasText: 'Family car' }).getByText('Vehicle offline').waitFor();
  });
});
