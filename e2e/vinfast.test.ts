import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeVinFast, startFakeVinFast } from '../apps/server/src/test/fake-vinfast.js';
import { recordSecrets } from '../apps/server/src/test/log-leaks.js';
import { launchBrowser, noBrowser } from './support/browser.js';
import { type RunningServer, startServer } from './support/server.js';
import { ensureWebBuilt } from './support/web-build.js';

const admin = { email: 'admin@example.org', password: 'correct horse battery staple' };
const owner = { email: 'owner@example.com', password: 'vinfast-e2e-password-8Jq2Zp' };
const VIN = 'RLLVFE2E000000001';

/**
 * Settings → Connected accounts → VinFast as an owner meets it, against the fake VinFast cloud: a wrong
 * password named as such, connecting with email, password and region, picking the car, a pushed message
 * on the vehicle's page, and disconnecting.
 */
describe.skipIf(noBrowser)('VinFast account in a browser', { timeout: 120_000 }, () => {
  let fake: FakeVinFast;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    recordSecrets([owner.password]);
    await ensureWebBuilt();
    fake = await startFakeVinFast();
    fake.addUser({ ...owner, vehicles: [{ vin: VIN, model: 'VF 8', year: 2024, name: 'Green VF 8' }] });
    server = await startServer({
      TACHO_ADMIN_EMAIL: admin.email,
      TACHO_ADMIN_PASSWORD: admin.password,
      TACHO_VINFAST_AUTH_URL: fake.authUrl,
      TACHO_VINFAST_API_URL: fake.apiUrl,
      TACHO_VINFAST_COGNITO_URL: fake.cognitoUrl,
      TACHO_VINFAST_IOT_URL: fake.iotUrl,
      TACHO_VINFAST_COGNITO_POOL_ID: fake.identityPoolId,
    });
    browser = await launchBrowser();
    const context = await browser.newContext({ baseURL: server.url, viewport: { width: 1280, height: 860 } });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto('/login');
    await page.getByLabel('Email').fill(admin.email);
    await page.getByLabel('Password', { exact: true }).fill(admin.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(/\/vehicles$/);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await fake?.close();
  });

  it('connects a VinFast account, adds its car, shows a pushed value, and disconnects', async () => {
    await page.goto('/settings/connected-accounts');
    await page.getByText('No VinFast account is connected.').waitFor();
    await page.getByRole('button', { name: 'Connect a VinFast account' }).click();
    const form = page.getByRole('form', { name: 'Connect a VinFast account' });
    await form.getByLabel('VinFast account email').fill(owner.email);
    await form.getByLabel('VinFast password').fill('not-the-password');
    await form.getByLabel('Region').selectOption('vn');
    await form.getByRole('button', { name: 'Connect' }).click();
    await form.getByText('VinFast refused this email and password').waitFor();
    // The Tacho login survives VinFast's refusal.
    expect(page.url()).toMatch(/\/settings\/connected-accounts$/);

    await form.getByLabel('VinFast password').fill(owner.password);
    await form.getByRole('button', { name: 'Connect' }).click();
    const account = page.getByRole('article', { name: `VinFast account ${owner.email}` });
    await expect(account.getByTestId('vinfast-account-state').textContent()).resolves.toBe('Connected');

    const row = account.getByRole('row', { name: /Green VF 8/ });
    await row.getByRole('button', { name: 'Add Green VF 8' }).click();
    const open = row.getByRole('link', { name: 'Open' });
    await open.waitFor();
    const href = await open.getAttribute('href');

    // The server's runtime connects to the fake's AWS IoT and subscribes; then the car pushes.
    await expect.poll(() => fake.subscribers(VIN), { timeout: 30_000 }).toBe(1);
    await page.reload();
    await page.getByTestId('vinfast-stream').getByText('receiving live data').waitFor();
    await fake.push(VIN, [
      { deviceKey: '34183_00001_00009', value: '77', lastUpdateTime: Date.now() - 1000 },
    ]);
    await page.goto(href!);
    await page
      .getByText(/77\s?%/)
      .first()
      .waitFor({ timeout: 20_000 });

    // The Aliases page reports what the model's cars actually sent.
    await page.getByRole('link', { name: 'Aliases' }).click();
    await page.waitForURL(/\/aliases$/);
    await page.getByTestId('seen-model').filter({ hasText: 'VINFAST VF8 2024' }).waitFor();

    await page.goto('/settings/connected-accounts');
    await page.getByRole('button', { name: `Disconnect ${owner.email}` }).click();
    const dialog = page.getByRole('dialog', { name: `Disconnect ${owner.email}?` });
    await dialog.getByRole('button', { name: 'Disconnect' }).click();
    await page.getByText('No VinFast account is connected.').waitFor();
    await expect.poll(() => fake.subscribers(VIN), { timeout: 15_000 }).toBe(0);
    await page.goto('/vehicles');
    await page
      .getByRole('link', { name: /Green VF 8/ })
      .first()
      .waitFor();
  });

  it('says "Sign in to VinFast again" once VinFast ended the sign-in, and signing in again mends the account', async () => {
    await page.goto('/settings/connected-accounts');
    await page.getByRole('button', { name: 'Connect a VinFast account' }).click();
    const form = page.getByRole('form', { name: 'Connect a VinFast account' });
    await form.getByLabel('VinFast account email').fill(owner.email);
    await form.getByLabel('VinFast password').fill(owner.password);
    await form.getByLabel('Region').selectOption('vn');
    await form.getByRole('button', { name: 'Connect' }).click();
    const account = page.getByRole('article', { name: `VinFast account ${owner.email}` });
    await expect(account.getByTestId('vinfast-account-state').textContent()).resolves.toBe('Connected');
    // VinFast ends the sign-in (a new password, signed out everywhere): its tokens and the refresh fail.
    fake.revokeRefreshTokens(owner.email);
    fake.expireAccessTokens();
    await expect
      .poll(
        async () => {
          await page.reload();
          // Listing the account's cars needs VinFast.
          const cars = account.getByRole('button', { name: `Vehicles of ${owner.email}` });
          if ((await cars.count()) > 0) await cars.click();
          return account.getByTestId('vinfast-account-state').textContent();
        },
        { timeout: 30_000 },
      )
      .toBe('Sign in to VinFast again');
    await account.getByRole('button', { name: 'Sign in to VinFast again' }).click();
    const again = account.getByRole('form', { name: 'Connect a VinFast account' });
    expect(await again.getByLabel('VinFast account email').inputValue()).toBe(owner.email);
    await again.getByLabel('VinFast password').fill(owner.password);
    await again.getByRole('button', { name: 'Connect' }).click();
    // Once the server has answered (the card showed the old state until then).
    await expect
      .poll(() => account.getByTestId('vinfast-account-state').textContent(), { timeout: 15_000 })
      .toBe('Connected');
    expect(await page.getByRole('article', { name: /^VinFast account / }).count()).toBe(1);
    await account.getByRole('row', { name: /Green VF 8/ }).waitFor();
  });
});
