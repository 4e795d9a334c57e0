import { DeadLetterPage } from '@tacho/protocol';
import { Type } from 'typebox';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestUser } from '../../features/auth/testing.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';

const VIN = '5YJ3E1EA7KF000017';

for (const engine of engines) {
  describe(`replies are checked against their route's schema in tests [${engine}]`, () => {
    let app: TestApp | null = null;
    afterEach(async () => {
      await app?.dispose();
      app = null;
    });

    it('a reply that drifts from its wire type is a 500 naming the route and the difference', async () => {
      app = await createTestApp(engine);
      const reply = Type.Object({ id: Type.Integer(), name: Type.String() });
      app.http.get(
        '/test/drifted',
        { schema: { response: { 200: reply } } },
        async () => ({ id: '7' }) as never,
      );
      app.http.get('/test/fits', { schema: { response: { 200: reply } } }, async () => ({
        id: 7,
        name: 'a',
      }));
      app.http.get(
        '/test/ranged',
        { schema: { response: { '2xx': Type.Object({ n: Type.Number() }) } } },
        async () => ({ n: 'x' }) as never,
      );

      const drifted = await app.http.inject({ method: 'GET', url: '/test/drifted' });
      expect(drifted.statusCode).toBe(500);
      expect(drifted.json().error.code).toBe('reply_schema_mismatch');
      expect(drifted.json().error.message).toContain('GET /test/drifted');
      expect(drifted.json().error.message).toMatch(/\/id must be integer/);
      expect(drifted.json().error.message).toMatch(/must have required property 'name'/);

      const fits = await app.http.inject({ method: 'GET', url: '/test/fits' });
      expect(fits.statusCode).toBe(200);
      expect(fits.json()).toEqual({ id: 7, name: 'a' });

      const ranged = await app.http.inject({ method: 'GET', url: '/test/ranged' });
      expect(ranged.statusCode).toBe(500);
      expect(ranged.json().error.message).toMatch(/\/n must be number/);
    });

    it('the dead letters an admin reads are the protocol DeadLetterPage, refused payload included', async () => {
      app = await createTestApp(engine);
      const admin = await createTestUser(app, 'admin');
      const created = await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers: admin.headers,
        payload: { vin: VIN, name: 'Blue' },
      });
      expect(created.statusCode).toBe(201);
      const refused = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${VIN}/telemetry`,
        headers: { ...admin.headers, 'content-type': 'application/json' },
        payload: '{"ts": "not a time"}',
      });
      expect(refused.statusCode).toBe(400);

      const res = await app.http.inject({
        method: 'GET',
        url: '/api/v1/admin/dead-letters',
        headers: admin.headers,
      });
      expect(res.statusCode).toBe(200);
      const page = res.json() as DeadLetterPage;
      expect(page.items).toHaveLength(1);
      expect(page.items[0]).toMatchObject({ vehicleId: created.json().id, source: 'http' });
      expect(page.items[0]!.payload).toContain('not a time');
      expect(typeof page.items[0]!.id).toBe('number');
      expect(Object.keys(page.items[0]!).sort()).toEqual(
        Object.keys(DeadLetterPage.properties.items.items.properties).sort(),
      );
    });
  });
}
