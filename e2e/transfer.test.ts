import { readFileSync } from 'node:fs';
import type { SessionPage } from '@tacho/protocol';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, noBrowser, screenshot } from './support/browser.js';
import { driveMessage, publish } from './support/device.js';
import { type RunningServer, startServer } from './support/server.js';
import { ensureWebBuilt } from './support/web-build.js';

const admin = { email: 'admin@example.org', password: 'correct horse battery staple' };
const VIN = 'WVWZZZ1JZXW000019';
const COPY_VIN = 'WVWZZZ1JZXW000020';
const STEPS = 40;

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

/** Export from the history and session pages, import on a vehicle's Import page, in Chromium. */
describe.skipIf(noBrowser)('export and import in a browser', { timeout: 120_000 }, () => {
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let vehicleId = '';
  let copyId = '';
  let gpxPath = '';

  beforeAll(async () => {
    await ensureWebBuilt();
    server = await startServer({ TACHO_ADMIN_EMAIL: admin.email, TACHO_ADMIN_PASSWORD: admin.password });
    browser = await launchBrowser();
    context = await browser.newContext({
      baseURL: server.url,
      viewport: { width: 1280, height: 860 },
      acceptDownloads: true,
    });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto('/login');
    await page.getByLabel('Email').fill(admin.email);
    await page.getByLabel('Password', { exact: true }).fill(admin.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(/\/vehicles$/);
    const vehicle = await call<{ id: string }>(page, 'POST', '/api/v1/vehicles', {
      vin: VIN,
      name: 'Family car',
    });
    vehicleId = vehicle.body.id;
    const copy = await call<{ id: string }>(page, 'POST', '/api/v1/vehicles', {
      vin: COPY_VIN,
      name: 'Imported car',
    });
    copyId = copy.body.id;
    const token = await call<{ token: string }>(page, 'POST', `/api/v1/vehicles/${vehicleId}/tokens`, {});
    // A 40-minute drive that ended a minute ago, then P.
    const start = Date.now() - (STEPS + 1) * 60_000;
    const messages = Array.from({ length: STEPS }, (_, i) => driveMessage(i, start + i * 60_000));
    messages.push({ ts: start + STEPS * 60_000, metrics: { gear: 'P' } });
    await publish(server.url, VIN, token.body.token, messages);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const page1 = await call<SessionPage>(page, 'GET', `/api/v1/vehicles/${vehicleId}/sessions?kind=drive`);
      if (page1.body.items.some((s) => s.endMs !== null)) break;
      if (Date.now() > deadline) throw new Error('the drive was not recorded');
      await page.waitForTimeout(200);
    }
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('exports the history range as GPX with the Export button, named after the vehicle and range', async () => {
    await page.goto(`/vehicles/${vehicleId}/history?range=day`);
    await page.getByLabel('Export format').selectOption('gpx');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: /^Export this range as GPX/ }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(
      /^tacho-WVWZZZ1JZXW000019-\d{4}-\d\d-\d\dT\d{6}Z_\d{4}-\d\d-\d\dT\d{6}Z\.gpx$/,
    );
    gpxPath = (await download.path())!;
    const gpx = readFileSync(gpxPath, 'utf8');
    expect(gpx).toContain('<gpx version="1.1"');
    expect(gpx.match(/<trkpt /g)).toHaveLength(STEPS);
    await screenshot(page, 'transfer-history-export');
  });

  it('exports a drive as GeoJSON from its page', async () => {
    const drives = await call<SessionPage>(page, 'GET', `/api/v1/vehicles/${vehicleId}/sessions?kind=drive`);
    const drive = drives.body.items[0]!;
    await page.goto(`/vehicles/${vehicleId}/sessions`);
    await page.locator(`tr[data-session="${drive.id}"]`).getByRole('link').click();
    await page.waitForURL(/\/sessions\/[0-9a-f-]+$/);
    await page.getByLabel('Export format').selectOption('geojson');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: /^Export this session as GEOJSON/ }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^tacho-WVWZZZ1JZXW000019-drive-.*\.geojson$/);
    const fc = JSON.parse(readFileSync((await download.path())!, 'utf8'));
    expect(fc.type).toBe('FeatureCollection');
    expect(fc.features[0].geometry.type).toBe('LineString');
    expect(fc.features[0].properties.kind).toBe('drive');
    await screenshot(page, 'transfer-session-export');
  });

  it('imports the GPX into another vehicle on its Import page: progress, then the counts and the recording', async () => {
    await page.goto(`/vehicles/${copyId}`);
    await page.getByRole('link', { name: 'Import' }).click();
    await page.waitForURL(new RegExp(`/vehicles/${copyId}/import$`));
    await page
      .getByLabel('File')
      .setInputFiles({ name: 'drive.gpx', mimeType: 'application/gpx+xml', buffer: readFileSync(gpxPath) });
    await page.getByRole('button', { name: 'Import' }).click();
    const result = page.getByRole('region', { name: 'Import result' });
    await result.waitFor();
    await expect
      .poll(() => page.getByRole('progressbar', { name: 'Upload progress' }).getAttribute('value'))
      .not.toBe('0');
    expect(await result.locator('[data-count="stored"] dd').textContent()).toBe(String(STEPS));
    expect(await result.locator('[data-count="sessions"] dd').textContent()).toBe('1');
    await screenshot(page, 'transfer-import-done');
    await result.getByRole('link', { name: 'Recording 1' }).click();
    await page.waitForURL(/\/sessions\/[0-9a-f-]+$/);
    await page.getByRole('heading', { level: 1 }).waitFor();
    expect(await page.locator('[data-stat="distance"] dd').textContent()).toMatch(/km/);

    // The same file again: nothing stored twice.
    await page.goto(`/vehicles/${copyId}/import`);
    await page
      .getByLabel('File')
      .setInputFiles({ name: 'drive.gpx', mimeType: 'application/gpx+xml', buffer: readFileSync(gpxPath) });
    await page.getByRole('button', { name: 'Import' }).click();
    await page.getByRole('region', { name: 'Import result' }).waitFor();
    expect(await page.locator('[data-count="stored"] dd').textContent()).toBe('0');
    expect(await page.locator('[data-count="duplicates"] dd').textContent()).toBe(String(STEPS));
  });

  it('says why a broken file was refused, on a phone-wide screen too', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`/vehicles/${copyId}/import`);
    await page.getByLabel('File').setInputFiles({
      name: 'broken.gpx',
      mimeType: 'application/gpx+xml',
      buffer: Buffer.from('<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk>'),
    });
    await page.getByRole('button', { name: 'Import' }).click();
    await page.getByText(/GPX is not well-formed XML.*nothing was stored/).waitFor();
    await screenshot(page, 'transfer-import-refused-phone');
  });
});
