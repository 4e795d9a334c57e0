import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import {
  CookieJar,
  freeLoopbackPort,
  signInAtProvider,
  startTestProvider,
  type TestProvider,
} from '../../test/oidc-provider.js';
import { engines } from '../../test/storage.js';
import { waitUntil } from '../telemetry/fault-helpers.js';
import { createTestUser, type TestUser } from './testing.js';

/**
 * Sign-in with an OpenID provider (issue 20.2) against a real provider process on loopback: the code
 * flow is walked as a browser would (the login form, the redirects), the callback goes to Tacho.
 */
const PUBLIC_URL = 'http://127.0.0.1:18080';
const CLIENT = {
  client_id: 'tacho',
  client_secret: 'tacho test client secret',
  redirect_uris: [`${PUBLIC_URL}/api/v1/auth/oidc/callback`],
  grant_types: ['authorization_code'],
  response_types: ['code'],
};
const ACCOUNTS = {
  alice: { email: 'alice@example.test', email_verified: true, name: 'Alice' },
  bob: { email: 'bob@example.test', email_verified: true, name: 'Bob', groups: ['tacho-ops'] },
  boss: { email: 'boss@example.test', email_verified: true, name: 'Boss', groups: ['tacho-admins'] },
  nomail: { name: 'No Mail' },
  unverified: { email: 'victim@example.test', email_verified: false },
  outsider: { email: 'outsider@example.test', email_verified: true, groups: ['other'] },
};

function oidcEnv(provider: { issuer: string }, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TACHO_PUBLIC_URL: PUBLIC_URL,
    TACHO_OIDC_ISSUER: provider.issuer,
    TACHO_OIDC_CLIENT_ID: CLIENT.client_id,
    TACHO_OIDC_CLIENT_SECRET: CLIENT.client_secret,
    TACHO_OIDC_NAME: 'Test SSO',
    TACHO_OIDC_SCOPES: 'openid email profile groups',
    TACHO_OIDC_ROLE_CLAIM: 'groups',
    TACHO_OIDC_ROLE_MAP: 'tacho-admins=admin,tacho-ops=operator,*=viewer',
    ...extra,
  };
}

