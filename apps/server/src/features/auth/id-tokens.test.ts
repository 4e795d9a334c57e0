import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { recordSecrets } from '../../test/log-leaks.js';
import {
  newSigningKey,
  signInAtProvider,
  startTestProvider,
  type TestProvider,
} from '../../test/oidc-provider.js';
import { engines } from '../../test/storage.js';
import { createTestUser, type TestUser } from './testing.js';

/**
 * Phones that post with their ID token (issue 20.3). The app's tokens come from a real provider process
 * (a public client with PKCE, as a phone app is); the negative corpus is signed with the provider's own
 * key (or deliberately not), so each case fails for the one reason it is about.
 */
const APP_REDIRECT = 'http://127.0.0.1:9/phone-app/callback';
const PHONE_APP = {
  client_id: 'phone-app',
  token_endpoint_auth_method: 'none',
  redirect_uris: [APP_REDIRECT],
  grant_types: ['authorization_code'],
  response_types: ['code'],
};
const ACCOUNTS = { alice: { email: 'alice@example.test', email_verified: true } };
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** What the phone app does: a code flow with PKCE at its provider, for the ID token. */
async function phoneAppIdToken(provider: TestProvider, login: string): Promise<string> {
  const config = await client.discovery(
    new URL(provider.issuer),
    PHONE_APP.client_id,
    undefined,
    client.None(),
    {
      execute: [client.allowInsecureRequests],
    },
  );
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: APP_REDIRECT,
    scope: 'openid email',
    state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  const back = await signInAtProvider(url.href, login);
  const tokens = await client.authorizationCodeGrant(config, new URL(back), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    idTokenExpected: true,
  });
  return tokens.id_token!;
}

