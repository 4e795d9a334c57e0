import type { LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { Unavailable } from '../../lib/errors.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { PasswordHasher } from './password-hasher.js';
import { hashPassword } from './passwords.js';

describe('password hasher', () => {
  it('runs at most `concurrency` at once, queues up to `queue`, and refuses beyond with 503 busy and Retry-After', async () => {
    const hasher = new PasswordHasher({ concurrency: 1, queue: 2 });
    const phc = await hashPassword('a password of twelve');
    // One runs, two wait: all accepted. The fourth finds the queue full and is refused at once.
    const accepted = [1, 2, 3].map(() => hasher.verify(phc, 'a password of twelve'));
    const refused = await hasher.verify(phc, 'a password of twelve').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Unavailable);
    expect(refused).toMatchObject({ status: 503, code: 'busy' });
    expect((refused as Unavailable).retryAfterS).toBeGreaterThanOrEqual(1);
    expect(() => hasher.refuseWhenFull()).toThrow(Unavailable);
    expect(await Promise.all(accepted)).toEqual([true, true, true]);
    // Drained: room again.
    expect(() => hasher.refuseWhenFull()).not.toThrow();
    expect(await hasher.verify(phc, 'another password')).toBe(false);
  });
});

for (const engine of engines) {
  describe(`login flood [${engine}]`, () => {
    let app: TestApp;
    afterEach(async () => {
      await app?.dispose();
    });

    it('answers logins beyond the password queue 503 busy with Retry-After, while /health keeps answering', async () => {
      app = await createTestApp(engine, {
        TACHO_PASSWORD_HASH_CONCURRENCY: '1',
        TACHO_PASSWORD_HASH_QUEUE: '4',
        // Every guess from its own address and for its own account: the throttle lets each through.
        TACHO_TRUST_PROXY: '127.0.0.1',
      });
      const flood = Array.from({ length: 150 }, (_, i) =>
        app.http.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          headers: { 'x-forwarded-for': `198.51.100.${i}` },
          payload: { email: `guess${i}@example.test`, password: 'wrong guess' },
        }),
      );
      let settled = false;
      const all = Promise.all(flood).finally(() => {
        settled = true;
      });
      const health: LightMyRequestResponse[] = [];
      do {
        health.push(await app.http.inject({ method: 'GET', url: '/health' }));
        // A turn of the event loop between polls, so the flood's I/O and argon2 callbacks run too.
        await new Promise((resolve) => setTimeout(resolve, 5));
      } while (!settled);
      const replies = await all;

      expect(health.length).toBeGreaterThan(0);
      for (const h of health) expect(h.statusCode).toBe(200);
      const busy = replies.filter((r) => r.statusCode === 503);
      expect(busy.length).toBeGreaterThan(0);
      for (const r of busy) {
        expect(r.json()).toMatchObject({ error: { code: 'busy' } });
        expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
      // Everything else was checked and refused as an ordinary wrong password.
      for (const r of replies) expect([401, 503]).toContain(r.statusCode);
    });
  });
}