for (const engine of engines) {
  describe(`sign in with an OpenID provider [${engine}]`, () => {
    let provider: TestProvider;
    let app: TestApp;
    let admin: TestUser;

    beforeAll(async () => {
      provider = await startTestProvider({ clients: [CLIENT], accounts: ACCOUNTS });
    });
    afterAll(async () => {
      await provider?.dispose();
    });
    beforeEach(async () => {
      app = await createTestApp(engine, oidcEnv(provider));
      admin = await createTestUser(app, 'admin');
      await waitUntil('provider discovered', () => app.auth.oidc!.available);
    });
    afterEach(async () => {
      await app.dispose();
    });

    /** GET /start, the provider's login as `login`, then the callback: the callback's answer. */
    async function signIn(login: string, headers: Record<string, string> = {}, query = '') {
      const start = await app.http.inject({ method: 'GET', url: `/api/v1/auth/oidc/start${query}`, headers });
      expect(start.statusCode).toBe(302);
      const attemptCookie = start.cookies.find((c) => c.name === 'tacho_oidc')!;
      expect(attemptCookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/api/v1/auth/oidc' });
      const authorize = new URL(start.headers.location as string);
      expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
      expect(authorize.searchParams.get('redirect_uri')).toBe(`${PUBLIC_URL}/api/v1/auth/oidc/callback`);
      expect(authorize.searchParams.get('state')).toBeTruthy();
      expect(authorize.searchParams.get('nonce')).toBeTruthy();
      const back = await signInAtProvider(authorize.href, login, new CookieJar());
      const callback = new URL(back);
      const cookie = [headers.cookie, `tacho_oidc=${attemptCookie.value}`].filter(Boolean).join('; ');
      const url = `${callback.pathname}${callback.search}`;
      const res = await app.http.inject({ method: 'GET', url, headers: { cookie } });
      return { res, url, cookie, callback };
    }
    const accessCookie = (res: { cookies: Array<{ name: string; value: string }> }) =>
      res.cookies.find((c) => c.name === 'tacho_access')?.value;
    const me = async (access: string | undefined) =>
      app.http.inject({
        method: 'GET',
        url: '/api/v1/auth/me',
        headers: { cookie: `tacho_access=${access}` },
      });
    const linkAs = async (userId: string, subject: string) =>
      app.http.inject({
        method: 'POST',
        url: `/api/v1/users/${userId}/identities`,
        headers: admin.headers,
        payload: { issuer: provider.issuer, subject },
      });

    it('shows the provider on the login page and signs a linked user in with a cookie login marked oidc', async () => {
      const providers = await app.http.inject({ method: 'GET', url: '/api/v1/auth/providers' });
      expect(providers.json()).toEqual({
        oidc: { name: 'Test SSO', available: true, startUrl: '/api/v1/auth/oidc/start' },
      });
      const alice = await createTestUser(app, 'operator', { email: 'alice-password@example.test' });
      expect((await linkAs(alice.id, 'alice')).statusCode).toBe(201);

      const { res } = await signIn('alice', {}, '?next=/vehicles');
      expect(res.statusCode).toBe(302);
      expect(res.headers.location).toBe('/vehicles');
      const access = accessCookie(res);
      const who = await me(access);
      expect(who.json()).toMatchObject({ id: alice.id, role: 'viewer' });
      const logins = await app.http.inject({
        method: 'GET',
        url: '/api/v1/auth/logins',
        headers: { cookie: `tacho_access=${access}` },
      });
      expect(logins.json()).toEqual([expect.objectContaining({ method: 'oidc', current: true })]);
      const identities = await app.http.inject({
        method: 'GET',
        url: `/api/v1/users/${alice.id}/identities`,
        headers: admin.headers,
      });
      expect(identities.json()).toEqual([
        expect.objectContaining({ issuer: provider.issuer, subject: 'alice', email: 'alice@example.test' }),
      ]);
    });

    it('never links by email alone: an existing account with that email stays apart, unverified or not', async () => {
      await createTestUser(app, 'operator', { email: 'alice@example.test' });
      const { res } = await signIn('alice');
      expect(res.headers.location).toBe('/login?oidc_error=not_linked');
      expect(accessCookie(res)).toBeUndefined();
      // An invitation (an account without password or identity) with the email the provider says is
      // unverified: nothing links.
      await app.http.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: admin.headers,
        payload: { email: 'victim@example.test', name: 'Victim', role: 'operator' },
      });
      expect((await signIn('unverified')).res.headers.location).toBe('/login?oidc_error=not_linked');
    });

    it('accepts an invitation with a verified email, and maps the role claim at each sign-in', async () => {
      const invite = await app.http.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: admin.headers,
        payload: { email: 'bob@example.test', name: 'Bob', role: 'viewer' },
      });
      expect(invite.json()).toMatchObject({ hasPassword: false });
      const { res } = await signIn('bob');
      expect(res.statusCode).toBe(302);
      expect((await me(accessCookie(res))).json()).toMatchObject({
        email: 'bob@example.test',
        role: 'operator',
      });
    });

    it('a user without an email: refused unless an admin links the identity, then signed in', async () => {
      expect((await signIn('nomail')).res.headers.location).toBe('/login?oidc_error=not_linked');
      const user = await createTestUser(app, 'viewer');
      await linkAs(user.id, 'nomail');
      const { res } = await signIn('nomail');
      expect((await me(accessCookie(res))).json()).toMatchObject({ id: user.id });
    });

    it('refuses a replayed callback (state and nonce are single use) and a callback without its cookie', async () => {
      const alice = await createTestUser(app, 'operator');
      await linkAs(alice.id, 'alice');
      const first = await signIn('alice');
      expect(accessCookie(first.res)).toBeTruthy();
      const replay = await app.http.inject({
        method: 'GET',
        url: first.url,
        headers: { cookie: first.cookie },
      });
      expect(replay.headers.location).toBe('/login?oidc_error=attempt_used');
      expect(accessCookie(replay)).toBeUndefined();
      const bare = await app.http.inject({ method: 'GET', url: first.url });
      expect(bare.headers.location).toBe('/login?oidc_error=no_attempt');
    });

    it('refuses a callback whose iss (RFC 9207) names another issuer', async () => {
      const alice = await createTestUser(app, 'operator');
      await linkAs(alice.id, 'alice');
      const start = await app.http.inject({ method: 'GET', url: '/api/v1/auth/oidc/start' });
      const cookie = `tacho_oidc=${start.cookies.find((c) => c.name === 'tacho_oidc')!.value}`;
      const back = new URL(await signInAtProvider(start.headers.location as string, 'alice'));
      back.searchParams.set('iss', 'http://127.0.0.1:9/evil');
      const res = await app.http.inject({
        method: 'GET',
        url: `${back.pathname}${back.search}`,
        headers: { cookie },
      });
      expect(res.headers.location).toBe('/login?oidc_error=callback_invalid');
      expect(accessCookie(res)).toBeUndefined();
    });

    it('creates an account at first sign-in only with TACHO_OIDC_AUTO_CREATE, with a verified email', async () => {
      await app.dispose();
      app = await createTestApp(engine, oidcEnv(provider, { TACHO_OIDC_AUTO_CREATE: 'true' }));
      await waitUntil('provider discovered', () => app.auth.oidc!.available);
      const boss = await signIn('boss');
      expect((await me(accessCookie(boss.res))).json()).toMatchObject({
        email: 'boss@example.test',
        role: 'admin',
      });
      expect((await signIn('nomail')).res.headers.location).toBe('/login?oidc_error=email_unverified');
      expect((await signIn('unverified')).res.headers.location).toBe('/login?oidc_error=email_unverified');
      const outsider = await signIn('outsider');
      expect((await me(accessCookie(outsider.res))).json()).toMatchObject({ role: 'viewer' });
    });

    it('links a provider sign-in to the signed-in account from Settings, and admins may require it only', async () => {
      const carol = await createTestUser(app, 'operator');
      const login = await app.http.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: carol.email, password: carol.password },
      });
      const cookie = `tacho_access=${accessCookie(login)}`;
      const linked = await signIn('alice', { cookie }, '?link=1');
      expect(linked.res.headers.location).toBe('/settings');
      const own = await app.http.inject({
        method: 'GET',
        url: '/api/v1/auth/identities',
        headers: { cookie },
      });
      expect(own.json()).toEqual([expect.objectContaining({ subject: 'alice' })]);
      // Linking needs a signed-in browser.
      expect(
        (await app.http.inject({ method: 'GET', url: '/api/v1/auth/oidc/start?link=1' })).statusCode,
      ).toBe(401);

      await app.http.inject({
        method: 'PATCH',
        url: `/api/v1/users/${carol.id}`,
        headers: admin.headers,
        payload: { providerOnly: true },
      });
      const password = await app.http.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: carol.email, password: carol.password },
      });
      expect([password.statusCode, password.json().error.code]).toEqual([403, 'provider_only']);
      const viaProvider = await signIn('alice');
      expect((await me(accessCookie(viaProvider.res))).json()).toMatchObject({ id: carol.id });
      // Her only way in now: the identity cannot be unlinked.
      const [identity] = own.json() as Array<{ id: string }>;
      const unlink = await app.http.inject({
        method: 'DELETE',
        url: `/api/v1/users/${carol.id}/identities/${identity!.id}`,
        headers: admin.headers,
      });
      expect(unlink.json()).toMatchObject({ error: { code: 'last_sign_in' } });
    });

    it('signs in again after the provider rotated its keys', async () => {
      const alice = await createTestUser(app, 'operator');
      await linkAs(alice.id, 'alice');
      expect(accessCookie((await signIn('alice')).res)).toBeTruthy();
      const oldKid = provider.key.kid;
      await provider.rotate();
      expect(provider.key.kid).not.toBe(oldKid);
      const again = await signIn('alice');
      expect((await me(accessCookie(again.res))).json()).toMatchObject({ id: alice.id });
    });
  });
}

