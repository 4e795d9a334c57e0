import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, noBrowser, screenshot } from './support/browser.js';
import { type RunningServer, startServer } from './support/server.js';
import { ensureWebBuilt } from './support/web-build.js';

/** First start without TACHO_ADMIN_*: the printed one-time link is where the first admin is created. */
// A page flow holds many steps of up to 10 s each on a loaded machine.
describe.skipIf(noBrowser)('first-admin setup in a browser', { timeout: 90_000 }, () => {
  let server: RunningServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    await ensureWebBuilt();
    server = await startServer({});
    browser = await launchBrowser();
    page = await browser.newPage({ baseURL: server.url, viewport: { width: 1024, height: 800 } });
    page.setDefaultTimeout(10_000);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('refuses a wrong setup link with an explanation', async () => {
    await page.goto('/setup?token=not-the-token');
    await page.getByText('This setup link is not right').waitFor();
  });

  it('creates the first admin from the printed link, logs them in, and spends the link', async () => {
    const link = server.app.auth.setupUrl;
    expect(link).toMatch(/\/setup\?token=/);
    await page.goto(link ?? '');
    await page.getByLabel('Name').fill('Ada Admin');
    await page.getByLabel('Email').fill('ada@example.org');
    await page.getByLabel('Password', { exact: true }).fill('short');
    await page.getByText('The password needs at least 12 characters.').waitFor();
    await page.getByLabel('Password', { exact: true }).fill('a long enough password');
    await page.getByLabel('Repeat password').fill('a long enough password');
    await screenshot(page, '20-setup');
    await page.getByRole('button', { name: 'Create administrator' }).click();
    await page.waitForURL(/\/vehicles$/);
    await page.getByText('Ada Admin · admin').waitFor();

    await page.goto(link ?? '');
    await page.getByText('Tacho is already set up: this setup link was used').waitFor();
  });
});
