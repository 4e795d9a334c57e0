import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { CookieJar } from './test-cookies.js';

/** The "done when", as one person would live it. */
for (const engine of engines) {
  describe(`a new user's first days [${engine}]`, () => {
    let app: TestApp;
    afterEach(async () => {
      await app?.dispose();
    });

    it('is created by the admin, logs in, sees only theirs, stays logged in past expiry, and is logged out everywhere by one click', async () => {
      const clock = new ManualClock(Date.UTC(2026, 5, 1, 8));
      app = await createTestApp(
        engine,
        { TACHO_ADMIN_EMAIL: 'admin@example.test', TACHO_ADMIN_PASSWORD: 'the admin password' },
        { clock },
      );
      const request = async (
        jar: CookieJar,
        method: 'GET' | 'POST' | 'DELETE',
        url: string,
        payload?: object,
      ) => {
        const res = await app.http.inject({
          method,
          url,
          headers: jar.header(url),
          ...(payload ? { payload } : {}),
        });
        jar.take(res);
        return res;
      };
      /** What the dashboard does: on 401, refresh once and retry. */
      const browse = async (jar: CookieJar, url: string) => {
        const res = await request(jar, 'GET', url);
        if (res.statusCode !== 401) return res;
        const refreshed = await request(jar, 'POST', '/api/v1/auth/refresh');
        return refreshed.statusCode === 200 ? request(jar, 'GET', url) : res;
      };

      const admin = new CookieJar();
      expect(
        (
          await request(admin, 'POST', '/api/v1/auth/login', {
            email: 'admin@example.test',
            password: 'the admin password',
          })
        ).statusCode,
      ).toBe(200);
      await request(admin, 'POST', '/api/v1/vehicles', { vin: 'WBA00000000000001', name: "Admin's car" });
      const created = await request(admin, 'POST', '/api/v1/users', {
        email: 'dana@example.test',
        name: 'Dana',
        password: "dana's password",
        role: 'operator',
      });
      expect(created.statusCode).toBe(201);

      const laptop = new CookieJar();
      const phone = new CookieJar();
      for (const jar of [laptop, phone]) {
        const res = await request(jar, 'POST', '/api/v1/auth/login', {
          email: 'dana@example.test',
          password: "dana's password",
        });
        expect(res.statusCode).toBe(200);
      }
      expect(
        (await request(laptop, 'POST', '/api/v1/vehicles', { vin: 'WBA00000000000002', name: "Dana's car" }))
          .statusCode,
      ).toBe(201);
      const mine = await browse(laptop, '/api/v1/vehicles');
      expect(mine.json().map((v: { name: string }) => v.name)).toEqual(["Dana's car"]);

      // A working day later, every access token has expired many times over: browsing just goes on.
      for (let hour = 0; hour < 8; hour++) {
        clock.advance(60 * 60_000);
        expect((await browse(laptop, '/api/v1/auth/me')).statusCode).toBe(200);
      }

      const everywhere = await request(laptop, 'DELETE', '/api/v1/auth/logins');
      expect(everywhere.statusCode).toBe(204);
      for (const jar of [laptop, phone]) expect((await browse(jar, '/api/v1/auth/me')).statusCode).toBe(401);
    });
  });
}
