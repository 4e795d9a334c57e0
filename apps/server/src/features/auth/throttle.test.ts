import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/logger.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines, freshStorage } from '../../test/storage.js';
import { createTestUser } from './testing.js';
import { LoginThrottle, type Reservation } from './throttle.js';

for (const engine of engines) {
  describe(`login throttling under parallel guesses [${engine}]`, () => {
    let app: TestApp;
    let lines: string[];
    afterEach(async () => {
      await app?.dispose();
    });

    async function setup() {
      lines = [];
      const logger = createLogger('info', { write: (line: string) => lines.push(line) });
      app = await createTestApp(engine, {}, { clock: new ManualClock(Date.UTC(2026, 5, 1)), logger });
    }

    const audited = (event: string) =>
      lines.map((l) => JSON.parse(l) as { event?: string }).filter((l) => l.event === event).length;

    const login = (email: string, password: string) =>
      app.http.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });

    it('lets only the allowed few of 60 parallel wrong passwords reach the password check; the rest get 429 with Retry-After', async () => {
      await setup();
      const user = await createTestUser(app, 'viewer');
      const replies = await Promise.all(Array.from({ length: 60 }, () => login(user.email, 'wrong guess')));
      const refused = replies.filter((r) => r.statusCode === 429);
      expect(replies.filter((r) => r.statusCode === 401)).toHaveLength(5);
      expect(refused).toHaveLength(55);
      for (const r of refused) {
        expect(r.json()).toMatchObject({ error: { code: 'too_many_requests' } });
        expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
      // Each attempt that reached the password check was verified and audited as a failure.
      expect(audited('login.failed')).toBe(5);
      expect(audited('login.throttled')).toBe(55);
    });

    it('refuses a right password sent among 40 parallel guesses once the budget is used, and lets it in after the wait', async () => {
      await setup();
      const user = await createTestUser(app, 'viewer');
      const guesses = Array.from({ length: 39 }, (_, i) => login(user.email, `wrong guess ${i}`));
      const right = login(user.email, user.password);
      const replies = await Promise.all([...guesses, right]);
      expect(replies.filter((r) => r.statusCode === 200)).toHaveLength(0);
      expect(replies.filter((r) => r.statusCode === 401)).toHaveLength(5);
      const last = replies[39]!;
      expect(last.statusCode).toBe(429);
      expect(last.headers['retry-after']).toBe('1');

      (app.clock as ManualClock).advance(1000);
      expect((await login(user.email, user.password)).statusCode).toBe(200);
      // The right password cleared the account: one typo now is an ordinary 401, not a wait.
      expect((await login(user.email, 'one typo')).statusCode).toBe(401);
    });
  });

  describe(`login throttling across instances [${engine}]`, () => {
    async function allowed(throttle: LoginThrottle, email: string, ip: string): Promise<Reservation> {
      const attempt = await throttle.reserve(email, ip);
      if (!attempt.allowed)
        throw new Error(`expected an attempt to go ahead, not to wait ${attempt.waitMs} ms`);
      return attempt;
    }
    const fail = async (throttle: LoginThrottle, email: string, ip: string) =>
      (await allowed(throttle, email, ip)).failed();

    let storage: Awaited<ReturnType<typeof freshStorage>> | undefined;
    afterEach(async () => {
      await storage?.drop();
    });

    it('shares counts through the table: what one instance counted, another refuses; a success clears it for both', async () => {
      storage = await freshStorage(engine);
      const clock = new ManualClock(Date.UTC(2026, 5, 1));
      const logger = createLogger('silent');
      const a = new LoginThrottle(storage.db, clock, logger);
      const b = new LoginThrottle(storage.db, clock, logger);
      try {
        for (let i = 0; i < 5; i++) await fail(a, 'x@example.test', '192.0.2.1');
        await a.flush();
        // b has never seen this account: it reads the shared count, from another address too.
        const refused = await b.reserve('x@example.test', '192.0.2.2');
        expect(refused).toEqual({ allowed: false, waitMs: 1000 });

        clock.advance(1500);
        (await allowed(b, 'x@example.test', '192.0.2.2')).succeeded();
        await b.flush();
        clock.advance(1500);
        for (let i = 0; i < 5; i++) await fail(a, 'x@example.test', '192.0.2.1');
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('counts failures in memory and writes them to the table in one batch when flushed, not one commit each', async () => {
      storage = await freshStorage(engine);
      const clock = new ManualClock(Date.UTC(2026, 5, 1));
      const throttle = new LoginThrottle(storage.db, clock, createLogger('silent'), {
        flushEveryMs: 3_600_000,
      });
      const db = storage.db;
      const rows = () => db.selectFrom('login_throttle').select(['key', 'failures']).orderBy('key').execute();
      try {
        for (let i = 0; i < 3; i++) await fail(throttle, 'y@example.test', '192.0.2.3');
        // Nothing committed per failure (on SQLite each would be a synchronous fsync on the event loop).
        expect(await rows()).toEqual([]);
        await throttle.flush();
        expect(await rows()).toEqual([
          { key: 'email:y@example.test', failures: 3 },
          { key: 'ip:192.0.2.3', failures: 3 },
        ]);
        (await allowed(throttle, 'y@example.test', '192.0.2.3')).succeeded();
        await throttle.close();
        // The success cleared the account; the address keeps its failures.
        expect(await rows()).toEqual([{ key: 'ip:192.0.2.3', failures: 3 }]);
      } finally {
        await throttle.close();
      }
    });
  });
}
