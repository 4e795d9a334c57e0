import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createTestUser, type TestUser } from '../auth/testing.js';
import { createVehicleWithToken, testVin } from '../telemetry/test-fixtures.js';

const MINUTE = 60_000;

/**
 * A device whose messages are refused shows up on its vehicle: how many, the last reason and when, to
 * the people who may read the vehicle and nobody else.
 */
for (const engine of engines) {
  describe(`a vehicle's refused messages [${engine}]`, () => {
    let app: TestApp;
    let clock: ManualClock;
    let owner: TestUser;
    let car: { vehicleId: string; vin: string; token: string };

    beforeEach(async () => {
      clock = new ManualClock(Date.now());
      app = await createTestApp(engine, {}, { clock });
      owner = await createTestUser(app, 'operator');
      car = await createVehicleWithToken(app, owner, testVin(1));
    });
    afterEach(async () => {
      await app?.dispose();
    });

    const send = (payload: unknown, token = car.token) =>
      app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${car.vin}/telemetry`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
      });
    const get = (headers: Record<string, string>, id = car.vehicleId) =>
      app.http.inject({ method: 'GET', url: `/api/v1/vehicles/${id}`, headers });

    it('counts refused messages per vehicle with the latest reason and time, and null when there are none', async () => {
      expect((await get(owner.headers)).json().refusals).toBeNull();

      const firstMs = clock.now();
      expect((await send('{"ts": 1, "metrics": ')).statusCode).toBe(400);
      clock.advance(MINUTE);
      // A clock ten minutes fast: the valid neighbour is stored, this one refused.
      const batch = await send([
        { ts: clock.now() + 10 * MINUTE, seq: 1, metrics: { speed_kmh: 50 } },
        { ts: clock.now(), seq: 2, metrics: { speed_kmh: 51 } },
      ]);
      expect(batch.json()).toMatchObject({ stored: 1, rejected: 1 });

      const res = await get(owner.headers);
      expect(res.statusCode).toBe(200);
      expect(res.json().refusals).toEqual({
        count: 2,
        firstMs,
        lastMs: clock.now(),
        lastReason: expect.stringMatching(/^ts: .* is more than 5 minutes ahead of the server clock$/),
      });
    });

    it('keeps counting when the dead letters themselves are dropped by retention', async () => {
      await send('not json');
      clock.advance(31 * 24 * 60 * MINUTE);
      expect(await app.telemetry.pipeline.deadLetterRetention.run()).toEqual({ age: 1, size: 0 });
      const metrics = await app.http.inject({ method: 'GET', url: '/metrics' });
      expect(metrics.body).toContain('tacho_dead_letters_dropped_total{reason="age"} 1');
      expect((await get(owner.headers)).json().refusals).toMatchObject({ count: 1 });
    });

    it('shows them only to people who may read the vehicle', async () => {
      await send('not json');
      const stranger = await createTestUser(app, 'operator');
      const refused = await get(stranger.headers);
      expect(refused.statusCode).toBe(404);
      expect(refused.body).not.toContain('not valid JSON');
      // The device's own token may publish, not read.
      const device = await get({ authorization: `Bearer ${car.token}` });
      expect(device.statusCode).toBeGreaterThanOrEqual(403);
      expect(device.body).not.toContain('not valid JSON');

      const viewer = await createTestUser(app, 'viewer');
      const share = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${car.vehicleId}/access`,
        headers: owner.headers,
        payload: { email: viewer.email, role: 'viewer' },
      });
      expect(share.statusCode).toBe(200);
      expect((await get(viewer.headers)).json().refusals).toMatchObject({
        count: 1,
        lastReason: expect.stringMatching(/not valid JSON/),
      });
    });

    it('counts each vehicle apart, and forgets a deleted vehicle', async () => {
      const other = await createVehicleWithToken(app, owner, testVin(2));
      await send('not json');
      await send('still not json');
      // An unknown VIN is refused too, but belongs to no vehicle.
      await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${testVin(3)}/telemetry`,
        headers: { authorization: `Bearer ${car.token}`, 'content-type': 'application/json' },
        payload: '{}',
      });
      expect((await get(owner.headers)).json().refusals).toMatchObject({ count: 2 });
      expect((await get(owner.headers, other.vehicleId)).json().refusals).toBeNull();

      const deleted = await app.http.inject({
        method: 'DELETE',
        url: `/api/v1/vehicles/${car.vehicleId}`,
        headers: owner.headers,
      });
      expect(deleted.statusCode).toBe(204);
      const rows = await app.storage.db.selectFrom('vehicle_refusals').select('vehicle_id').execute();
      expect(rows).toEqual([]);
    });
  });
}
