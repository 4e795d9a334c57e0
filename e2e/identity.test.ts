import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freeLoopbackPort,
  startTestProvider,
  type TestProvider,
} from '../apps/server/src/test/oidc-provider.js';
import { launchBrowser, noBrowser, screenshot } from './support/browser.js';
import { runTacho } from './support/cli.js';
import { type RunningServer, startServer } from './support/server.js';
import { ensureWebBuilt } from './support/web-build.js';

const admin = { email: 'admin@example.org', password: 'correct horse battery staple' };

/** Waits for `check` to hold, polling; fails naming `what`. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what}: not within ${ms} ms`);
}

/**
 * Issue 20 end to end: a real OpenID provider process, a real server, Debian's Chromium and the `tacho`
 * command as its own process. The server starts before the provider does, as after a power cut.
 */
describe.skipIf(noBrowser)(
  'identity in a browser: provider sign-in and tacho login',
  { timeout: 120_000 },
  () => {
    let provider: TestProvider;
    let server: RunningServer;
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;
    let aliceId = '';
    const config = mkdtempSync(join(tmpdir(), 'tacho-e2e-xdg-'));

    beforeAll(async () => {
      await ensureWebBuilt();
      const providerPort = await freeLoopbackPort();
      server = await startServer({
        TACHO_ADMIN_EMAIL: admin.email,
        TACHO_ADMIN_PASSWORD: admin.password,
        TACHO_OIDC_ISSUER: `http://127.0.0.1:${providerPort}`,
        TACHO_OIDC_CLIENT_ID: 'tacho',
        TACHO_OIDC_CLIENT_SECRET: 'e2e client secret',
        TACHO_OIDC_NAME: 'Test SSO',
      });
      provider = await startTestProvider({
        port: providerPort,
        clients: [
          {
            client_id: 'tacho',
            client_secret: 'e2e client secret',
            redirect_uris: [`${server.url}/api/v1/auth/oidc/callback`],
            grant_types: ['authorization_code'],
            response_types: ['code'],
          },
        ],
        accounts: {
          alice: { email: 'alice@example.org', email_verified: true, name: 'Alice' },
          mallory: { email: 'mallory@example.org', email_verified: true },
        },
      });
      // Alice has an account (an operator with a phone) and her provider identity is linked to it.
      const app = server.app;
      const alice = await app.auth.users.insert({
        email: 'alice@example.org',
        name: 'Alice',
        password: 'alice has a long password',
        role: 'operator',
      });
      aliceId = alice.id;
      await app.auth.identities.link(alice.id, { issuer: provider.issuer, subject: 'alice' }, alice.id);
      await app.vehicles.create(
        { kind: 'user', userId: alice.id, role: 'operator' },
        { name: "Alice's phone", kind: 'phone' },
      );
      browser = await launchBrowser();
      context = await browser.newContext({ baseURL: server.url, viewport: { width: 1280, height: 860 } });
      page = await context.newPage();
      page.setDefaultTimeout(15_000);
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await server?.close();
      await provider?.dispose();
      rmSync(config, { recursive: true, force: true });
    });

    it('refuses an identity nobody linked, and says why on the login page', async () => {
      await page.goto('/login');
      await page.getByRole('link', { name: 'Sign in with Test SSO' }).click();
      await page.getByLabel('Login').fill('mallory');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/login\?oidc_error=not_linked/);
      await page
        .getByRole('alert')
        .getByText('No Tacho account is linked to this Test SSO sign-in')
        .waitFor();
      await screenshot(page, '20-provider-not-linked');
    });

    it('signs Alice in through the provider; Settings says how the login began', async () => {
      // The provider still holds Mallory's session there (cookies know no ports: both run on 127.0.0.1).
      await context.clearCookies();
      await page.goto('/login?next=%2Fsettings%3Ftab%3Dlogins');
      await page.getByRole('link', { name: 'Sign in with Test SSO' }).click();
      await page.getByLabel('Login').fill('alice');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/settings\?tab=logins$/);
      await page.getByRole('cell', { name: 'provider sign-in' }).waitFor();
      await screenshot(page, '20-settings-logins-oidc');
      await page.goto('/settings?tab=signins');
      await page.getByRole('cell', { name: 'alice@example.org' }).waitFor();
      await screenshot(page, '20-settings-linked-sign-ins');
    });

    it('logs the CLI in through the browser; then tacho vehicles works, and tacho logout revokes it', async () => {
      const env = { XDG_CONFIG_HOME: config, HOME: config };
      const login = runTacho(['login', '--url', server.url, '--no-browser'], env);
      await until('the CLI printed its URL', () => /cli-login\?c=/.test(login.stdout()));
      const url = /(http:\/\/\S+\/cli-login\?c=\S+)/.exec(login.stdout())![1]!;
      const code = /shows the code ([A-Z]{4}-[A-Z]{4})/.exec(login.stdout())![1]!;
      expect(url.startsWith(`${server.url}/cli-login?c=`)).toBe(true);

      // A browser that is not signed in: the page sends it to log in (here with the provider) and back.
      await context.clearCookies();
      await page.goto(url);
      await page.waitForURL(/\/login\?next=%2Fcli-login/);
      await page.getByRole('link', { name: 'Sign in with Test SSO' }).click();
      await page.getByLabel('Login').fill('alice');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/cli-login\?c=/);
      await page.getByText(code, { exact: true }).waitFor();
      await screenshot(page, '20-cli-login-confirm');
      await page.getByRole('button', { name: 'The code matches: log it in' }).click();
      await page.getByRole('status').getByText('is logged in as alice@example.org').waitFor();
      expect(await login.exited).toBe(0);
      expect(login.stdout()).toContain('Logged in to');

      const file = join(config, 'tacho', 'credentials.json');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const saved = JSON.parse(readFileSync(file, 'utf8')) as { url: string; token: string };
      expect(saved.url).toBe(server.url);
      expect(saved.token).toMatch(/^tacho_/);
      // The token never travelled in a URL: not in the page's address, not in the CLI's output.
      expect(page.url()).not.toContain(saved.token);
      expect(login.stdout()).not.toContain(saved.token);

      const vehicles = runTacho(['vehicles'], env);
      expect(await vehicles.exited).toBe(0);
      expect(vehicles.stdout()).toContain("Alice's phone");

      await page.goto('/settings?tab=logins');
      await page.getByRole('heading', { name: 'Command-line logins' }).waitFor();
      await expect(page.getByRole('button', { name: /Revoke the login of/ }).count()).resolves.toBe(1);
      await screenshot(page, '20-settings-cli-logins');

      const logout = runTacho(['logout'], env);
      expect(await logout.exited).toBe(0);
      expect(existsSync(file)).toBe(false);
      const res = await fetch(`${server.url}/api/v1/vehicles`, {
        headers: { authorization: `Bearer ${saved.token}` },
      });
      expect(res.status).toBe(401);
      expect(aliceId).not.toBe('');
    });
  },
);
