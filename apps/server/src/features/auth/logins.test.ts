import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { CookieJar } from './test-cookies.js';
import { createTestUser, type TestUser } from './testing.js';

for (const engine of engines) {
  describe(`browser logins [${engine}]`, () => {
    let app: TestApp;
    let clock: ManualClock;
    afterEach(async () => {
      await app?.dispose();
    });

    async function setup() {
      clock = new ManualClock(Date.UTC(2026, 5, 1));
      app = await createTestApp(engine, {}, { clock });
    }

    async function login(user: TestUser, jar = new CookieJar(), headers: Record<string, string> = {}) {
      const res = await app.http.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        headers: {
          'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0',
          ...headers,
        },
        payload: { email: user.email, password: user.password },
      });
      expect(res.statusCode).toBe(200);
      jar.take(res);
      return { jar, res };
    }

    const get = (url: string, jar: CookieJar) =>
      app.http.inject({ method: 'GET', url, headers: jar.header(url) });
    const post = (url: string, jar: CookieJar, payload?: object) =>
      app.http.inject({ method: 'POST', url, headers: jar.header(url), ...(payload ? { payload } : {}) });

    it('sets HttpOnly, SameSite=Lax, path-scoped cookies, not Secure on loopback HTTP', async () => {
      await setup();
      const user = await createTestUser(app, 'viewer');
      const { res } = await login(user);
      expect(res.json()).toMatchObject({
        user: { id: user.id, email: user.email, role: 'viewer' },
        accessExpiresMs: clock.now() + 15 * 60_000,
      });
      const byName = Object.fromEntries(res.cookies.map((c) => [c.name, c]));
      expect(byName.tacho_access).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/', maxAge: 900 });
      expect(byName.tacho_refresh).toMatchObject({
        httpOnly: true,
        sameSite: 'Lax',
        path: '/api/v1/auth',
        maxAge: 30 * 86_400,
      });
      expect(byName.tacho_access?.secure).toBeFalsy();
      expect(byName.tacho_refresh?.secure).toBeFalsy();
      expect(byName.tacho_refresh?.value).not.toBe(byName.tacho_access?.value);
    });

    it('sets Secure cookies when reached by a non-loopback name or over HTTPS behind a trusted proxy', async () => {
      await setup();
      const user = await createTestUser(app, 'viewer');
      const { res } = await login(user, new CookieJar(), { host: 'tacho.example.com' });
      for (const c of res.cookies) expect(c.secure).toBe(true);
      await app.dispose();
      app = await createTestApp(engine, { TACHO_TRUST_PROXY: '127.0.0.1' }, { clock });
      const other = await createTestUser(app, 'viewer');
      const { res: proxied } = await login(other, new CookieJar(), { 'x-forwarded-proto': 'https' });
      for (const c of proxied.cookies) expect(c.secure).toBe(true);
    });

    it('answers me, lists the login with its device, and lets the access cookie authenticate API calls', async () => {
      await setup();
      const user = await createTestUser(app, 'operator');
      const { jar } = await login(user);
      const me = await get('/api/v1/auth/me', jar);
      expect(me.statusCode).toBe(200);
      expect(me.json()).toMatchObject({ id: user.id, email: user.email, role: 'operator', disabled: false });
      const list = await get('/api/v1/auth/logins', jar);
      expect(list.json()).toEqual([
        expect.objectContaining({
          device: 'Firefox on Linux',
          current: true,
          createdMs: clock.now(),
          lastUsedMs: clock.now(),
        }),
      ]);
      const vehicles = await get('/api/v1/vehicles', jar);
      expect(vehicles.statusCode).toBe(200);
    });

    it('refuses wrong password, unknown email and disabled account with the same reply', async () => {
      await setup();
      const user = await createTestUser(app, 'viewer');
      const disabled = await createTestUser(app, 'viewer');
      await app.storage.db
        .updateTable('users')
        .set({ disabled_ms: clock.now() })
        .where('id', '=', disabled.id)
        .execute();
      const attempts = [
        { email: user.email, password: 'wrong password here' },
        { email: 'nobody@example.test', password: 'whatever password' },
        { email: disabled.email, password: disabled.password },
      ];
      const bodies = [];
      for (const payload of attempts) {
        const res = await app.http.inject({ method: 'POST', url: '/api/v1/auth/login', payload });
        expect(res.statusCode).toBe(401);
        expect(res.cookies).toEqual([]);
        bodies.push(res.body);
      }
      expect(new Set(bodies).size).toBe(1);
      expect(JSON.parse(bodies[0]!)).toEqual({
        error: { code: 'invalid_credentials', message: 'wrong email or password' },
      });
    });

    it('stays logged in across the access token expiry by refreshing, and rotates the refresh token', async () => {
      await setup();
      const user = await createTestUser(app, 'viewer');
      const { jar } = await login(user);
      const first = jar.get('tacho_refresh')!;
      clock.advance(15 * 60_000 + 1000);
      expect((await get('/api/v1/auth/me', jar)).statusCode).toBe(401);
      const refreshed = await post('/api/v1/auth/refresh', jar);
      expect(refreshed.statusCode).toBe(200);
      jar.take(refreshed);
      expect(jar.get('tacho_refresh')).not.toBe(first);
      expect((await get('/api/v1/auth/me', jar)).statusCode).toBe(200);
      const stored = await app.storage.db.selectFrom('refresh_tokens').select('token_hash').execute();
      expect(stored).toHaveLength(2);
      expect(JSON.stringify(stored)).not.toContain(first);
    });

    it('answers a repeat within 10 s with the same successor, and revokes the whole login on reuse after that', async () => {
      await setup();
      const user = await createTestUser(app, 'viewer');
      const { jar } = await login(user);
      const original = jar.get('tacho_refresh')!;
      const ended: unknown[] = [];
      app.events.on('login.ended', (e) => ended.push(e));

      const a = await post('/api/v1/auth/refresh', jar);
      clock.advance(5_000);
      const b = await post('/api/v1/auth/refresh', jar);
      expect(a.statusCode).toBe(200);
      expect(b.statusCode).toBe(200);
      const successorA = a.cookies.find((c) => c.name === 'tacho_refresh')!.value;
      const successorB = b.cookies.find((c) => c.name === 'tacho_refresh')!.value;
      expect(successorB).toBe(successorA);

      clock.advance(6_000);
      const stolen = new CookieJar();
      stolen.set('tacho_refresh', original, '/api/v1/auth');
      const reuse = await post('/api/v1/auth/refresh', stolen);
      expect(reuse.statusCode).toBe(401);
      expect(ended).toEqual([expect.objectContaining({ userId: user.id, reason: 'refresh_token_reused' })]);
      // The legitimate holder is out too: the family is revoked.
      const holder = new CookieJar();
      holder.set('tacho_refresh', successorA, '/api/v1/auth');
      expect((await post('/api/v1/auth/refresh', holder)).statusCode).toBe(401);
      jar.take(a);
      expect((await get('/api/v1/auth/me', jar)).statusCode).toBe(401);
    });

    it('gives ten parallel refreshes with one token exactly one successor', async () => {
      await setup();
      const user = await createTestUser(app, 'viewer');
      const { jar } = await login(user);
      const results = await Promise.all(Array.from({ length: 10 }, () => post('/api/v1/auth/refresh', jar)));
      expect(results.map((r) => r.statusCode)).toEqual(Array(10).fill(200));
      const successors = new Set(
        results.map((r) => r.cookies.find((c) => c.name === 'tacho_refresh')!.value),
      );
      expect(successors.size).toBe(1);
      const rows = await app.storage.db.selectFrom('refresh_tokens').selectAll().execute();
      expect(rows).toHaveLength(2);
      expect(rows.filter((r) => r.used_ms !== null)).toHaveLength(1);
      const loginRow = await app.storage.db.selectFrom('logins').selectAll().executeTakeFirstOrThrow();
      expect(loginRow.revoked_ms).toBeNull();
    });

    it('ends the login after 7 idle days or 30 days in all', async () => {
      await setup();
      const user = await createTestUser(app, 'viewer');
      const { jar } = await login(user);
      clock.advance(7 * 86_400_000 + 1000);
      expect((await post('/api/v1/auth/refresh', jar)).statusCode).toBe(401);

      const again = await login(user);
      for (let day = 0; day < 5; day++) {
        clock.advance(6 * 86_400_000);
        const r = await post('/api/v1/auth/refresh', again.jar);
        if (day < 4) {
          expect(r.statusCode).toBe(200);
          again.jar.take(r);
        } else {
          expect(r.statusCode).toBe(401);
        }
      }
    });

    it('logs out one login, one other login by id, and everywhere', async () => {
      await setup();
      const user = await createTestUser(app, 'viewer');
      const laptop = (await login(user)).jar;
      const phone = (await login(user)).jar;
      const tablet = (await login(user)).jar;

      const out = await post('/api/v1/auth/logout', laptop);
      expect(out.statusCode).toBe(204);
      laptop.take(out);
      expect(laptop.get('tacho_access')).toBeUndefined();
      expect((await get('/api/v1/auth/logins', phone)).json()).toHaveLength(2);

      const list = (await get('/api/v1/auth/logins', phone)).json() as Array<{
        id: string;
        current: boolean;
      }>;
      const tabletLogin = list.find((l) => !l.current)!;
      const del = await app.http.inject({
        method: 'DELETE',
        url: `/api/v1/auth/logins/${tabletLogin.id}`,
        headers: phone.header('/api/v1/auth/logins'),
      });
      expect(del.statusCode).toBe(204);
      expect((await get('/api/v1/auth/me', tablet)).statusCode).toBe(401);
      expect((await post('/api/v1/auth/refresh', tablet)).statusCode).toBe(401);

      const again = (await login(user)).jar;
      const everywhere = await app.http.inject({
        method: 'DELETE',
        url: '/api/v1/auth/logins',
        headers: phone.header('/api/v1/auth/logins'),
      });
      expect(everywhere.statusCode).toBe(204);
      for (const jar of [phone, again]) {
        expect((await get('/api/v1/auth/me', jar)).statusCode).toBe(401);
        expect((await post('/api/v1/auth/refresh', jar)).statusCode).toBe(401);
      }
      // The user's API token is not a login and keeps working.
      expect(
        (await app.http.inject({ method: 'GET', url: '/api/v1/auth/me', headers: user.headers })).statusCode,
      ).toBe(200);
    });

    it('changes the password: every other login ends at once, this browser gets a fresh login', async () => {
      await setup();
      const user = await createTestUser(app, 'viewer');
      const here = (await login(user)).jar;
      const elsewhere = (await login(user)).jar;
      clock.advance(1000);
      const wrong = await post('/api/v1/auth/password', here, {
        currentPassword: 'not it at all',
        newPassword: 'a brand new password',
      });
      expect(wrong.statusCode).toBe(403);
      const changed = await post('/api/v1/auth/password', here, {
        currentPassword: user.password,
        newPassword: 'a brand new password',
      });
      expect(changed.statusCode).toBe(200);
      here.take(changed);
      expect((await get('/api/v1/auth/me', here)).statusCode).toBe(200);
      expect((await get('/api/v1/auth/me', elsewhere)).statusCode).toBe(401);
      expect((await post('/api/v1/auth/refresh', elsewhere)).statusCode).toBe(401);
      const oldPassword = await app.http.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: user.password },
      });
      expect(oldPassword.statusCode).toBe(401);
      await login({ ...user, password: 'a brand new password' });
    });

    it('throttles guesses of the current password on a password change', async () => {
      await setup();
      const user = await createTestUser(app, 'viewer');
      const { jar } = await login(user);
      for (let i = 0; i < 5; i++) {
        const res = await post('/api/v1/auth/password', jar, {
          currentPassword: `guess ${i}`,
          newPassword: 'a brand new password',
        });
        expect(res.statusCode).toBe(403);
      }
      const blocked = await post('/api/v1/auth/password', jar, {
        currentPassword: user.password,
        newPassword: 'a brand new password',
      });
      expect(blocked.statusCode).toBe(429);
      expect(blocked.headers['retry-after']).toBe('1');
    });

    it("refuses a disabled user's access token at once, ends their logins and refuses their API tokens", async () => {
      await setup();
      const admin = await createTestUser(app, 'admin');
      const user = await createTestUser(app, 'viewer');
      const { jar } = await login(user);
      const ended: unknown[] = [];
      app.events.on('login.ended', (e) => ended.push(e));
      const res = await app.http.inject({
        method: 'PATCH',
        url: `/api/v1/users/${user.id}`,
        headers: admin.headers,
        payload: { disabled: true },
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ disabled: true });
      expect((await get('/api/v1/auth/me', jar)).statusCode).toBe(401);
      expect((await post('/api/v1/auth/refresh', jar)).statusCode).toBe(401);
      expect(
        (await app.http.inject({ method: 'GET', url: '/api/v1/auth/me', headers: user.headers })).statusCode,
      ).toBe(401);
      expect(ended).toEqual([expect.objectContaining({ userId: user.id, reason: 'user_disabled' })]);
    });

    it('refuses cookie-authenticated cross-site writes, and allows same-origin ones and bearer tokens', async () => {
      await setup();
      const user = await createTestUser(app, 'operator');
      const { jar } = await login(user);
      const payload = { vin: '5YJ3E1EA7KF000001', name: 'x' };
      const url = '/api/v1/vehicles';
      const crossSite = await app.http.inject({
        method: 'POST',
        url,
        payload,
        headers: { ...jar.header(url), 'sec-fetch-site': 'cross-site' },
      });
      expect(crossSite.statusCode).toBe(403);
      expect(crossSite.json().error.code).toBe('csrf');
      const evil = await app.http.inject({
        method: 'POST',
        url,
        payload,
        headers: { ...jar.header(url), origin: 'https://evil.example' },
      });
      expect(evil.statusCode).toBe(403);
      const loginCsrf = await app.http.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: user.password },
        headers: { origin: 'https://evil.example' },
      });
      expect(loginCsrf.statusCode).toBe(403);
      const own = await app.http.inject({
        method: 'POST',
        url,
        payload,
        headers: { ...jar.header(url), origin: app.config.publicUrl, 'sec-fetch-site': 'same-origin' },
      });
      expect(own.statusCode).toBe(201);
      const read = await app.http.inject({
        method: 'GET',
        url,
        headers: { ...jar.header(url), 'sec-fetch-site': 'cross-site' },
      });
      expect(read.statusCode).toBe(200);
      const bearer = await app.http.inject({
        method: 'PATCH',
        url: `${url}/${own.json().id}`,
        payload: { name: 'y' },
        headers: { ...user.headers, origin: 'https://evil.example' },
      });
      expect(bearer.statusCode).toBe(200);
    });

    it('allows origins listed in TACHO_ALLOWED_ORIGINS', async () => {
      clock = new ManualClock(Date.UTC(2026, 5, 1));
      app = await createTestApp(engine, { TACHO_ALLOWED_ORIGINS: 'https://dash.example' }, { clock });
      const user = await createTestUser(app, 'viewer');
      const res = await app.http.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: user.password },
        headers: { origin: 'https://dash.example' },
      });
      expect(res.statusCode).toBe(200);
    });
  });
}
