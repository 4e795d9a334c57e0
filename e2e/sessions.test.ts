import type { NativeMessage, Session, SessionPage } from '@tacho/protocol';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, noBrowser, screenshot } from './support/browser.js';
import { driveMessage, publish } from './support/device.js';
import { type RunningServer, startServer } from './support/server.js';
import { ensureWebBuilt } from './support/web-build.js';

const admin = { email: 'admin@example.org', password: 'correct horse battery staple' };
const viewer = { email: 'viewer@example.org', password: 'another long password', name: 'Vera Viewer' };
const VIN = 'WVWZZZ1JZXW000002';
const STEP_MS = 60_000;
const DRIVE_STEPS = 40;
/** Samples sent before the vehicle's page is opened: the drive is in progress. */
const SO_FAR = 32;
const phone = { width: 390, height: 844 };
const laptop = { width: 1280, height: 860 };

/** The API as the logged-in page calls it (same origin, its cookies): for setting up what the test needs. */
async function call<T>(
  page: Page,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  return page.evaluate(
    async ([method, path, body]) => {
      const res = await fetch(path as string, {
        method: method as string,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    [method, path, body] as const,
  );
}

async function logIn(p: Page, who: { email: string; password: string }) {
  await p.goto('/login');
  await p.getByLabel('Email').fill(who.email);
  await p.getByLabel('Password', { exact: true }).fill(who.password);
  await p.getByRole('button', { name: 'Log in' }).click();
  await p.waitForURL(/\/vehicles$/);
}

/** Drives and charges as a person sees them: found from telemetry, listed, shown, deleted. */
describe.skipIf(noBrowser)('drives and charges in a browser', { timeout: 90_000 }, () => {
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let vehicleId = '';
  let deviceToken = '';
  let drive: Session | undefined;
  // A drive of 40 minutes, a sample a minute, that ends when the test starts (never in the future).
  const start = Date.now() - DRIVE_STEPS * STEP_MS;
  const at = (step: number) => start + step * STEP_MS;

  const sessions = async (query = '') =>
    (await call<SessionPage>(page, 'GET', `/api/v1/vehicles/${vehicleId}/sessions${query}`)).body.items;

  beforeAll(async () => {
    await ensureWebBuilt();
    server = await startServer({ TACHO_ADMIN_EMAIL: admin.email, TACHO_ADMIN_PASSWORD: admin.password });
    browser = await launchBrowser();
    context = await browser.newContext({ baseURL: server.url, viewport: laptop });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await logIn(page, admin);
    const vehicle = await call<{ id: string }>(page, 'POST', '/api/v1/vehicles', {
      vin: VIN,
      name: 'Family car',
    });
    expect(vehicle.status).toBe(201);
    vehicleId = vehicle.body.id;
    const token = await call<{ token: string }>(page, 'POST', `/api/v1/vehicles/${vehicleId}/tokens`, {});
    deviceToken = token.body.token;
    expect(deviceToken).toMatch(/^tacho_/);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('explains the empty list: drives appear by themselves, a recording can be started', async () => {
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Drives and charges' })
      .click();
    await page.waitForURL(/\/sessions$/);
    await page.getByText('No drives or charges yet.').waitFor();
    await page.getByText(/appear here by themselves after the vehicle has driven/).waitFor();
    await page.getByText(/start a recording on a vehicle’s page/).waitFor();
    await screenshot(page, 'sessions-01-empty');
  });

  it("shows the drive in progress on the vehicle's page, then not once it has ended", async () => {
    // Gear D from the first sample: a drive starts. Its first 32 minutes, the last 8 minutes ago (a drive
    // silent for 15 minutes would end).
    await publish(
      server.url,
      VIN,
      deviceToken,
      Array.from({ length: SO_FAR }, (_, step) => driveMessage(step, at(step))),
    );
    // Found after the commit, by the sessions processor: the page shows it once it is there.
    await expect
      .poll(async () => (await sessions('?kind=drive')).map((s) => s.endMs), { timeout: 20_000 })
      .toEqual([null]);
    await page.goto(`/vehicles/${vehicleId}`);
    const now = page.getByRole('region', { name: 'Sessions in progress' });
    await now.getByRole('link', { name: /^Driving since .+ · [\d.]+ km$/ }).waitFor();
    await now.getByRole('button', { name: 'Start recording' }).waitFor();
    await screenshot(page, 'sessions-02-vehicle-driving');

    // The rest of the drive, then P: it ends, and the page notices with the live update.
    const rest: NativeMessage[] = Array.from({ length: DRIVE_STEPS - SO_FAR }, (_, i) =>
      driveMessage(SO_FAR + i, at(SO_FAR + i)),
    );
    const last = driveMessage(DRIVE_STEPS, at(DRIVE_STEPS));
    rest.push({ ...last, metrics: { ...last.metrics, gear: 'P', speed_kmh: 0, ignition: false } });
    await publish(server.url, VIN, deviceToken, rest);
    await expect
      .poll(async () => (await sessions('?kind=drive')).map((s) => s.endMs !== null), { timeout: 20_000 })
      .toEqual([true]);
    // A moment after the live update, or at the latest with the page's 30 s refresh.
    await expect.poll(() => now.getByText(/Driving since/).count(), { timeout: 45_000 }).toBe(0);
    drive = (await sessions('?kind=drive'))[0];
    expect(drive?.stats.distance_km).toBeGreaterThan(10);
  });

  it('lists the drive with where, how far, how long and how much energy', async () => {
    if (!drive) throw new Error('no drive');
    const distance = `${drive.stats.distance_km.toFixed(1)} km`;
    await page.getByRole('main').getByRole('link', { name: 'Drives and charges' }).click();
    await page.waitForURL(new RegExp(`/vehicles/${vehicleId}/sessions$`));
    const row = page.locator(`tr[data-session="${drive.id}"]`);
    await row.waitFor();
    await expect(row.locator('[data-stat="distance"]').textContent()).resolves.toBe(distance);
    await expect(row.getByText('Drive', { exact: true }).count()).resolves.toBe(1);
    await expect(row.textContent()).resolves.toMatch(/52\.\d{4}, 13\.\d{4} → 52\.\d{4}, 13\.\d{4}/);
    await expect(row.textContent()).resolves.toContain('40 min');
    await screenshot(page, 'sessions-03-vehicle-list');
    // Charges only: none; back to all kinds.
    await page.getByLabel('Kind').selectOption('charge');
    await page.getByText('Nothing matches these filters.').waitFor();
    await page.getByLabel('Kind').selectOption('all');
    await page.getByLabel('Time range').selectOption('week');
    await row.waitFor();
    await page.setViewportSize(phone);
    await row.waitFor();
    await screenshot(page, 'sessions-04-vehicle-list-phone');
    await page.setViewportSize(laptop);

    // Across vehicles, with the vehicle's name.
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Drives and charges' })
      .click();
    await page.waitForURL(/\/sessions$/);
    await page.locator(`tr[data-session="${drive.id}"]`).getByRole('cell', { name: 'Family car' }).waitFor();
  });

  it("shows the drive's track on the map fitted to it, its figures and charts", async () => {
    if (!drive) throw new Error('no drive');
    await page.locator(`tr[data-session="${drive.id}"]`).getByRole('link').click();
    await page.waitForURL(new RegExp(`/sessions/${drive.id}$`));
    await page.getByRole('heading', { name: /^Drive/ }).waitFor();
    // The track is a Leaflet path through the drive's positions (the start and end dots are arcs, no L).
    const vertices = () =>
      page
        .locator('.leaflet-overlay-pane path')
        .evaluateAll((paths) =>
          Math.max(0, ...paths.map((p) => (p.getAttribute('d') ?? '').split('L').length)),
        );
    await expect.poll(vertices, { timeout: 15_000 }).toBeGreaterThan(5);
    await expect(page.locator('[data-stat="distance"] dd').textContent()).resolves.toBe(
      `${drive.stats.distance_km.toFixed(1)} km`,
    );
    await expect(page.locator('[data-stat="duration"] dd').textContent()).resolves.toBe('40 min');
    await page.locator('[data-stat="energy_used"] dd').getByText(/kWh$/).waitFor();
    await page.getByRole('region', { name: 'Speed' }).locator('canvas').waitFor();
    await page.getByRole('region', { name: 'Battery level' }).locator('canvas').waitFor();
    await page.getByRole('button', { name: 'Delete' }).waitFor();
    await screenshot(page, 'sessions-05-drive');
    await page.setViewportSize(phone);
    await page.getByRole('region', { name: 'Speed' }).locator('canvas').waitFor();
    await screenshot(page, 'sessions-06-drive-phone');
    await page.setViewportSize(laptop);
  });

  it('does not offer a viewer the delete button', async () => {
    if (!drive) throw new Error('no drive');
    const created = await call(page, 'POST', '/api/v1/users', { ...viewer, role: 'viewer' });
    expect(created.status).toBe(201);
    const shared = await call(page, 'POST', `/api/v1/vehicles/${vehicleId}/access`, {
      email: viewer.email,
      role: 'viewer',
    });
    expect(shared.status).toBeLessThan(300);
    const other = await browser.newContext({ baseURL: server.url, viewport: phone, colorScheme: 'dark' });
    try {
      const p = await other.newPage();
      p.setDefaultTimeout(10_000);
      await logIn(p, viewer);
      await p.goto(`/sessions/${drive.id}`);
      await p.locator('[data-stat="distance"]').waitFor();
      await p.getByRole('region', { name: 'Speed' }).locator('canvas').waitFor();
      await expect(p.getByRole('button', { name: 'Delete' }).count()).resolves.toBe(0);
      await screenshot(p, 'sessions-07-drive-viewer-phone-dark');
      // No recording control on the vehicle's page either.
      await p.goto(`/vehicles/${vehicleId}`);
      await p.getByRole('heading', { name: 'Family car' }).waitFor();
      await p.getByText('Last data').waitFor();
      await expect(p.getByRole('button', { name: 'Start recording' }).count()).resolves.toBe(0);
    } finally {
      await other.close();
    }
  });

  it('starts and stops a recording from the vehicle page', async () => {
    await page.goto(`/vehicles/${vehicleId}`);
    const now = page.getByRole('region', { name: 'Sessions in progress' });
    await now.getByRole('button', { name: 'Start recording' }).click();
    await now.getByRole('link', { name: /^Recording since / }).waitFor();
    await screenshot(page, 'sessions-08-vehicle-recording');
    await now.getByRole('button', { name: 'Stop recording' }).click();
    await now.getByRole('button', { name: 'Start recording' }).waitFor();
    await expect(now.getByText(/Recording since/).count()).resolves.toBe(0);
    const recordings = await sessions('?kind=manual');
    expect(recordings.map((s) => s.endMs !== null)).toEqual([true]);
  });

  it('pages to older sessions with "Older", without doubles', async () => {
    // 26 more recordings: 27 with the one above, more than a page of 25.
    for (let i = 0; i < 26; i++) {
      const started = await call<Session>(page, 'POST', `/api/v1/vehicles/${vehicleId}/sessions`, {
        kind: 'manual',
        name: `Errand ${i + 1}`,
      });
      expect(started.status).toBe(201);
      expect((await call(page, 'POST', `/api/v1/sessions/${started.body.id}/stop`)).status).toBe(200);
    }
    await page.goto(`/vehicles/${vehicleId}/sessions?kind=manual`);
    const rows = page.locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(25);
    await page.getByRole('row').filter({ hasText: 'Errand 26' }).waitFor();
    await page.getByRole('button', { name: 'Older' }).click();
    await expect.poll(() => rows.count()).toBe(27);
    const ids = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-session')));
    expect(new Set(ids).size).toBe(27);
    await expect(page.getByRole('button', { name: 'Older' }).count()).resolves.toBe(0);
  });

  it('deletes the drive after a confirmation that says its samples go too, and returns to the list', async () => {
    if (!drive) throw new Error('no drive');
    // Drives only: the recordings above are newer and fill the first page.
    await page.goto(`/vehicles/${vehicleId}/sessions?kind=drive`);
    await page.locator(`tr[data-session="${drive.id}"]`).getByRole('link').click();
    await page.waitForURL(new RegExp(`/sessions/${drive.id}$`));
    await page.getByRole('button', { name: 'Delete' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete this drive?' });
    await dialog.getByText(/every sample the vehicle recorded in that time/).waitFor();
    await screenshot(page, 'sessions-09-delete-confirm');
    // Cancel has the focus, so Enter cannot delete by accident; Escape cancels, deletes nothing, and gives
    // the focus back to the Delete button.
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Cancel');
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog.count()).toBe(0);
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Delete');
    expect((await call(page, 'GET', `/api/v1/sessions/${drive.id}`)).status).toBe(200);

    await page.getByRole('button', { name: 'Delete' }).click();
    await dialog.getByRole('button', { name: 'Delete drive' }).click();
    // Back to the list it came from, filter kept.
    await page.waitForURL(new RegExp(`/vehicles/${vehicleId}/sessions\\?kind=drive$`));
    await page.getByText('Nothing matches these filters.').waitFor();
    await expect(page.locator(`tr[data-session="${drive.id}"]`).count()).resolves.toBe(0);
    expect((await call(page, 'GET', `/api/v1/sessions/${drive.id}`)).status).toBe(404);
    // The samples inside it went with it: the drive's first hour of history has no speed left.
    const samples = await call<{ series: Array<{ metric: string; t: number[] }> }>(
      page,
      'GET',
      `/api/v1/vehicles/${vehicleId}/samples?from=${at(1)}&to=${at(DRIVE_STEPS - 1)}&metrics=speed_kmh&maxPoints=100`,
    );
    expect(samples.body.series.find((s) => s.metric === 'speed_kmh')?.t ?? []).toEqual([]);
  });
});
