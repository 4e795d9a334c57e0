import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../apps/server/src/lib/clock.js';
import { FakeTesla } from '../apps/server/src/test/fake-tesla.js';
import { launchBrowser, noBrowser, screenshot } from './support/browser.js';
import { type RunningServer, startServer } from './support/server.js';
import { ensureWebBuilt } from './support/web-build.js';

const admin = { email: 'admin@example.org', password: 'correct horse battery staple' };
const VIN = '5YJ3E1EA7KF000017';

/**
 * Settings → Connected accounts as an owner meets it, against the fake Tesla: connect (the browser goes to
 * Tesla's sign-in and comes back), the account's state and requests today, a vehicle picked and polled,
 * and disconnecting.
 */
describe.skipIf(noBrowser)('Tesla account in a browser', { timeout: 90_000 }, () => {
  let fake: FakeTesla;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let context: BrowserContext;

  beforeAll(async () => {
    await ensureWebBuilt();
    fake = new FakeTesla({
      clock: systemClock,
      clientId: 'tacho-e2e',
      clientSecret: 'e2e-client-secret-0123',
    });
    await fake.start();
    fake.addCar({ id: '3744582737186151', vin: VIN, displayName: 'Red Model 3', state: 'online' });
    server = await startServer({
      TACHO_ADMIN_EMAIL: admin.email,
      TACHO_ADMIN_PASSWORD: admin.password,
      ...fake.env(),
    });
    browser = await launchBrowser();
    context = await browser.newContext({ baseURL: server.url, viewport: { width: 1280, height: 860 } });
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
    await fake?.stop();
  });

  it('connects a Tesla account, adds its vehicle, shows its state, and disconnects it', async () => {
    await page.goto('/settings');
    await page.getByRole('link', { name: 'Connected accounts' }).click();
    await page.waitForURL(/\/settings\/connected-accounts$/);
    await page.getByText('No Tesla account is connected.').waitFor();

    // To Tesla's sign-in (the fake approves at once) and back.
    await page.getByRole('button', { name: 'Connect a Tesla account' }).click();
    await page.waitForURL(/\/settings\/connected-accounts\?tesla=connected/);
    await page.getByText('Tesla account connected.').waitFor();
    const account = page.getByRole('article', { name: 'Tesla account owner@example.org' });
    await expect(account.getByTestId('tesla-account-state').textContent()).resolves.toBe('Connected');
    expect(fake.counts.authorize).toBe(1);

    // Its vehicles, as Tesla lists them; add the one.
    await account.getByRole('button', { name: 'Hide vehicles of owner@example.org' }).waitFor();
    const row = account.getByRole('row', { name: /Red Model 3/ });
    await row.getByRole('button', { name: 'Add Red Model 3' }).click();
    await row.getByRole('link', { name: 'Open' }).waitFor();

    // The poller reads it (it is online): the vehicle has data, and the account counts its requests.
    await expect.poll(async () => fake.counts.vehicle_data, { timeout: 20_000 }).toBeGreaterThan(0);
    await page.reload();
    // The address still names the account just connected: its vehicles are open.
    await account
      .getByRole('row', { name: /Red Model 3/ })
      .getByRole('link', { name: 'Open' })
      .waitFor();
    await screenshot(page, 'tesla-connected-accounts');
    const budget = await page.getByTestId('tesla-budget').textContent();
    expect(budget).toMatch(/^\d+ of 500 requests today$/);
    expect(Number(budget?.split(' ')[0])).toBeGreaterThanOrEqual(2);
    await page.goto('/vehicles');
    await page
      .getByRole('link', { name: /Red Model 3/ })
      .first()
      .waitFor();

    // Disconnect: asked first; the account goes, the vehicle stays.
    await page.goto('/settings/connected-accounts');
    await page.getByRole('button', { name: 'Disconnect owner@example.org' }).click();
    const dialog = page.getByRole('dialog', { name: 'Disconnect owner@example.org?' });
    await dialog.getByText('remove Tacho under Third-party apps').waitFor();
    await dialog.getByRole('button', { name: 'Disconnect' }).click();
    await page.getByText('No Tesla account is connected.').waitFor();
    await page.goto('/vehicles');
    await page
      .getByRole('link', { name: /Red Model 3/ })
      .first()
      .waitFor();
    expect(fake.counts.wake_up).toBe(0);
  });

  it("finishes the sign-in when the login's access cookie ran out while at Tesla", async () => {
    await page.goto('/settings/connected-accounts');
    await page.getByText('No Tesla account is connected.').waitFor();
    // At Tesla, the dashboard's short-lived access cookie expires (the refresh cookie stays).
    await context.route('**/oauth2/v3/authorize**', async (route) => {
      await context.clearCookies({ name: 'tacho_access' });
      await route.continue();
    });
    // What the callback answered and what the page sent, as they happened (a frame's address read later
    // may already be the one the page put in place of the fragment).
    const redirects: string[] = [];
    const finishes: string[] = [];
    const watch = (response: Response) => {
      if (response.url().includes('/api/v1/connectors/tesla/callback'))
        redirects.push(response.headers().location ?? '');
      if (response.url().includes('/api/v1/connectors/tesla/finish'))
        finishes.push(`${response.request().method()} ${response.status()}`);
    };
    page.on('response', watch);
    await page.getByRole('button', { name: 'Connect a Tesla account' }).click();
    await page.waitForURL(/\/settings\/connected-accounts\?tesla=connected/);
    await page.getByText('Tesla account connected.').waitFor();
    page.off('response', watch);
    // It came back signed out, with Tesla's answer in the fragment, and finished after renewing the login.
    expect(redirects).toHaveLength(1);
    expect(redirects[0]).toContain('/settings/connected-accounts#tesla_finish=');
    expect(finishes).toEqual(['POST 200']);
    // The code never stays in the address or the history.
    expect(page.url()).not.toContain('code');
    const account = page.getByRole('article', { name: 'Tesla account owner@example.org' });
    await expect(account.getByTestId('tesla-account-state').textContent()).resolves.toBe('Connected');
    await context.unroute('**/oauth2/v3/authorize**');
  });

  it('says "Sign in to Tesla again" once Tesla withdrew its access, and a new sign-in mends the account', async () => {
    // The account from the test before, still connected. Its owner removes Tacho at Tesla.
    fake.removeApp();
    await page.goto('/settings/connected-accounts');
    const account = page.getByRole('article', { name: 'Tesla account owner@example.org' });
    // Listing its vehicles needs Tesla: the token is refused, so is the refresh, and the account says so.
    await account.getByRole('button', { name: 'Vehicles of owner@example.org' }).click();
    await expect
      .poll(
        async () => {
          await page.reload();
          return account.getByTestId('tesla-account-state').textContent();
        },
        { timeout: 30_000 },
      )
      .toBe('Sign in to Tesla again');
    expect(await account.getByText('Tesla no longer accepts this sign-in').count()).toBe(1);
    // Its vehicles cannot be listed until then: no button offers them.
    expect(await account.getByRole('button', { name: 'Vehicles of owner@example.org' }).count()).toBe(0);
    await screenshot(page, 'tesla-sign-in-again');
    const signIns = fake.counts.authorize;
    await account.getByRole('button', { name: 'Sign in to Tesla again' }).click();
    await page.waitForURL(/\/settings\/connected-accounts\?tesla=connected/);
    await page.getByText('Tesla account connected.').waitFor();
    expect(fake.counts.authorize).toBe(signIns + 1);
    // The same account, mended: connected, its vehicles listed again.
    await expect(account.getByTestId('tesla-account-state').textContent()).resolves.toBe('Connected');
    expect(await page.getByRole('article', { name: /^Tesla account / }).count()).toBe(1);
    await account.getByRole('row', { name: /Red Model 3/ }).waitFor();
  });
});