for (const engine of engines) {
  describe(`phones posting with their ID token [${engine}]`, () => {
    let provider: TestProvider;
    let app: TestApp;
    let admin: TestUser;
    let alice: TestUser;
    let lines: string[];
    /** A server where `jku` / `x5u` headers point: it must never be asked anything. */
    let elsewhere: Server;
    let elsewhereHits = 0;
    let elsewhereUrl: string;

    beforeAll(async () => {
      provider = await startTestProvider({ clients: [PHONE_APP], accounts: ACCOUNTS });
      elsewhere = createServer((_req, res) => {
        elsewhereHits += 1;
        res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
      const address = elsewhere.address();
      elsewhereUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    });
    afterAll(async () => {
      await provider?.dispose();
      await new Promise((resolve) => elsewhere?.close(resolve));
    });
    beforeEach(async () => {
      lines = [];
      const logger = createLogger('info', { write: (line: string) => lines.push(line) });
      app = await createTestApp(
        engine,
        { TACHO_DEVICE_ISSUERS: JSON.stringify([{ issuer: provider.issuer, audience: 'phone-app' }]) },
        { logger },
      );
      admin = await createTestUser(app, 'admin');
      alice = await createTestUser(app, 'operator');
      await app.http.inject({
        method: 'POST',
        url: `/api/v1/users/${alice.id}/identities`,
        headers: admin.headers,
        payload: { issuer: provider.issuer, subject: 'alice' },
      });
    });
    afterEach(async () => {
      await app.dispose();
    });

    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const refusals = () =>
      lines
        .map((l) => JSON.parse(l) as { audit?: boolean; event?: string; reason?: string })
        .filter((l) => l.audit && l.event === 'id_token.refused');

    it('makes the phone vehicle on the first post, posts positions and records with the ID token', async () => {
      const idToken = await phoneAppIdToken(provider, 'alice');
      recordSecrets([idToken]);
      const made = await app.http.inject({
        method: 'POST',
        url: '/api/v1/me/vehicles',
        headers: bearer(idToken),
        payload: { kind: 'phone', name: "Alice's phone" },
      });
      expect(made.statusCode).toBe(201);
      const phone = made.json() as { id: string; vin: string | null; kind: string; ownerId: string };
      expect(phone).toMatchObject({ kind: 'phone', vin: null, ownerId: alice.id });
      const again = await app.http.inject({
        method: 'POST',
        url: '/api/v1/me/vehicles',
        headers: bearer(idToken),
        payload: { kind: 'phone', name: "Alice's phone" },
      });
      expect([again.statusCode, again.json().id]).toEqual([200, phone.id]);

      const recording = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${phone.id}/sessions`,
        headers: bearer(idToken),
        payload: { kind: 'manual', name: 'Walk' },
      });
      expect(recording.statusCode).toBe(201);
      const posted = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${phone.id}/telemetry`,
        headers: bearer(idToken),
        payload: { ts: Date.now() - 1000, metrics: {}, position: { lat: 48.1, lon: 11.5 } },
      });
      expect(posted.json()).toMatchObject({ stored: 1 });
      const stop = await app.http.inject({
        method: 'POST',
        url: `/api/v1/sessions/${recording.json().id}/stop`,
        headers: bearer(idToken),
      });
      expect(stop.statusCode).toBe(200);
      const list = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${phone.id}/sessions`,
        headers: bearer(idToken),
      });
      expect(list.json().items).toHaveLength(1);

      // Only vehicles Alice manages: another user's vehicle is as good as absent.
      const bob = await createTestUser(app, 'operator');
      const bobs = await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers: bob.headers,
        payload: { name: 'Bob phone', kind: 'phone' },
      });
      const foreign = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${bobs.json().id}/telemetry`,
        headers: bearer(idToken),
        payload: { ts: Date.now(), metrics: { speed_kmh: 1 } },
      });
      expect(foreign.statusCode).toBe(404);
      // Not a key to the rest of the API.
      const tokens = await app.http.inject({
        method: 'GET',
        url: '/api/v1/tokens',
        headers: bearer(idToken),
      });
      expect([tokens.statusCode, tokens.json().error.code]).toEqual([403, 'id_token_not_allowed']);
      expect(lines.join('\n')).not.toContain(idToken);
    });

    it('refuses the negative corpus, each with 401 and an audit line naming why', async () => {
      const now = Math.floor(Date.now() / 1000);
      const good = { iss: provider.issuer, sub: 'alice', aud: 'phone-app', iat: now, exp: now + 600 };
      const { publicKey } = await generateKeyPair('RS256', { extractable: true });
      const publicJwk = await exportJWK(publicKey);
      // HS256 with the provider's public key as the secret: the classic confusion attack.
      const publicSecret = new TextEncoder().encode(
        JSON.stringify({ kty: provider.key.kty, n: provider.key.n, e: provider.key.e }),
      );
      const hs256 = await new SignJWT(good)
        .setProtectedHeader({ alg: 'HS256', kid: provider.key.kid })
        .sign(publicSecret);
      const stranger: JWK = await newSigningKey();
      const disabled = await createTestUser(app, 'operator');
      await app.http.inject({
        method: 'POST',
        url: `/api/v1/users/${disabled.id}/identities`,
        headers: admin.headers,
        payload: { issuer: provider.issuer, subject: 'disabled-one' },
      });
      await app.http.inject({
        method: 'PATCH',
        url: `/api/v1/users/${disabled.id}`,
        headers: admin.headers,
        payload: { disabled: true },
      });
      const corpus: Array<[string, string, string]> = [
        ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(good)}.`, 'algorithm_not_allowed'],
        ['HS256 signed with the public key', hs256, 'algorithm_not_allowed'],
        ['unknown kid', await provider.sign(good, {}, { ...stranger, kid: 'unknown-kid' }), 'unknown_key'],
        ['jku elsewhere', await provider.sign(good, { jku: `${elsewhereUrl}/jwks` }), 'foreign_key_header'],
        [
          'x5u elsewhere',
          await provider.sign(good, { x5u: `${elsewhereUrl}/cert.pem` }),
          'foreign_key_header',
        ],
        ['embedded jwk', await provider.sign(good, { jwk: publicJwk }), 'foreign_key_header'],
        ['expired', await provider.sign({ ...good, iat: now - 7200, exp: now - 120 }), 'expired'],
        ['not yet valid', await provider.sign({ ...good, nbf: now + 600 }), 'not_yet_valid'],
        [
          'issued in the future',
          await provider.sign({ ...good, iat: now + 600, exp: now + 1200 }),
          'issued_in_future',
        ],
        [
          'no exp',
          await provider.sign({ iss: good.iss, sub: good.sub, aud: good.aud, iat: now }),
          'missing_claim',
        ],
        ['wrong aud', await provider.sign({ ...good, aud: 'another-app' }), 'wrong_audience'],
        ['wrong iss', await provider.sign({ ...good, iss: 'https://idp.example.test' }), 'unknown_issuer'],
        [
          'an access token',
          await provider.sign({ ...good, scope: 'openid', client_id: 'phone-app' }, { typ: 'at+jwt' }),
          'not_an_id_token',
        ],
        ['a disabled user', await provider.sign({ ...good, sub: 'disabled-one' }), 'user_disabled'],
        ['an unlinked subject', await provider.sign({ ...good, sub: 'nobody' }), 'not_linked'],
        [
          'signed by another key under the right kid',
          await provider.sign(good, {}, { ...stranger, kid: provider.key.kid }),
          'bad_signature',
        ],
      ];
      recordSecrets(corpus.map(([, token]) => token));
      const got: Record<string, string> = {};
      for (const [name, token, reason] of corpus) {
        const before = refusals().length;
        const res = await app.http.inject({
          method: 'POST',
          url: '/api/v1/me/vehicles',
          headers: bearer(token),
          payload: { kind: 'phone', name: 'x' },
        });
        const line = refusals().slice(before)[0];
        got[name] = `${res.statusCode} ${line?.reason}`;
        expect(got[name], name).toBe(`401 ${reason}`);
      }
      expect(elsewhereHits).toBe(0);
      // The real thing still works after all that.
      const ok = await app.http.inject({
        method: 'GET',
        url: '/api/v1/auth/me',
        headers: bearer(await provider.sign(good)),
      });
      expect(ok.json()).toMatchObject({ id: alice.id });
    });
  });
}

describe('the issuer keys cache', () => {
  let issuerServer: Server;
  let jwksHits = 0;
  let keys: JWK[] = [];
  let issuer = '';
  beforeAll(async () => {
    issuerServer = createServer((req, res) => {
      if (req.url === '/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
        return;
      }
      if (req.url === '/jwks') {
        jwksHits += 1;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: keys.map(({ d, p, q, dp, dq, qi, ...pub }) => pub) }));
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => issuerServer.listen(0, '127.0.0.1', resolve));
    const address = issuerServer.address();
    issuer = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => issuerServer?.close(resolve));
  });

  it('fetches the keys once, refetches at most once per 30 s for unknown kids, and takes a rotated key after', async () => {
    let nowMs = Date.now();
    const clock = { now: () => nowMs };
    const app = await createTestApp(
      'sqlite',
      { TACHO_DEVICE_ISSUERS: JSON.stringify([{ issuer, audience: 'app' }]) },
      { clock },
    );
    try {
      const admin = await createTestUser(app, 'admin');
      const user = await createTestUser(app, 'operator');
      await app.auth.identities.link(user.id, { issuer, subject: 'u1' }, admin.id);
      const first = await newSigningKey();
      keys = [first];
      const sign = async (key: JWK, kid = key.kid) => {
        const { importJWK } = await import('jose');
        const s = Math.floor(nowMs / 1000);
        return new SignJWT({ iss: issuer, sub: 'u1', aud: 'app', iat: s, exp: s + 600 })
          .setProtectedHeader({ alg: 'RS256', kid: kid! })
          .sign(await importJWK(key, 'RS256'));
      };
      const me = async (token: string) =>
        (
          await app.http.inject({
            method: 'GET',
            url: '/api/v1/auth/me',
            headers: { authorization: `Bearer ${token}` },
          })
        ).statusCode;
      expect(await me(await sign(first))).toBe(200);
      expect(await me(await sign(first))).toBe(200);
      expect(jwksHits).toBe(1);
      // A flood of made-up kids within 30 s of the fetch: no refetch at all.
      for (let i = 0; i < 20; i++) expect(await me(await sign(first, `unknown-${i}`))).toBe(401);
      expect(jwksHits).toBe(1);
      // The issuer rotates. A token with the new kid 29 s after the fetch still waits…
      const second = await newSigningKey();
      keys = [second];
      nowMs += 29_000;
      expect(await me(await sign(second))).toBe(401);
      expect(jwksHits).toBe(1);
      // …and once 30 s have passed, its kid brings exactly one refetch, for any number of requests.
      nowMs += 1_000;
      const rotated = await sign(second);
      expect(await Promise.all([me(rotated), me(rotated), me(rotated)])).toEqual([200, 200, 200]);
      expect(jwksHits).toBe(2);
      for (let i = 0; i < 10; i++) expect(await me(await sign(second, `again-${i}`))).toBe(401);
      expect(jwksHits).toBe(2);
    } finally {
      await app.dispose();
    }
  });
});
