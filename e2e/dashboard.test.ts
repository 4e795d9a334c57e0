import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulate } from '../apps/cli/src/simulate.js';
import { launchBrowser, noBrowser, screenshot } from './support/browser.js';
import { driveMessage, publish } from './support/device.js';
import { type RunningServer, startServer } from './support/server.js';
import { ensureWebBuilt } from './support/web-build.js';

const admin = { email: 'admin@example.org', password: 'correct horse battery staple' };
const viewer = { email: 'viewer@example.org', password: 'another long password', name: 'Vera Viewer' };
const VIN = 'WVWZZZ1JZXW000001';
const STEP_MS = 10_000;

/** The dashboard as a person uses it: a real server, the built app, Debian's Chromium. */
// A page flow holds many steps of up to 10 s each on a loaded machine.
describe.skipIf(noBrowser)('dashboard in a browser', { timeout: 90_000 }, () => {
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let vehicleId = '';
  let deviceToken = '';
  let step = 0;
  // The drive ends about now, so the vehicle shows as online.
  const start = Date.now() - 45 * STEP_MS;

  const sendSteps = async (count: number) => {
    const messages = Array.from({ length: count }, () => driveMessage(step, start + step++ * STEP_MS));
    await publish(server.url, VIN, deviceToken, messages);
  };

  async function logIn(p: Page, who: { email: string; password: string }) {
    await p.getByLabel('Email').fill(who.email);
    await p.getByLabel('Password', { exact: true }).fill(who.password);
    await p.getByRole('button', { name: 'Log in' }).click();
  }

  beforeAll(async () => {
    await ensureWebBuilt();
    server = await startServer({ TACHO_ADMIN_EMAIL: admin.email, TACHO_ADMIN_PASSWORD: admin.password });
    browser = await launchBrowser();
    context = await browser.newContext({ baseURL: server.url, viewport: { width: 1280, height: 860 } });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('sends an anonymous visitor to login, says when the password is wrong, then logs in', async () => {
    await page.goto('/vehicles');
    await page.waitForURL(/\/login\?next=%2Fvehicles$/);
    await expect(page.getByRole('heading', { name: 'Log in to Tacho' }).isVisible()).resolves.toBe(true);
    await screenshot(page, '01-login');

    await logIn(page, { email: admin.email, password: 'not the password' });
    await page.getByRole('alert').getByText('Email or password is wrong').waitFor();

    await logIn(page, admin);
    await page.waitForURL(/\/vehicles$/);
    await page.getByText('No vehicles yet.').waitFor();
    await screenshot(page, '02-vehicles-empty');
  });

  it('adds a vehicle, refusing a malformed VIN, and shows its device token once with copy buttons', async () => {
    await page.getByRole('button', { name: 'Add vehicle' }).click();
    await page.getByLabel('VIN').fill('WVWZZZ1JZXW00000O');
    await page.getByText('never contains the letters I, O or Q').waitFor();
    await screenshot(page, '02-add-vehicle-invalid-vin');
    await page.getByLabel('VIN').fill(VIN.toLowerCase());
    await page.getByLabel('Name').fill('Family car');
    await page.getByLabel('Make').fill('Volkswagen');
    await page.getByLabel('Model').fill('ID.3');
    await page.getByLabel('Year').fill('2022');
    await page.getByRole('button', { name: 'Add vehicle' }).click();

    await page.getByRole('button', { name: 'Create device token' }).click();
    await page.getByText('it will not be shown again').waitFor();
    deviceToken = (await page.locator('code.secret').first().textContent()) ?? '';
    expect(deviceToken).toMatch(/^tacho_/);
    await expect(page.getByText(`tacho/v1/${VIN}/telemetry`).isVisible()).resolves.toBe(true);
    expect(await page.getByRole('button', { name: 'Copy' }).count()).toBeGreaterThanOrEqual(5);
    await screenshot(page, '03-device-token');
    await page.getByRole('button', { name: 'Done' }).click();

    const card = page.getByRole('article').filter({ hasText: 'Family car' });
    await card.waitFor();
    vehicleId =
      ((await card.getByRole('link', { name: 'Family car' }).getAttribute('href')) ?? '').split('/').pop() ??
      '';
    expect(vehicleId).not.toBe('');
  });

  it('shows live values that change as the device sends telemetry, without reloading', async () => {
    await sendSteps(30);
    const card = page.getByRole('article').filter({ hasText: 'Family car' });
    await card.locator('[data-metric="battery_level_pct"]').getByText('66 %').waitFor();
    await card.getByText('online').waitFor();
    await screenshot(page, '04-vehicles');

    await card.getByRole('link', { name: 'Family car' }).click();
    await page.waitForURL(new RegExp(`/vehicles/${vehicleId}$`));
    await page.getByRole('status').getByText('Live').waitFor();
    const battery = page.locator('.readout[data-metric="battery_level_pct"] .value');
    await battery.getByText('66').waitFor();

    await sendSteps(10);
    await battery.getByText('61').waitFor();
    await expect(page.locator('.readout[data-metric="range_km"] .value').textContent()).resolves.toContain(
      '242',
    );
    // No tile server answers in tests: the map keeps a plain background and says so.
    await page.getByText('Map tiles unavailable').waitFor();
    await screenshot(page, '05-vehicle-live');
    // The owner can connect another device from here.
    await page.getByRole('button', { name: 'Connect a device' }).click();
    await page.getByRole('button', { name: 'Create device token' }).waitFor();
    await page.getByRole('button', { name: 'Later' }).click();
  });

  it('follows the simulator publishing over MQTT with the device token', async () => {
    const readout = '.readout[data-metric="odometer_km"] .value';
    const before = await page.locator(readout).textContent();
    const run = simulate({
      vehicles: [{ vin: VIN, token: deviceToken }],
      url: `mqtt://127.0.0.1:${server.app.broker?.port}`,
      rateHz: 5,
      durationS: 4,
    });
    try {
      await page.waitForFunction(
        ([selector, text]) => document.querySelector(selector as string)?.textContent !== text,
        [readout, before],
        { timeout: 10_000 },
      );
      await page.getByRole('status').getByText('Live').waitFor();
    } finally {
      const stats = await run;
      expect(stats.failed).toBe(0);
      expect(stats.acknowledged).toBeGreaterThan(0);
    }
  });

  it('opens the deep scan with every raw key, searchable', async () => {
    await page.getByRole('button', { name: 'Deep scan' }).click();
    const drawer = page.getByRole('dialog', { name: 'Deep scan' });
    await drawer.locator('[data-raw-key="34183_00001_00009"]').waitFor();
    await drawer.getByLabel('Search keys, mapped names and values').fill('56789');
    await drawer.getByText('Object 56789').waitFor();
    await drawer.getByText('1 of 3 keys').waitFor();
    await expect(drawer.getByText('Object 34183').count()).resolves.toBe(0);
    const row = drawer.locator('[data-raw-key="56789_00002_00003"]');
    await row.getByRole('button', { name: 'Propose alias' }).click();
    await row.getByLabel('Canonical metric for 56789_00002_00003').fill('engine_load_pct');
    await row.getByRole('button', { name: 'Send proposal' }).click();
    await row.getByText('It is pending on the Aliases page').waitFor();
    await screenshot(page, '06-deep-scan');
    await page.keyboard.press('Escape');
    await expect(drawer.count()).resolves.toBe(0);
  });

  it('draws history charts for the chosen metrics and range', async () => {
    await page.getByRole('link', { name: 'History' }).click();
    await page.waitForURL(new RegExp(`/vehicles/${vehicleId}/history`));
    await page.getByRole('region', { name: 'Battery level' }).locator('canvas').waitFor();
    // The HTTP drive went from 80 % down; the summary says so in words.
    await page
      .getByRole('region', { name: 'Battery level' })
      .getByText(/max 80 %/)
      .waitFor();
    await page.getByLabel('Time range').selectOption('week');
    await page.getByRole('region', { name: 'Speed' }).locator('canvas').waitFor();
    await screenshot(page, '07-history');

    // Dragging across a chart zooms to that span: a custom range, fetched again. The axis spans the whole
    // chosen hour and the drive is its last minutes, so the drag covers the last tenth. The chart is below
    // the fold under the taller header: scrolled to first, as a person would (the mouse only reaches the view).
    await page.getByLabel('Time range').selectOption('hour');
    await page.waitForURL(/range=hour/);
    const plot = page.getByRole('region', { name: 'Speed' }).locator('.u-over');
    // The charts are drawn again for the new range: a plot found while the old one goes is retried.
    let box: { x: number; y: number; width: number; height: number } | null = null;
    for (let attempt = 0; !box; attempt++) {
      try {
        await plot.scrollIntoViewIfNeeded();
        box = await plot.boundingBox();
      } catch (error) {
        if (attempt >= 20 || !String(error).includes('not attached')) throw error;
      }
    }
    await page.mouse.move(box.x + box.width * 0.9, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.999, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.waitForURL(/range=custom&from=\d+&to=\d+/);
    await expect(page.getByLabel('Time range').inputValue()).resolves.toBe('custom');
    await page.getByRole('region', { name: 'Speed' }).locator('canvas').waitFor();
  });

  it('shows settings and admin pages, and lets the admin create a viewer', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Settings', exact: true }).click();
    await page.getByRole('heading', { name: 'Settings' }).waitFor();
    // Keyboard: arrow keys move along the tabs.
    await page.getByRole('tab', { name: 'Profile' }).focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await expect(page.getByRole('tab', { name: 'Logins' }).getAttribute('aria-selected')).resolves.toBe(
      'true',
    );
    await page.getByText('this browser').waitFor();
    await screenshot(page, '08-settings-logins');
    // Changing the password keeps this browser logged in; the wrong current password is refused.
    await page.getByRole('tab', { name: 'Password' }).click();
    await page.getByLabel('Current password').fill('not it at all');
    await page.getByLabel('New password', { exact: true }).fill('a brand new password');
    await page.getByLabel('Repeat new password').fill('a brand new password');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('alert').getByText('the current password is wrong').waitFor();
    await page.getByLabel('Current password').fill(admin.password);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Password changed.').waitFor();
    admin.password = 'a brand new password';
    await page.getByRole('tab', { name: 'Logins' }).click();
    await page.getByText('this browser').waitFor();

    await page.getByRole('tab', { name: 'API tokens' }).click();
    await page.getByLabel('Name').fill('scripts');
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.getByText('it will not be shown again').waitFor();
    await screenshot(page, '09-settings-tokens');

    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByLabel('Name').fill(viewer.name);
    await page.getByLabel('Email').fill(viewer.email);
    await page.getByLabel('Initial password').fill(viewer.password);
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByRole('cell', { name: viewer.email, exact: true }).waitFor();
    // Role and disabling take effect on the server: they survive a reload.
    await page.getByLabel(`Role of ${viewer.email}`).selectOption('operator');
    await page.getByRole('button', { name: `Disable ${viewer.email}` }).click();
    await page.getByRole('button', { name: `Enable ${viewer.email}` }).waitFor();
    await page.reload();
    await expect(page.getByLabel(`Role of ${viewer.email}`).inputValue()).resolves.toBe('operator');
    await page.getByRole('button', { name: `Enable ${viewer.email}` }).click();
    await page.getByLabel(`Role of ${viewer.email}`).selectOption('viewer');
    await page.getByRole('button', { name: `Disable ${viewer.email}` }).waitFor();
    await screenshot(page, '10-admin-users');
    // A sensor glitch the server refuses: it lands in the dead letters with the reason.
    await fetch(`${server.url}/api/v1/vehicles/${VIN}/telemetry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${deviceToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ts: Date.now(), metrics: { outside_temp_c: 6553.5 } }),
    });
    await page.getByRole('tab', { name: 'Dead letters' }).click();
    await page.getByRole('cell', { name: /outside_temp_c/ }).waitFor();
    await screenshot(page, '11-admin-dead-letters');
  });

  it("warns on the vehicle's page that its messages are refused, with the last reason", async () => {
    // A device whose clock runs ten minutes fast: acknowledged, refused, and now visible.
    const res = await fetch(`${server.url}/api/v1/vehicles/${VIN}/telemetry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${deviceToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ts: Date.now() + 10 * 60_000, metrics: { speed_kmh: 50 } }),
    });
    expect(res.status).toBe(400);
    await page.goto(`/vehicles/${vehicleId}`);
    const notice = page.getByRole('region', { name: 'Refused messages' });
    // The out-of-range temperature above, and this one.
    await notice.getByText('2 messages refused').waitFor();
    await notice.getByText(/is more than 5 minutes ahead of the server clock/).waitFor();
    await notice.getByText("The device's clock may be running fast.").waitFor();
    await screenshot(page, '11b-vehicle-refused');
    await page.setViewportSize({ width: 390, height: 844 });
    await notice.getByText('2 messages refused').waitFor();
    await screenshot(page, '11c-vehicle-refused-phone');
    await page.setViewportSize({ width: 1280, height: 860 });
    await notice.getByRole('link', { name: 'See the dead letters' }).click();
    await page.getByRole('cell', { name: /ahead of the server clock/ }).waitFor();
  });

  it('survives the access token running out, and sends to login with the page remembered when the login ends', async () => {
    await page.goto(`/vehicles/${vehicleId}`);
    await page.getByRole('status').getByText('Live').waitFor();
    // As if 15 minutes had passed: the browser drops the expired access cookie, the refresh cookie stays.
    await context.clearCookies({ name: 'tacho_access' });
    // The account's settings, in the navigation (the vehicle's page has a Settings link of its own).
    await page.getByRole('navigation').getByRole('link', { name: 'Settings', exact: true }).click();
    await page.getByRole('tab', { name: 'Logins' }).click();
    await page.getByText('this browser').waitFor();
    expect(page.url()).toContain('/settings');

    await context.clearCookies();
    await page.getByRole('tab', { name: 'API tokens' }).click();
    await page.waitForURL(/\/login\?next=%2Fsettings%3Ftab%3Dtokens$/);
    await logIn(page, admin);
    await page.waitForURL(/\/settings\?tab=tokens$/);
  });

  it('logs out, and returns to the remembered page after logging in again', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(/\/login$/);
    await page.goto(`/vehicles/${vehicleId}/history`);
    await page.waitForURL(/\/login\?next=/);
    await logIn(page, admin);
    await page.waitForURL(new RegExp(`/vehicles/${vehicleId}/history`));
  });

  it('does not show a viewer a vehicle until it is shared with them', async () => {
    const other = await browser.newContext({
      baseURL: server.url,
      viewport: { width: 390, height: 844 },
      colorScheme: 'dark',
    });
    try {
      const phone = await other.newPage();
      phone.setDefaultTimeout(10_000);
      await phone.goto('/login');
      await logIn(phone, viewer);
      await phone.getByText('No vehicles yet.').waitFor();
      await expect(phone.getByText('Family car').count()).resolves.toBe(0);
      await screenshot(phone, '12-viewer-phone-dark');
      await phone.goto(`/vehicles/${vehicleId}`);
      await phone.getByRole('heading', { name: 'Not found' }).waitFor();
      await expect(phone.getByText('Family car').count()).resolves.toBe(0);
      await screenshot(phone, '13-viewer-not-found');

      // The owner shares it from Settings; the viewer then sees it, live.
      await page.goto('/settings?tab=sharing');
      await page.getByLabel('Share with (email)').fill(viewer.email);
      await page.getByRole('button', { name: 'Share', exact: true }).click();
      await page.getByText(`(${viewer.email})`).waitFor();
      await screenshot(page, '14-settings-sharing');

      await phone.reload();
      await phone.getByRole('heading', { name: 'Family car' }).waitFor();
      await phone.getByRole('status').getByText('Live').waitFor();
      // Shared to read, not to manage: no device tokens for a viewer.
      await expect(phone.getByRole('button', { name: 'Connect a device' }).count()).resolves.toBe(0);
      await publish(server.url, VIN, deviceToken, [{ ts: Date.now(), metrics: { battery_level_pct: 42 } }]);
      await phone.locator('.readout[data-metric="battery_level_pct"] .value').getByText('42').waitFor();
      await screenshot(phone, '15-viewer-phone-live-dark');

      // A second login elsewhere: the phone ends it, then logs out everywhere.
      const laptop = await browser.newContext({ baseURL: server.url });
      try {
        const other = await laptop.newPage();
        await other.goto('/login');
        await logIn(other, viewer);
        await other.waitForURL(/\/vehicles$/);
        await phone.goto('/settings?tab=logins');
        const rows = phone.getByRole('row').filter({ has: phone.getByRole('button', { name: /^Log out / }) });
        await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
        await rows.filter({ hasNotText: 'this browser' }).getByRole('button').click();
        await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(1);
        await other.reload();
        await other.waitForURL(/\/login/);

        await phone.getByRole('button', { name: 'Log out everywhere' }).click();
        await phone.waitForURL(/\/login$/);
      } finally {
        await laptop.close();
      }
    } finally {
      await other.close();
    }
  });
});
