import { hash } from '@node-rs/argon2';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { ARGON2_PARAMS, needsRehash } from './passwords.js';
import { createTestUser } from './testing.js';

for (const engine of engines) {
  describe(`accounts: first start, sign-up, users, throttling [${engine}]`, () => {
    let app: TestApp;
    afterEach(async () => {
      await app?.dispose();
    });

    const loginAs = (email: string, password: string, headers: Record<string, string> = {}) =>
      app.http.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password }, headers });

    it('creates the admin from TACHO_ADMIN_EMAIL/PASSWORD and prints no setup link', async () => {
      app = await createTestApp(engine, {
        TACHO_ADMIN_EMAIL: 'Root@Example.test',
        TACHO_ADMIN_PASSWORD: 'a long admin password',
      });
      expect(app.auth.setupUrl).toBeNull();
      const res = await loginAs('root@example.test', 'a long admin password');
      expect(res.statusCode).toBe(200);
      expect(res.json().user).toMatchObject({ email: 'root@example.test', role: 'admin' });
      const stored = await app.storage.db
        .selectFrom('users')
        .select('password_hash')
        .executeTakeFirstOrThrow();
      expect(stored.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    });

    it('offers a one-time setup link valid for 30 minutes when no user exists', async () => {
      const clock = new ManualClock(Date.UTC(2026, 5, 1));
      app = await createTestApp(engine, { TACHO_PUBLIC_URL: 'https://tacho.example.com' }, { clock });
      const url = new URL(app.auth.setupUrl!);
      expect(`${url.origin}${url.pathname}`).toBe('https://tacho.example.com/setup');
      const token = url.searchParams.get('token')!;
      expect((await app.http.inject({ method: 'GET', url: `/api/v1/auth/setup/${token}` })).json()).toEqual({
        valid: true,
      });
      expect((await app.http.inject({ method: 'GET', url: '/api/v1/auth/setup/wrong' })).json()).toEqual({
        valid: false,
      });

      const payload = { token, email: 'first@example.test', name: 'First', password: 'first admin password' };
      const done = await app.http.inject({ method: 'POST', url: '/api/v1/auth/setup', payload });
      expect(done.statusCode).toBe(201);
      expect(done.json().user).toMatchObject({ email: 'first@example.test', role: 'admin' });
      expect(done.cookies.map((c) => c.name).sort()).toEqual(['tacho_access', 'tacho_refresh']);
      const again = await app.http.inject({
        method: 'POST',
        url: '/api/v1/auth/setup',
        payload: { ...payload, email: 'second@example.test' },
      });
      expect(again.statusCode).toBe(400);
      expect((await app.http.inject({ method: 'GET', url: `/api/v1/auth/setup/${token}` })).json()).toEqual({
        valid: false,
      });
    });

    it('lets a setup link expire after 30 minutes', async () => {
      const clock = new ManualClock(Date.UTC(2026, 5, 1));
      app = await createTestApp(engine, {}, { clock });
      const token = new URL(app.auth.setupUrl!).searchParams.get('token')!;
      clock.advance(30 * 60_000 + 1);
      const res = await app.http.inject({
        method: 'POST',
        url: '/api/v1/auth/setup',
        payload: { token, email: 'late@example.test', name: 'Late', password: 'first admin password' },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('invalid_setup_token');
    });

    it('allows sign-up only with TACHO_ALLOW_SIGNUP, as a viewer', async () => {
      app = await createTestApp(engine);
      const payload = { email: 'new@example.test', name: 'New', password: 'a new user password' };
      const off = await app.http.inject({ method: 'POST', url: '/api/v1/auth/signup', payload });
      expect(off.statusCode).toBe(403);
      expect(off.json().error.code).toBe('signup_disabled');
      await app.dispose();
      app = await createTestApp(engine, { TACHO_ALLOW_SIGNUP: 'true' });
      const on = await app.http.inject({ method: 'POST', url: '/api/v1/auth/signup', payload });
      expect(on.statusCode).toBe(201);
      expect(on.json().user).toMatchObject({ email: 'new@example.test', role: 'viewer' });
      const dup = await app.http.inject({ method: 'POST', url: '/api/v1/auth/signup', payload });
      expect(dup.statusCode).toBe(409);
    });

    it('lets an admin create a user who can then log in, change their role and protect the last admin', async () => {
      app = await createTestApp(engine);
      const admin = await createTestUser(app, 'admin');
      const created = await app.http.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: admin.headers,
        payload: { email: 'Carol@Example.test', name: 'Carol', password: 'carol password 1', role: 'viewer' },
      });
      expect(created.statusCode).toBe(201);
      const carol = created.json();
      expect(carol).toMatchObject({ email: 'carol@example.test', role: 'viewer', disabled: false });
      expect((await loginAs('carol@example.test', 'carol password 1')).statusCode).toBe(200);

      const promoted = await app.http.inject({
        method: 'PATCH',
        url: `/api/v1/users/${carol.id}`,
        headers: admin.headers,
        payload: { role: 'operator' },
      });
      expect(promoted.json().role).toBe('operator');
      const list = await app.http.inject({ method: 'GET', url: '/api/v1/users', headers: admin.headers });
      expect(list.json().map((u: { email: string }) => u.email)).toContain('carol@example.test');

      const demoteSelf = await app.http.inject({
        method: 'PATCH',
        url: `/api/v1/users/${admin.id}`,
        headers: admin.headers,
        payload: { role: 'viewer' },
      });
      expect(demoteSelf.statusCode).toBe(409);
      expect(demoteSelf.json().error.code).toBe('last_admin');
      const del = await app.http.inject({
        method: 'DELETE',
        url: `/api/v1/users/${carol.id}`,
        headers: admin.headers,
      });
      expect(del.statusCode).toBe(204);
      expect((await loginAs('carol@example.test', 'carol password 1')).statusCode).toBe(401);
    });

    it('upgrades a weaker password hash at the next login', async () => {
      app = await createTestApp(engine);
      const user = await createTestUser(app, 'viewer');
      const weak = await hash(user.password, { algorithm: 2, memoryCost: 4096, timeCost: 1, parallelism: 1 });
      expect(needsRehash(weak)).toBe(true);
      await app.storage.db
        .updateTable('users')
        .set({ password_hash: weak })
        .where('id', '=', user.id)
        .execute();
      expect((await loginAs(user.email, user.password)).statusCode).toBe(200);
      const row = await app.storage.db
        .selectFrom('users')
        .select('password_hash')
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow();
      expect(row.password_hash).toContain(
        `m=${ARGON2_PARAMS.memoryCost},t=${ARGON2_PARAMS.timeCost},p=${ARGON2_PARAMS.parallelism}`,
      );
      expect(needsRehash(row.password_hash!)).toBe(false);
    });

    it('throttles failed logins per account with growing delays and Retry-After, never for good', async () => {
      const clock = new ManualClock(Date.UTC(2026, 5, 1));
      app = await createTestApp(engine, {}, { clock });
      const user = await createTestUser(app, 'viewer');
      for (let i = 0; i < 5; i++) expect((await loginAs(user.email, 'wrong guess')).statusCode).toBe(401);
      const blocked = await loginAs(user.email, user.password);
      expect(blocked.statusCode).toBe(429);
      expect(blocked.headers['retry-after']).toBe('1');
      // Unknown emails are throttled the same way, so 429 does not reveal an account either.
      for (let i = 0; i < 5; i++)
        expect((await loginAs('ghost@example.test', 'wrong guess')).statusCode).toBe(401);
      expect((await loginAs('ghost@example.test', 'wrong guess')).statusCode).toBe(429);

      clock.advance(1000);
      expect((await loginAs(user.email, 'wrong guess')).statusCode).toBe(401);
      const longer = await loginAs(user.email, user.password);
      expect(longer.statusCode).toBe(429);
      expect(longer.headers['retry-after']).toBe('2');
      for (let i = 0; i < 20; i++) {
        clock.advance(10 * 60_000);
        await loginAs(user.email, 'wrong guess');
      }
      const capped = await loginAs(user.email, user.password);
      expect(Number(capped.headers['retry-after'])).toBeLessThanOrEqual(300);
      clock.advance(300_000);
      const ok = await loginAs(user.email, user.password);
      expect(ok.statusCode).toBe(200);
      expect((await loginAs(user.email, 'one typo')).statusCode).toBe(401);
    });

    it('throttles one client address trying many accounts, and trusts X-Forwarded-For only from TACHO_TRUST_PROXY', async () => {
      const clock = new ManualClock(Date.UTC(2026, 5, 1));
      app = await createTestApp(engine, { TACHO_TRUST_PROXY: '127.0.0.1' }, { clock });
      const user = await createTestUser(app, 'viewer');
      for (let i = 0; i < 20; i++) {
        const res = await loginAs(`guess${i}@example.test`, 'wrong guess', {
          'x-forwarded-for': '203.0.113.7',
        });
        expect(res.statusCode).toBe(401);
      }
      const fromAttacker = await loginAs(user.email, user.password, { 'x-forwarded-for': '203.0.113.7' });
      expect(fromAttacker.statusCode).toBe(429);
      const fromElsewhere = await loginAs(user.email, user.password, { 'x-forwarded-for': '198.51.100.1' });
      expect(fromElsewhere.statusCode).toBe(200);
      await app.dispose();

      app = await createTestApp(engine, {}, { clock });
      const other = await createTestUser(app, 'viewer');
      for (let i = 0; i < 20; i++)
        await loginAs(`guess${i}@example.test`, 'wrong guess', { 'x-forwarded-for': `203.0.113.${i}` });
      // Without a trusted proxy the header is ignored: all those came from this one address.
      const spoofed = await loginAs(other.email, other.password, { 'x-forwarded-for': '198.51.100.1' });
      expect(spoofed.statusCode).toBe(429);
    });

    it('writes audit lines for failures and logins without secrets', async () => {
      const lines: string[] = [];
      const { createLogger } = await import('../../lib/logger.js');
      const logger = createLogger('info', { write: (line: string) => lines.push(line) });
      app = await createTestApp(engine, {}, { logger });
      const user = await createTestUser(app, 'viewer');
      await loginAs(user.email, 'wrong guess');
      await loginAs(user.email, user.password);
      await app.http.inject({ method: 'GET', url: '/api/v1/users', headers: user.headers });
      const audit = lines.map((l) => JSON.parse(l)).filter((l) => l.audit === true);
      expect(audit.map((l) => l.event)).toEqual(
        expect.arrayContaining(['token.created', 'login.failed', 'login.succeeded']),
      );
      expect(audit.find((l) => l.event === 'login.failed')).toMatchObject({
        email: user.email,
        reason: 'wrong_password',
      });
      expect(audit.find((l) => l.event === 'request.denied' && l.status === 403)).toMatchObject({
        method: 'GET',
        route: '/api/v1/users',
        status: 403,
        userId: user.id,
      });
      const all = lines.join('\n');
      expect(all).not.toContain(user.password);
      expect(all).not.toContain('wrong guess');
      expect(all).not.toContain(user.token);
    });
  });
}
