import { TachoClient } from '@tacho/client';
import type { NativeMessage } from '@tacho/protocol';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../apps/server/src/lib/clock.js';
import { FakeTesla } from '../apps/server/src/test/fake-tesla.js';
import { type FakeVinFast, startFakeVinFast } from '../apps/server/src/test/fake-vinfast.js';
import { FIRST_LOAD_BUDGET_BYTES } from '../apps/web/build-size.js';
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
/** A VinFast owner whose account the page sweep connects. */
const vinfastOwner = { email: 'owner@example.com', password: 'vinfast-sweep-password-4Rk8Tq' };
const VINFAST_VIN = 'RLLVFE2E000000001';

describe.skipIf(noBrowser)('the dashboard in the first minutes', { timeout: 120_000 }, () => {
  let server: RunningServer;
  let tesla: FakeTesla;
  let vinfast: FakeVinFast;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let vehicleId = '';
  let deviceToken = '';
  let api: TachoClient;

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
    // Maker clouds, so the page sweep shows connected accounts with their cars.
    tesla = new FakeTesla({
      clock: systemClock,
      clientId: 'tacho-e2e',
      clientSecret: 'e2e-client-secret-0123',
    });
    await tesla.start();
    tesla.addCar({
      id: '3744582737186151',
      vin: '5YJ3E1EA7KF000017',
      displayName: 'Red Model 3',
      state: 'asleep',
    });
    vinfast = await startFakeVinFast();
    vinfast.addUser({
      ...vinfastOwner,
      vehicles: [{ vin: VINFAST_VIN, model: 'VF 8', year: 2024, name: 'Green VF 8' }],
    });
    server = await startServer({
      TACHO_ADMIN_EMAIL: admin.email,
      TACHO_ADMIN_PASSWORD: admin.password,
      TACHO_OFFLINE_AFTER_S: String(OFFLINE_AFTER_S),
      ...tesla.env(),
      TACHO_VINFAST_AUTH_URL: vinfast.authUrl,
      TACHO_VINFAST_API_URL: vinfast.apiUrl,
      TACHO_VINFAST_COGNITO_URL: vinfast.cognitoUrl,
      TACHO_VINFAST_IOT_URL: vinfast.iotUrl,
      TACHO_VINFAST_COGNITO_POOL_ID: vinfast.identityPoolId,
    });
    api = new TachoClient({ baseUrl: server.url, mode: 'cookie', cookieJar: true });
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
    await tesla?.stop();
    await vinfast?.close();
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

    // On the map too: a drive half an hour before the last one is a second line on the live view's trail
    // (its last hour), not joined to it by a straight one.
    await publish(server.url, VIN, deviceToken, burst(10, now - 30 * 60_000, 40));
    await page.goto(`/vehicles/${vehicleId}`);
    const trail = page.locator('.leaflet-overlay-pane path[stroke="#1f6feb"]');
    await trail.waitFor();
    await expect
      .poll(async () => ((await trail.getAttribute('d')) ?? '').match(/M/g)?.length ?? 0, { timeout: 15_000 })
      .toBe(2);
  });

  it('charts: labels with thousands separators as in the summaries, no fractional seconds, none clipped', async () => {
    await page.goto(`/vehicles/${vehicleId}/history?range=hour&metrics=odometer_km,speed_kmh`);
    const odometer = page.getByRole('region', { name: 'Odometer' });
    const chart = odometer.locator('.chart[data-y-labels]');
    await chart.waitFor();
    const yLabels = JSON.parse((await chart.getAttribute('data-y-labels')) ?? '[]') as string[];
    const xLabels = JSON.parse((await chart.getAttribute('data-x-labels')) ?? '[]') as string[];
    expect(yLabels.length).toBeGreaterThan(1);
    // 12,345 km as the summary writes it (the browser's locale), not 12345 km.
    for (const label of yLabels) expect(label).toMatch(/^\d{1,3}(,\d{3})+ km$/);
    await odometer.getByText(/max \d{1,3}(,\d{3})+ km/).waitFor();
    // The summary's max lies on the axis: between its lowest tick and one step past its highest.
    const summary =
      (await odometer
        .getByText(/max \d{1,3}(,\d{3})+ km/)
        .first()
        .textContent()) ?? '';
    const number = (text: string) => Number(text.replace(/[^\d.]/g, ''));
    const max = number(/max ([\d,.]+) km/.exec(summary)?.[1] ?? '');
    const ticks = yLabels.map(number).sort((a, b) => a - b);
    const step = ticks[1]! - ticks[0]!;
    expect(max).toBeGreaterThanOrEqual(ticks[0]!);
    expect(max).toBeLessThanOrEqual(ticks.at(-1)! + step);
    for (const label of xLabels) expect(label).not.toMatch(/\d[.,]\d+\s*$|:\d\d\.\d/);
    // The axis is at least as wide as its widest label at the chart's font.
    const widest = await chart.evaluate((_element, labels) => {
      const context = document.createElement('canvas').getContext('2d');
      if (!context) return 0;
      const font = getComputedStyle(document.documentElement).getPropertyValue('--font').trim();
      context.font = `12px ${font}`;
      return Math.max(...labels.map((l) => context.measureText(l).width));
    }, yLabels);
    expect(Number(await chart.getAttribute('data-y-size'))).toBeGreaterThan(widest);
    // Zoomed in to five minutes, ticks stay on whole seconds.
    const to = Date.now();
    await page.goto(
      `/vehicles/${vehicleId}/history?range=custom&from=${to - 300_000}&to=${to}&metrics=speed_kmh`,
    );
    const speed = page.getByRole('region', { name: 'Speed' }).locator('.chart[data-x-labels]');
    await speed.waitFor();
    for (const label of JSON.parse((await speed.getAttribute('data-x-labels')) ?? '[]') as string[])
      expect(label).toMatch(/:\d\d( [AP]M)?$/);
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

  it('live view: tiles only for what the vehicle sends; a charging EV shows its power and no coolant temperature', async () => {
    const ev = await api.vehicles.create({
      vin: 'WVWZZZ1JZXW000230',
      name: 'Charging EV',
      make: 'VinFast',
      model: 'VF 8',
    });
    const evToken = (await api.vehicles.createToken(ev.id, 'device')).token;
    await publish(server.url, 'WVWZZZ1JZXW000230', evToken, [
      {
        ts: Date.now(),
        metrics: { battery_level_pct: 54, charging_state: 'charging', power_kw: -48.5, charger_power_kw: 50 },
      },
    ]);
    await page.goto(`/vehicles/${ev.id}`);
    await page.locator('.readout[data-metric="battery_level_pct"]').getByText('54').waitFor();
    await page.locator('.readout[data-metric="power_kw"]').waitFor();
    await page.locator('.readout[data-metric="charger_power_kw"]').waitFor();
    await page.locator('.readout[data-metric="charging_state"]').waitFor();
    for (const absent of ['coolant_temp_c', 'range_km', 'speed_kmh', 'tyre_pressure_fl_kpa', 'gear'])
      await expect(page.locator(`.readout[data-metric="${absent}"]`).count(), absent).resolves.toBe(0);
    await expect(page.getByRole('region', { name: 'Tyre pressures' }).count()).resolves.toBe(0);
    await expect(page.locator('.readout .value').getByText('—', { exact: true }).count()).resolves.toBe(0);
    await screenshot(page, 'first-minutes-live-charging-ev');
  });

  it('sends the dashboard compressed: the first load transfers less than the budget, the main script as brotli', async () => {
    const fresh = await browser.newContext({ baseURL: server.url, viewport: { width: 1280, height: 860 } });
    try {
      const p = await fresh.newPage();
      const loaded: Array<{
        url: string;
        type: string;
        encoding: string | undefined;
        body: number;
        bytes: number;
      }> = [];
      p.on('requestfinished', async (request) => {
        const response = await request.response();
        if (!response) return;
        const sizes = await request.sizes();
        loaded.push({
          url: request.url(),
          type: request.resourceType(),
          encoding: (await response.allHeaders())['content-encoding'],
          body: sizes.responseBodySize,
          bytes: sizes.responseBodySize + sizes.responseHeadersSize,
        });
      });
      await p.goto('/login');
      await p.getByRole('heading', { name: 'Log in to Tacho' }).waitFor();
      await p.waitForLoadState('networkidle');
      // Every script and style sheet that arrives at over 1 KB came compressed (smaller ones are not worth
      // a copy; an uncompressed large one would arrive large and fail here).
      const large = loaded.filter((r) => (r.type === 'script' || r.type === 'stylesheet') && r.body > 1024);
      expect(large.filter((r) => r.type === 'script').length).toBeGreaterThan(0);
      for (const file of large) expect(file.encoding, file.url).toBe('br');
      const total = loaded.reduce((sum, r) => sum + r.bytes, 0);
      console.log(`[first load] ${loaded.length} requests, ${(total / 1024).toFixed(1)} KB transferred`);
      expect(total).toBeLessThan(FIRST_LOAD_BUDGET_BYTES);
    } finally {
      await fresh.close();
    }
  });

  it('small things: a favicon, "1 second", the sidebar down the whole page, a confirmation before Stop sharing', async () => {
    // The favicon the page names is there.
    await page.goto('/vehicles');
    const icon = await page.locator('link[rel="icon"]').getAttribute('href');
    expect(icon).toBeTruthy();
    const iconResponse = await page.request.get(icon ?? '');
    expect(iconResponse.status()).toBe(200);
    expect(iconResponse.headers()['content-type']).toContain('image/svg+xml');

    // A login refused for a second says "1 second" (the server's 429 stood in for by the browser).
    const loggedOut = await browser.newPage({ baseURL: server.url });
    try {
      await loggedOut.route('**/api/v1/auth/login', (route) =>
        route.fulfill({
          status: 429,
          headers: { 'retry-after': '1', 'content-type': 'application/json' },
          body: JSON.stringify({ error: { code: 'too_many_requests', message: 'too many failed logins' } }),
        }),
      );
      await loggedOut.goto('/login');
      await loggedOut.getByLabel('Email').fill(admin.email);
      await loggedOut.getByLabel('Password', { exact: true }).fill('wrong password');
      await loggedOut.getByRole('button', { name: 'Log in' }).click();
      await loggedOut.getByRole('alert').getByText('Wait 1 second and try again.').waitFor();
    } finally {
      await loggedOut.close();
    }

    // On a page longer than the window, the sidebar's colour reaches the bottom.
    await page.goto(
      `/vehicles/${vehicleId}/history?range=day&metrics=battery_level_pct,speed_kmh,power_kw,range_km,odometer_km`,
    );
    await page.getByRole('region', { name: 'Odometer' }).locator('canvas').first().waitFor();
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    expect(height).toBeGreaterThan(860 * 1.5);
    const shot = await page.screenshot({ fullPage: true });
    const [bottom, top] = await page.evaluate(async (png) => {
      const image = new Image();
      image.src = `data:image/png;base64,${png}`;
      await image.decode();
      const canvas = document.createElement('canvas');
      canvas.width = image.width;
      canvas.height = image.height;
      const context = canvas.getContext('2d');
      if (!context) throw new Error('no canvas');
      context.drawImage(image, 0, 0);
      const at = (y: number) => [...context.getImageData(20, y, 1, 1).data.slice(0, 3)].join(',');
      return [at(image.height - 5), at(image.height / 3)];
    }, shot.toString('base64'));
    expect(bottom).toBe(top);

    // Ending a share asks first; cancelling keeps it.
    await api.users.create({
      email: 'vera@example.org',
      name: 'Vera Viewer',
      password: 'another long password',
      role: 'viewer',
    });
    await api.vehicles.share(vehicleId, { email: 'vera@example.org', role: 'viewer' });
    await page.goto('/settings?tab=sharing');
    const shared = page.getByRole('region', { name: 'Sharing of Family car' });
    await shared.getByText('(vera@example.org)').waitFor();
    await shared.getByRole('button', { name: /Stop sharing/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Stop sharing Family car?' });
    await dialog.getByText('Vera Viewer (vera@example.org) will no longer see Family car').waitFor();
    await screenshot(page, 'first-minutes-stop-sharing-confirm');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    await expect(api.vehicles.access(vehicleId)).resolves.toHaveLength(1);
    await shared.getByRole('button', { name: /Stop sharing/ }).click();
    await dialog.getByRole('button', { name: 'Stop sharing' }).click();
    await shared.getByText('Not shared with anyone.').waitFor();
    await expect(api.vehicles.access(vehicleId)).resolves.toHaveLength(0);
  });

  it('vehicle settings: named device tokens with last use, a confirmed revoke, rename, sharing, delete with confirmation', async () => {
    const spare = await api.vehicles.create({ vin: 'WVWZZZ1JZXW000231', name: 'Old van' });
    await page.goto(`/vehicles/${spare.id}`);
    await page.getByRole('link', { name: 'Manage vehicle' }).click();
    await page.waitForURL(new RegExp(`/vehicles/${spare.id}/settings$`));

    // A token named when created, listed with its name and last use.
    await page.getByRole('button', { name: 'Connect a device' }).click();
    await page.getByLabel('Token name').fill('OBD dongle');
    await page.getByRole('button', { name: 'Create device token' }).click();
    const secret = (await page.locator('code.secret').first().textContent()) ?? '';
    expect(secret).toMatch(/^tacho_/);
    const row = page.locator('tr[data-token="OBD dongle"]');
    await row.getByText('never').waitFor();
    await publish(server.url, 'WVWZZZ1JZXW000231', secret, [driveMessage(1, Date.now())]);
    await page.reload();
    await row.getByText(/just now|second|minute/).waitFor();

    // Renamed, with its make, model and year; a year that is no year is refused by name.
    await page.getByLabel('Name', { exact: true }).fill('Blue van');
    await page.getByLabel('Make', { exact: true }).fill('Volkswagen');
    await page.getByLabel('Model', { exact: true }).fill('Transporter');
    await page.getByLabel('Year', { exact: true }).fill('20x9');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Enter a year such as 2023.').waitFor();
    await expect(api.vehicles.get(spare.id)).resolves.toMatchObject({ name: 'Old van' });
    await page.getByLabel('Year', { exact: true }).fill('2019');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').getByText('Saved.').waitFor();
    await expect(api.vehicles.get(spare.id)).resolves.toMatchObject({
      name: 'Blue van',
      make: 'Volkswagen',
      model: 'Transporter',
      year: 2019,
    });
    await page.reload();
    expect(await page.getByLabel('Model', { exact: true }).inputValue()).toBe('Transporter');

    // Sharing is here too.
    await page
      .getByRole('region', { name: 'Sharing of Blue van' })
      .getByLabel('Share with (email)')
      .waitFor();
    await screenshot(page, 'pages/vehicle-settings-desktop');

    // Revoking asks first; the device is then refused.
    await row.getByRole('button', { name: /Revoke/ }).click();
    const revoke = page.getByRole('dialog', { name: 'Revoke the token “OBD dongle”?' });
    await revoke.getByRole('button', { name: 'Revoke' }).click();
    await row.waitFor({ state: 'detached' });
    await expect(
      publish(server.url, 'WVWZZZ1JZXW000231', secret, [driveMessage(2, Date.now())]),
    ).rejects.toThrow(/401/);

    // Deleting says it deletes the data, and asks first.
    await page.getByRole('button', { name: 'Delete vehicle' }).click();
    const remove = page.getByRole('dialog', { name: 'Delete Blue van and its data?' });
    await remove.getByText('Every sample, drive, charge and recording of Blue van is deleted').waitFor();
    await remove.getByRole('button', { name: 'Cancel' }).click();
    await expect(api.vehicles.get(spare.id)).resolves.toMatchObject({ name: 'Blue van' });
    await page.getByRole('button', { name: 'Delete vehicle' }).click();
    await remove.getByRole('button', { name: 'Delete vehicle and data' }).click();
    await page.waitForURL(/\/vehicles$/);
    await expect(api.vehicles.get(spare.id)).rejects.toThrow();
  });

  it('fleet map: every visible vehicle with a position on one map in its state, fitted to them; a click opens it', async () => {
    const far = await api.vehicles.create({ vin: 'WVWZZZ1JZXW000232', name: 'Munich car' });
    const farToken = (await api.vehicles.createToken(far.id, 'device')).token;
    await publish(server.url, 'WVWZZZ1JZXW000232', farToken, [
      { ts: Date.now(), metrics: { speed_kmh: 50, gear: 'D' }, position: { lat: 48.137, lon: 11.575 } },
    ]);
    await page.goto('/vehicles');
    const map = page.getByRole('region', { name: 'Map of all vehicles' });
    const family = map.locator(`[data-vehicle="${vehicleId}"]`);
    const munich = map.locator(`[data-vehicle="${far.id}"]`);
    await family.waitFor();
    await munich.waitFor();
    // Berlin and Munich both inside the map: it was fitted to them (again once the second appeared).
    const inside = async () => {
      const box = await map.boundingBox();
      const all = await Promise.all([family.boundingBox(), munich.boundingBox()]);
      return all.every(
        (at) =>
          at !== null &&
          box !== null &&
          at.x >= box.x &&
          at.x + at.width <= box.x + box.width &&
          at.y >= box.y &&
          at.y + at.height <= box.y + box.height,
      );
    };
    await expect.poll(inside, { timeout: 5_000 }).toBe(true);
    await expect(munich.getAttribute('aria-label')).resolves.toBe('Munich car, online');
    await expect(munich.getAttribute('fill')).resolves.toBe('#1a7f37');
    await expect(family.getAttribute('aria-label')).resolves.toMatch(/^Family car, (online|asleep|offline)$/);
    await screenshot(page, 'pages/fleet-map-desktop');
    await munich.click();
    await page.waitForURL(new RegExp(`/vehicles/${far.id}$`));
  });

  it('units: a user who reads miles, °F and psi sees tiles and charts in them; the stored data does not change', async () => {
    await publish(server.url, VIN, deviceToken, [driveMessage(60, Date.now())]);
    await page.goto('/settings?tab=profile');
    await page.getByLabel('Distance and speed').selectOption('mi');
    await page.getByLabel('Temperature').selectOption('f');
    await page.getByLabel('Tyre pressure').selectOption('psi');
    await page.getByRole('button', { name: 'Save units' }).click();
    await expect
      .poll(() => api.auth.preferences())
      .toEqual({ distance: 'mi', temperature: 'f', pressure: 'psi' });

    await page.goto(`/vehicles/${vehicleId}`);
    // driveMessage: 14.5 °C outside, 250 kPa front left, speed in km/h.
    await page.locator('.readout[data-metric="outside_temp_c"] .value').getByText('58.1').waitFor();
    await expect(
      page.locator('.readout[data-metric="outside_temp_c"] .value').textContent(),
    ).resolves.toContain('°F');
    await expect(
      page.locator('.readout[data-metric="tyre_pressure_fl_kpa"] .value').textContent(),
    ).resolves.toMatch(/36\.3\s*psi/);
    await expect(page.locator('.readout[data-metric="speed_kmh"] .value').textContent()).resolves.toContain(
      'mph',
    );
    await expect(page.locator('.readout[data-metric="odometer_km"] .value').textContent()).resolves.toContain(
      'mi',
    );
    await screenshot(page, 'first-minutes-live-in-miles');

    await page.goto(`/vehicles/${vehicleId}/history?range=hour&metrics=speed_kmh`);
    const chart = page.getByRole('region', { name: 'Speed' }).locator('.chart[data-y-labels]');
    await chart.waitFor();
    for (const label of JSON.parse((await chart.getAttribute('data-y-labels')) ?? '[]') as string[])
      expect(label).toMatch(/ mph$/);

    // The data itself stays canonical.
    const state = await api.readings.state(vehicleId);
    expect(state.metrics.outside_temp_c?.value).toBe(14.5);

    await page.goto('/settings?tab=profile');
    await page.getByLabel('Distance and speed').selectOption('km');
    await page.getByLabel('Temperature').selectOption('c');
    await page.getByLabel('Tyre pressure').selectOption('kpa');
    await page.getByRole('button', { name: 'Save units' }).click();
    await expect
      .poll(() => api.auth.preferences())
      .toEqual({ distance: 'km', temperature: 'c', pressure: 'kpa' });
  });

  it('every page, at desktop and phone size, is saved as a screenshot and none is wider than a 390 px phone', async () => {
    // Something on every page: a recording, a token, a dead letter, an alert rule.
    const recording = await api.sessions.startRecording(vehicleId);
    await publish(server.url, VIN, deviceToken, [driveMessage(50, Date.now())]);
    await api.sessions.stopRecording(recording.id);
    await api.tokens.create({ name: 'home assistant', scopes: ['read'] });
    await fetch(`${server.url}/api/v1/vehicles/${VIN}/telemetry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${deviceToken}`, 'content-type': 'application/json' },
      body: '{"ts": "yesterday"}',
    });
    await api.alerts.createRule({
      name: 'Battery low',
      vehicleId,
      condition: { metric: 'battery_level_pct', op: '<', value: 20 },
      channels: [{ type: 'inapp' }],
    });
    await api.aliases.propose({
      make: 'VinFast',
      model: 'VF 8',
      year: 2024,
      deviceKey: '34183_00001_00009',
      canonicalKey: 'battery_level_pct',
      unit: '%',
    });
    // A VinFast account whose car is added and has pushed a decoded and a raw-only key (the Aliases page
    // lists them), and a Tesla account (through Tesla's sign-in, which the fake approves at once) whose
    // car is not added yet (its row has the Add button).
    const vinfastAccount = await api.vinfast.connect({ ...vinfastOwner, region: 'vn' });
    await api.vinfast.addVehicle(vinfastAccount.id, VINFAST_VIN);
    await expect.poll(() => vinfast.subscribers(VINFAST_VIN), { timeout: 30_000 }).toBe(1);
    await vinfast.push(VINFAST_VIN, [
      { deviceKey: '34183_00001_00009', value: '77', lastUpdateTime: Date.now() - 1000 },
      { deviceKey: '99999_00001_00001', value: '1', lastUpdateTime: Date.now() - 1000 },
    ]);
    await expect.poll(async () => (await api.aliases.seen()).models.length, { timeout: 15_000 }).toBe(1);
    await page.goto('/settings/connected-accounts');
    await page.getByRole('button', { name: 'Connect a Tesla account' }).click();
    await page.waitForURL(/tesla=connected/);
    const teslaAccount = new URL(page.url()).searchParams.get('account') ?? '';
    /** Opens the VinFast account's vehicles too (the address opens the Tesla account's). */
    const openVinFastCars = async (p: Page) => {
      await p.getByRole('button', { name: `Vehicles of ${vinfastOwner.email}` }).click();
      await p.getByRole('row', { name: /Green VF 8/ }).waitFor();
      await p.getByRole('row', { name: /Red Model 3/ }).waitFor();
    };

    const pages: Array<[string, string, ((p: Page) => Promise<void>)?]> = [
      ['vehicles', '/vehicles'],
      ['vehicle-live', `/vehicles/${vehicleId}`],
      ['history', `/vehicles/${vehicleId}/history?range=day`],
      ['vehicle-sessions', `/vehicles/${vehicleId}/sessions`],
      ['sessions', '/sessions'],
      ['session', `/sessions/${recording.id}`],
      ['import', `/vehicles/${vehicleId}/import`],
      ['vehicle-settings', `/vehicles/${vehicleId}/settings`],
      ['alerts', '/alerts'],
      ['alert-rules', '/alerts/rules'],
      ['settings-profile', '/settings?tab=profile'],
      ['settings-password', '/settings?tab=password'],
      ['settings-logins', '/settings?tab=logins'],
      ['settings-signins', '/settings?tab=signins'],
      ['settings-tokens', '/settings?tab=tokens'],
      ['settings-sharing', '/settings?tab=sharing'],
      ['connected-accounts', `/settings/connected-accounts?account=${teslaAccount}`, openVinFastCars],
      [
        'aliases',
        '/aliases',
        async (p) => {
          // The proposal made above (by an admin, from no car): pending, no car has confirmed it yet.
          await p
            .getByText(/^Pending · 0 of \d+ confirmations$/)
            .first()
            .waitFor();
          await p.getByTestId('seen-model').locator('summary').click();
        },
      ],
      ['admin-users', '/admin?tab=users'],
      ['admin-dead-letters', '/admin?tab=dead-letters'],
      ['not-found', '/nothing-here'],
    ];
    const tooWide: string[] = [];
    for (const [size, viewport] of [
      ['desktop', { width: 1280, height: 860 }],
      ['phone', { width: 390, height: 844 }],
    ] as const) {
      await page.setViewportSize(viewport);
      for (const [name, url, prepare] of pages) {
        await page.goto(url);
        await page.locator('main h1').first().waitFor();
        if (prepare) {
          await prepare(page);
          // A click may have scrolled: the screenshot starts at the top, as the others do.
          await page.evaluate(() => window.scrollTo(0, 0));
        }
        await page.waitForLoadState('networkidle');
        await page
          .locator('[aria-busy="true"], .loading')
          .first()
          .waitFor({ state: 'detached' })
          .catch(() => {});
        await screenshot(page, `pages/${name}-${size}`);
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        if (size === 'phone' && width > viewport.width) {
          // Name what sticks out, outermost first, so the failure says where to look.
          const culprit = await page.evaluate((limit) => {
            const out = Array.from(document.querySelectorAll('body *')).filter(
              (e) => e.getBoundingClientRect().right > limit + 1,
            );
            const outer = out.filter((e) => !out.some((o) => o !== e && o.contains(e)));
            return outer
              .slice(0, 3)
              .map((e) => `${e.tagName.toLowerCase()}.${Array.from(e.classList).join('.')}`)
              .join(', ');
          }, viewport.width);
          tooWide.push(`${name} ${width}px (${culprit})`);
        }
      }
    }
    await page.setViewportSize({ width: 1280, height: 860 });
    expect(tooWide).toEqual([]);
  });
});

