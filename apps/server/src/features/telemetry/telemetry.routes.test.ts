import { VehicleSimulator } from '@tacho/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createTestUser, type TestUser } from '../auth/testing.js';
import { createVehicleWithToken, testVin } from './test-fixtures.js';

const url = (vin: string) => `/api/v1/vehicles/${vin}/telemetry`;

for (const engine of engines) {
  describe(`POST /api/v1/vehicles/:vin/telemetry [${engine}]`, () => {
    let app: TestApp;
    let owner: TestUser;
    let car: { vehicleId: string; vin: string; token: string };
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    beforeEach(async () => {
      app = await createTestApp(engine, { TACHO_MAX_PAYLOAD_BYTES: '65536' });
      owner = await createTestUser(app, 'operator');
      car = await createVehicleWithToken(app, owner, testVin(1));
    });
    afterEach(async () => {
      await app.dispose();
    });

    it('stores a message sent with the vehicle token and answers after commit', async () => {
      const now = Date.now();
      const res = await app.http.inject({
        method: 'POST',
        url: url(car.vin),
        headers: bearer(car.token),
        payload: { ts: now, metrics: { battery_level_pct: 77, range_km: 310 } },
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ stored: 1, duplicates: 0, rejected: 0, errors: [] });
      await app.telemetry.pipeline.flushDerived();
      const state = await app.storage.db
        .selectFrom('vehicle_state')
        .select(['metric', 'value'])
        .where('vehicle_id', '=', car.vehicleId)
        .orderBy('metric')
        .execute();
      expect(state).toEqual([
        { metric: 'battery_level_pct', value: '77' },
        { metric: 'range_km', value: '310' },
      ]);
    });

    it('takes a batch of 1,000 and counts a resent batch as duplicates', async () => {
      const t0 = Date.now() - 1_000_000;
      const batch = Array.from({ length: 1000 }, (_, i) => ({
        ts: t0 + i * 1000,
        metrics: { speed_kmh: i % 130, odometer_km: 1000 + i / 100 },
        position: { lat: 48 + i / 1e4, lon: 11, heading_deg: 90 },
      }));
      const first = await app.http.inject({
        method: 'POST',
        url: url(car.vin),
        headers: bearer(car.token),
        payload: batch,
      });
      expect(first.json()).toMatchObject({ stored: 1000, duplicates: 0 });
      const again = await app.http.inject({
        method: 'POST',
        url: url(car.vin),
        headers: bearer(car.token),
        payload: batch,
      });
      expect(again.json()).toMatchObject({ stored: 0, duplicates: 1000 });
      const count = await app.storage.db
        .selectFrom('samples')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      expect(Number(count.n)).toBe(1000);
    });

    it('keeps state and rollups of a large batch, and stores the rest of one holding a bad message', async () => {
      const sim = new VehicleSimulator({ seed: 5, startPhase: 'driving' });
      const start = Date.now() - 3_600_000;
      const batch = Array.from({ length: 300 }, (_, i) => sim.next(start + i * 1000));
      const res = await app.http.inject({
        method: 'POST',
        url: url(car.vin),
        headers: { ...bearer(car.token), 'content-type': 'application/json' },
        payload: JSON.stringify(batch),
      });
      expect(res.json()).toEqual({ stored: 300, duplicates: 0, rejected: 0, errors: [] });
      await app.telemetry.pipeline.flushDerived();
      const last = batch.at(-1)!;
      const state = await app.storage.db
        .selectFrom('vehicle_state')
        .select(['metric', 'value', 'ts_ms'])
        .where('vehicle_id', '=', car.vehicleId)
        .execute();
      const stateOf = (metric: string) => state.find((row) => row.metric === metric);
      expect(JSON.parse(stateOf('battery_level_pct')!.value)).toBe(last.metrics?.battery_level_pct);
      expect(Number(stateOf('position')!.ts_ms)).toBe(last.ts);
      expect(JSON.parse(stateOf('position')!.value)).toEqual(last.position);
      const counted = await app.storage.db
        .selectFrom('rollups_minute')
        .select((eb) => [eb.fn.sum<number>('count').as('n'), eb.fn.sum<number>('sum').as('sum')])
        .where('vehicle_id', '=', car.vehicleId)
        .where('metric', '=', 'speed_kmh')
        .executeTakeFirstOrThrow();
      expect(Number(counted.n)).toBe(300);
      const speeds = batch.map((m) => Number(m.metrics?.speed_kmh));
      expect(Number(counted.sum)).toBeCloseTo(
        speeds.reduce((a, b) => a + b, 0),
        6,
      );

      const next = Array.from({ length: 300 }, (_, i) => sim.next(start + (300 + i) * 1000));
      (next[120]!.metrics as Record<string, unknown>).speed_kmh = 9000;
      const mixed = await app.http.inject({
        method: 'POST',
        url: url(car.vin),
        headers: { ...bearer(car.token), 'content-type': 'application/json' },
        payload: JSON.stringify(next),
      });
      expect(mixed.json()).toEqual({
        stored: 299,
        duplicates: 0,
        rejected: 1,
        errors: [{ index: 120, reason: 'metrics.speed_kmh: 9000 is above the plausible maximum 500' }],
      });
    });

    it('stores the valid messages of a mixed batch and names what was wrong with the others', async () => {
      const now = Date.now();
      const res = await app.http.inject({
        method: 'POST',
        url: url(car.vin),
        headers: bearer(car.token),
        payload: [
          { ts: now, metrics: { speed_kmh: 10 } },
          { ts: now, seq: 1, metrics: { speed_kmh: 'fast' } },
          { ts: new Date(now).toISOString(), seq: 2, metrics: { outside_temp_c: 21.5 } },
        ],
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        stored: 2,
        duplicates: 0,
        rejected: 1,
        errors: [{ index: 1, reason: 'metrics.speed_kmh: must be a finite number' }],
      });
    });

    it('answers 400 when nothing in the body is valid, and keeps it as a dead letter', async () => {
      const res = await app.http.inject({
        method: 'POST',
        url: url(car.vin),
        headers: bearer(car.token),
        payload: { ts: Date.now(), metrics: { battery_level_pct: 140 } },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({
        error: {
          code: 'out_of_range',
          message: 'metrics.battery_level_pct: 140 is above the plausible maximum 100',
        },
      });
      const letters = await app.storage.db.selectFrom('dead_letters').selectAll().execute();
      expect(letters).toMatchObject([{ source: 'http', topic: '/api/v1/vehicles/:vin/telemetry' }]);
    });

    it('lets the owner publish with a user token, and refuses others', async () => {
      const body = { ts: Date.now(), metrics: { speed_kmh: 1 } };
      const asOwner = await app.http.inject({
        method: 'POST',
        url: url(car.vin),
        headers: owner.headers,
        payload: body,
      });
      expect(asOwner.statusCode).toBe(200);

      const anonymous = await app.http.inject({ method: 'POST', url: url(car.vin), payload: body });
      expect(anonymous.statusCode).toBe(401);

      const stranger = await createTestUser(app, 'operator');
      const asStranger = await app.http.inject({
        method: 'POST',
        url: url(car.vin),
        headers: stranger.headers,
        payload: body,
      });
      expect(asStranger.statusCode).toBe(404);

      const other = await createVehicleWithToken(app, stranger, testVin(2));
      const wrongToken = await app.http.inject({
        method: 'POST',
        url: url(car.vin),
        headers: bearer(other.token),
        payload: body,
      });
      expect(wrongToken.statusCode).toBe(404);

      const viewer = await createTestUser(app, 'viewer');
      const share = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${car.vehicleId}/access`,
        headers: owner.headers,
        payload: { email: viewer.email, role: 'viewer' },
      });
      expect(share.statusCode).toBeLessThan(300);
      const asViewer = await app.http.inject({
        method: 'POST',
        url: url(car.vin),
        headers: viewer.headers,
        payload: body,
      });
      expect(asViewer.statusCode).toBe(403);
    });

    it('answers 404 for an unknown VIN and keeps the payload as a dead letter', async () => {
      const res = await app.http.inject({
        method: 'POST',
        url: url(testVin(99)),
        headers: owner.headers,
        payload: { ts: Date.now(), metrics: { speed_kmh: 1 } },
      });
      expect(res.statusCode).toBe(404);
      const letters = await app.storage.db.selectFrom('dead_letters').selectAll().execute();
      expect(letters[0]?.reason).toMatch(/^vin: no vehicle/);
    });

    it('refuses a body over 8 × TACHO_MAX_PAYLOAD_BYTES with 413', async () => {
      const res = await app.http.inject({
        method: 'POST',
        url: url(car.vin),
        headers: { ...bearer(car.token), 'content-type': 'application/json' },
        payload: JSON.stringify({ ts: Date.now(), raw: { blob: 'x'.repeat(8 * 65536) } }),
      });
      expect(res.statusCode).toBe(413);
    });

    it('lists dead letters to admins only, newest first, page by page', async () => {
      const broken = await app.http.inject({
        method: 'POST',
        url: url(car.vin),
        headers: { ...bearer(car.token), 'content-type': 'application/json' },
        payload: '{"broken": ',
      });
      expect(broken.json().error.code).toBe('invalid_json');
      for (let i = 0; i < 3; i++) {
        await app.http.inject({
          method: 'POST',
          url: url(car.vin),
          headers: bearer(car.token),
          payload: { ts: Date.now(), metrics: { gear: `X${i}` } },
        });
      }
      const admin = await createTestUser(app, 'admin');
      const page1 = await app.http.inject({
        method: 'GET',
        url: '/api/v1/admin/dead-letters?limit=2',
        headers: admin.headers,
      });
      expect(page1.statusCode).toBe(200);
      const body1 = page1.json<{ items: Array<{ payload: string }>; nextBefore: number }>();
      expect(body1.items.map((i) => JSON.parse(i.payload).metrics.gear)).toEqual(['X2', 'X1']);
      const page2 = await app.http.inject({
        method: 'GET',
        url: `/api/v1/admin/dead-letters?limit=2&before=${body1.nextBefore}`,
        headers: admin.headers,
      });
      expect(page2.json()).toMatchObject({
        items: [
          { reason: expect.stringContaining('gear') },
          { reason: expect.stringMatching(/^payload is not valid JSON/) },
        ],
        nextBefore: null,
      });

      const notAdmin = await app.http.inject({
        method: 'GET',
        url: '/api/v1/admin/dead-letters',
        headers: owner.headers,
      });
      expect(notAdmin.statusCode).toBe(403);
    });
  });
}
