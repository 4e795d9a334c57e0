import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createTestUser } from './testing.js';

for (const engine of engines) {
  describe(`API tokens [${engine}]`, () => {
    let app: TestApp;
    afterEach(async () => {
      await app?.dispose();
    });

    it('creates a token shown once, lists it without the secret, records use, and revokes it', async () => {
      const clock = new ManualClock(Date.UTC(2026, 5, 1));
      app = await createTestApp(engine, {}, { clock });
      const op = await createTestUser(app, 'operator');
      const res = await app.http.inject({
        method: 'POST',
        url: '/api/v1/tokens',
        headers: op.headers,
        payload: { name: 'script', scopes: ['read'], expiresInDays: 30 },
      });
      expect(res.statusCode).toBe(201);
      const { token, info } = res.json();
      expect(token).toMatch(/^tacho_[A-Za-z0-9_-]{43}$/);
      expect(info).toMatchObject({
        name: 'script',
        scopes: ['read'],
        expiresMs: clock.now() + 30 * 86_400_000,
        lastUsedMs: null,
      });

      const read = await app.http.inject({
        method: 'GET',
        url: '/api/v1/vehicles',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(read.statusCode).toBe(200);
      const write = await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers: { authorization: `Bearer ${token}` },
        payload: { vin: '5YJ3E1EA7KF000001', name: 'x' },
      });
      expect(write.statusCode).toBe(403);
      expect(write.json().error.code).toBe('insufficient_scope');

      const list = await app.http.inject({ method: 'GET', url: '/api/v1/tokens', headers: op.headers });
      expect(list.body).not.toContain(token);
      const listed = list.json().find((t: { id: string }) => t.id === info.id);
      expect(listed.lastUsedMs).toBe(clock.now());

      clock.advance(31 * 86_400_000);
      const expired = await app.http.inject({
        method: 'GET',
        url: '/api/v1/vehicles',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(expired.statusCode).toBe(401);
    });

    it('refuses admin scope to non-admins and lets only the owner revoke a token', async () => {
      app = await createTestApp(engine);
      const op = await createTestUser(app, 'operator');
      const other = await createTestUser(app, 'operator');
      const admin = await createTestUser(app, 'admin');
      const refused = await app.http.inject({
        method: 'POST',
        url: '/api/v1/tokens',
        headers: op.headers,
        payload: { name: 'x', scopes: ['admin'] },
      });
      expect(refused.statusCode).toBe(403);
      const made = await app.http.inject({
        method: 'POST',
        url: '/api/v1/tokens',
        headers: op.headers,
        payload: { name: 'x', scopes: ['read', 'write'] },
      });
      const { token, info } = made.json();
      const notYours = await app.http.inject({
        method: 'DELETE',
        url: `/api/v1/tokens/${info.id}`,
        headers: other.headers,
      });
      expect(notYours.statusCode).toBe(404);
      const byAdmin = await app.http.inject({
        method: 'DELETE',
        url: `/api/v1/tokens/${info.id}`,
        headers: admin.headers,
      });
      expect(byAdmin.statusCode).toBe(204);
      expect(await app.auth.authenticateBearer(token)).toBeNull();
      const bogus = await app.http.inject({
        method: 'GET',
        url: '/api/v1/tokens',
        headers: { authorization: 'Bearer tacho_nope' },
      });
      expect(bogus.statusCode).toBe(401);
    });

    it('lets a token mint only tokens with no more rights than its own', async () => {
      app = await createTestApp(engine);
      const op = await createTestUser(app, 'operator');
      const mint = async (authorization: string, scopes: string[]) =>
        app.http.inject({
          method: 'POST',
          url: '/api/v1/tokens',
          headers: { authorization },
          payload: { name: 'x', scopes },
        });
      const writer = (await mint(`Bearer ${op.token}`, ['write'])).json().token as string;
      expect((await mint(`Bearer ${writer}`, ['read'])).statusCode).toBe(201);
      const reader = (await mint(`Bearer ${writer}`, ['read'])).json().token as string;
      expect((await mint(`Bearer ${reader}`, ['read'])).statusCode).toBe(403);
      const admin = await createTestUser(app, 'admin');
      const adminRead = (await mint(`Bearer ${admin.token}`, ['read', 'write'])).json().token as string;
      const refused = await mint(`Bearer ${adminRead}`, ['admin']);
      expect(refused.statusCode).toBe(403);
      const users = await app.http.inject({
        method: 'GET',
        url: '/api/v1/users',
        headers: { authorization: `Bearer ${adminRead}` },
      });
      expect(users.statusCode).toBe(403);
    });
  });
}
