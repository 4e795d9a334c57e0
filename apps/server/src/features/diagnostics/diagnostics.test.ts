import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createTestUser } from '../auth/testing.js';
import { createTestVehicle } from '../formats/test-setup.js';

for (const engine of engines) {
  describe(`GET /api/v1/diagnostics/pids: people and their API tokens, not devices [${engine}]`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(engine);
    });
    afterAll(async () => {
      await app?.dispose();
    });
    const pids = (headers: Record<string, string> = {}) =>
      app.http.inject({ method: 'GET', url: '/api/v1/diagnostics/pids', headers });

    it('an API token with the read scope lists the PIDs', async () => {
      const user = await createTestUser(app, 'viewer');
      const { token } = await app.auth.tokens.create({ userId: user.id, name: 'script', scopes: ['read'] });
      const res = await pids({ authorization: `Bearer ${token}` });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().pids.length).toBeGreaterThan(10);
    });

    it('a device token is refused with 403 forbidden: a device may only publish', async () => {
      const car = await createTestVehicle(app);
      const res = await pids({ authorization: `Bearer ${car.token}` });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toEqual({ error: { code: 'forbidden', message: expect.any(String) } });
    });

    it('anonymous callers get 401', async () => {
      const res = await pids();
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    });
  });
}