describe.skipIf(noBrowser)('first start, before any user exists', { timeout: 90_000 }, () => {
  let server: RunningServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    await ensureWebBuilt();
    server = await startServer({});
    browser = await launchBrowser();
    page = await browser.newPage({ baseURL: server.url, viewport: { width: 1280, height: 860 } });
    page.setDefaultTimeout(10_000);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('the login page says no user exists yet and where the setup link is', async () => {
    await page.goto('/vehicles');
    await page.waitForURL(/\/login/);
    const hint = page.locator('[data-first-start]');
    await hint.getByText('No user exists yet.').waitFor();
    await hint.getByText(/printed a one-time setup link in its output/).waitFor();
    await expect(hint.textContent()).resolves.toContain('/setup?token=');
    await screenshot(page, 'pages/login-first-start-desktop');
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'pages/login-first-start-phone');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it('/setup without a token, or with a wrong one, says which', async () => {
    await page.goto('/setup');
    await page.getByText('This page needs the setup link the server printed').waitFor();
    await screenshot(page, 'pages/setup-no-token-desktop');
    await page.goto('/setup?token=not-the-token');
    await page.getByText('This setup link is not right').waitFor();
    await expect(page.getByText('not valid any more').count()).resolves.toBe(0);
    await page.goto(server.app.auth.setupUrl ?? '');
    await page.getByRole('button', { name: 'Create administrator' }).waitFor();
    await screenshot(page, 'pages/setup-desktop');
  });
});

describe.skipIf(noBrowser)('the demo shows the whole product', { timeout: 90_000 }, () => {
  let server: RunningServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    await ensureWebBuilt();
    server = await startServer({
      TACHO_ADMIN_EMAIL: admin.email,
      TACHO_ADMIN_PASSWORD: admin.password,
      TACHO_DEMO: 'true',
    });
    browser = await launchBrowser();
    page = await browser.newPage({ baseURL: server.url, viewport: { width: 1280, height: 860 } });
    page.setDefaultTimeout(10_000);
    await page.goto('/login');
    await page.getByLabel('Email').fill(admin.email);
    await page.getByLabel('Password', { exact: true }).fill(admin.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(/\/vehicles$/);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('demo vehicles send VinFast device keys (the deep scan has content) and the parked one does not charge', async () => {
    const card = page.getByRole('article').filter({ hasText: 'Demo: parked' });
    await card.getByRole('link', { name: 'Demo: parked' }).click();
    await page.locator('.readout[data-metric="battery_level_pct"]').waitFor();
    await page.locator('.readout[data-metric="charging_state"]').getByText('disconnected').waitFor();
    await expect(page.locator('.readout[data-metric="charger_power_kw"]').count()).resolves.toBe(0);
    await page.getByRole('button', { name: 'Deep scan' }).click();
    await page.getByText('34183_00001_00009').first().waitFor();
    await page.getByText('34213_00001_00005').first().waitFor();
    await screenshot(page, 'pages/demo-deep-scan-desktop');

    await page.goto('/vehicles');
    await page
      .getByRole('article')
      .filter({ hasText: 'Demo: at the charger' })
      .getByRole('link')
      .first()
      .click();
    await page
      .locator('.readout[data-metric="charging_state"]')
      .getByText(/charging|complete/)
      .waitFor();
    await page.locator('.readout[data-metric="charger_power_kw"]').waitFor();

    // The demo records sessions as a car does: a charge in progress at the charger, the city run's drive.
    await page.goto('/sessions');
    const rows = page.locator('tr[data-session]');
    await rows
      .filter({ hasText: 'Demo: at the charger' })
      .filter({ hasText: 'Charge' })
      .filter({ hasText: 'in progress' })
      .first()
      .waitFor({ timeout: 30_000 });
    await rows
      .filter({ hasText: 'Demo: city run' })
      .filter({ hasText: 'Drive' })
      .first()
      .waitFor({ timeout: 30_000 });
    expect(await rows.filter({ hasText: 'Demo: parked' }).count()).toBe(0);
  });
});