describe('a provider that is down when Tacho starts', () => {
  it('does not stop the start; the button says unavailable until discovery succeeds', async () => {
    const port = await freeLoopbackPort();
    const provider = await startTestProvider({ clients: [CLIENT], accounts: ACCOUNTS, port, stopped: true });
    const app = await createTestApp('sqlite', oidcEnv(provider), { oidcRetryMaxMs: 200 });
    try {
      const providers = await app.http.inject({ method: 'GET', url: '/api/v1/auth/providers' });
      expect(providers.json()).toMatchObject({ oidc: { name: 'Test SSO', available: false } });
      const start = await app.http.inject({ method: 'GET', url: '/api/v1/auth/oidc/start' });
      expect(start.headers.location).toBe('/login?oidc_error=provider_unavailable');
      await provider.start();
      await waitUntil('provider available', async () => {
        const res = await app.http.inject({ method: 'GET', url: '/api/v1/auth/providers' });
        return (res.json() as { oidc: { available: boolean } }).oidc.available;
      });
      expect((await app.http.inject({ method: 'GET', url: '/api/v1/auth/oidc/start' })).statusCode).toBe(302);
    } finally {
      await app.dispose();
      await provider.dispose();
    }
  });
});

describe('Tacho as a public client (no TACHO_OIDC_CLIENT_SECRET)', () => {
  it('signs in with PKCE alone', async () => {
    const publicClient = {
      client_id: 'tacho-public',
      token_endpoint_auth_method: 'none',
      redirect_uris: [`${PUBLIC_URL}/api/v1/auth/oidc/callback`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    };
    const provider = await startTestProvider({ clients: [publicClient], accounts: ACCOUNTS });
    const app = await createTestApp('sqlite', {
      TACHO_PUBLIC_URL: PUBLIC_URL,
      TACHO_OIDC_ISSUER: provider.issuer,
      TACHO_OIDC_CLIENT_ID: 'tacho-public',
    });
    try {
      await waitUntil('provider discovered', () => app.auth.oidc!.available);
      const user = await createTestUser(app, 'operator');
      await app.auth.identities.link(user.id, { issuer: provider.issuer, subject: 'alice' }, user.id);
      const start = await app.http.inject({ method: 'GET', url: '/api/v1/auth/oidc/start' });
      const cookie = `tacho_oidc=${start.cookies.find((c) => c.name === 'tacho_oidc')!.value}`;
      const back = new URL(await signInAtProvider(start.headers.location as string, 'alice'));
      const res = await app.http.inject({
        method: 'GET',
        url: `${back.pathname}${back.search}`,
        headers: { cookie },
      });
      const access = res.cookies.find((c) => c.name === 'tacho_access')?.value;
      const me = await app.http.inject({
        method: 'GET',
        url: '/api/v1/auth/me',
        headers: { cookie: `tacho_access=${access}` },
      });
      expect(me.json()).toMatchObject({ id: user.id });
    } finally {
      await app.dispose();
      await provider.dispose();
    }
  });
});
