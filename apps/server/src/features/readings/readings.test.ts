import type { DownsampledSamples, RawScan, SamplesPage, Track, VehicleState } from '@tacho/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createTestUser, type TestUser } from '../auth/testing.js';
import { storeSamples } from './test-data.js';

const T0 = Date.UTC(2026, 5, 1, 0, 0, 0);
const MIN = 60_000;
const HOUR = 3_600_000;

for (const engine of engines) {
  describe(`read API [${engine}]`, () => {
    let app: TestApp;
    let clock: ManualClock;
    let owner: TestUser;
    let stranger: TestUser;
    let vehicleId: string;

    beforeEach(async () => {
      clock = new ManualClock(T0);
      app = await createTestApp(engine, { TACHO_OFFLINE_AFTER_S: '600' }, { clock });
      owner = await createTestUser(app, 'operator');
      stranger = await createTestUser(app, 'operator');
      const res = await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers: owner.headers,
        payload: { vin: '5YJ3E1EA7KF000001', name: 'Blue' },
      });
      expect(res.statusCode).toBe(201);
      vehicleId = res.json().id;
    });
    afterEach(async () => {
      await app?.dispose();
    });

    const get = async <T>(url: string, user: TestUser | null = owner) => {
      const res = await app.http.inject({ method: 'GET', url, headers: user ? user.headers : {} });
      return { status: res.statusCode, body: res.json() as T };
    };

    it('answers the state: latest value per metric, last position, and online/asleep/offline', async () => {
      await storeSamples(app.storage.db, vehicleId, [
        { tsMs: T0 - 5000, metrics: { battery_level_pct: 80, ignition: true, gear: 'D' } },
        {
          tsMs: T0 - 1000,
          metrics: { battery_level_pct: 79 },
          position: { lat: 52.5, lon: 13.4, speed_kmh: 30 },
        },
      ]);
      const { status, body } = await get<VehicleState>(`/api/v1/vehicles/${vehicleId}/state`);
      expect(status).toBe(200);
      expect(body).toEqual({
        vehicleId,
        metrics: {
          battery_level_pct: { value: 79, ts_ms: T0 - 1000 },
          ignition: { value: true, ts_ms: T0 - 5000 },
          gear: { value: 'D', ts_ms: T0 - 5000 },
        },
        position: { lat: 52.5, lon: 13.4, speed_kmh: 30, ts_ms: T0 - 1000 },
        connectivity: 'online',
        lastSeenMs: T0 - 1000,
      });

      // Parked: ignition off, not moving, not charging, still reporting → asleep.
      await storeSamples(app.storage.db, vehicleId, [
        {
          tsMs: T0,
          metrics: { ignition: false, charging_state: 'disconnected' },
          position: { lat: 52.5, lon: 13.4, speed_kmh: 0 },
        },
      ]);
      expect((await get<VehicleState>(`/api/v1/vehicles/${vehicleId}/state`)).body.connectivity).toBe(
        'asleep',
      );
      // Charging counts as in use.
      await storeSamples(app.storage.db, vehicleId, [
        { tsMs: T0 + 1, metrics: { charging_state: 'charging' } },
      ]);
      expect((await get<VehicleState>(`/api/v1/vehicles/${vehicleId}/state`)).body.connectivity).toBe(
        'online',
      );
      // Nothing for longer than TACHO_OFFLINE_AFTER_S → offline.
      clock.advance(601_000);
      expect((await get<VehicleState>(`/api/v1/vehicles/${vehicleId}/state`)).body.connectivity).toBe(
        'offline',
      );
    });

    it('answers a vehicle that never reported as offline with no values', async () => {
      const { body } = await get<VehicleState>(`/api/v1/vehicles/${vehicleId}/state`);
      expect(body).toEqual({
        vehicleId,
        metrics: {},
        position: null,
        connectivity: 'offline',
        lastSeenMs: null,
      });
    });

    it('hides every read of a vehicle from someone it is not shared with (404) and from anonymous callers (401)', async () => {
      for (const path of ['state', 'samples?from=0&to=1', 'raw', 'track?from=0&to=1']) {
        expect((await get(`/api/v1/vehicles/${vehicleId}/${path}`, stranger)).status).toBe(404);
        expect((await get(`/api/v1/vehicles/${vehicleId}/${path}`, null)).status).toBe(401);
      }
      expect((await get('/api/v1/vehicles/no-such-id/state')).status).toBe(404);
    });

    it('keeps rollups exact through real ingestion: a redelivered message counts once', async () => {
      const vin = '5YJ3E1EA7KF000001';
      const batch = Array.from({ length: 120 }, (_, i) => ({ ts: T0 + i * 1000, metrics: { speed_kmh: i } }));
      for (let round = 0; round < 2; round++) {
        const res = await app.http.inject({
          method: 'POST',
          url: `/api/v1/vehicles/${vin}/telemetry`,
          headers: owner.headers,
          payload: batch,
        });
        expect(res.statusCode).toBe(200);
      }
      await app.telemetry.pipeline.flushDerived();
      const rows = await app.storage.db
        .selectFrom('rollups_minute')
        .select(['bucket_ms', 'count', 'sum', 'max_value'])
        .where('vehicle_id', '=', vehicleId)
        .where('metric', '=', 'speed_kmh')
        .orderBy('bucket_ms')
        .execute();
      expect(rows).toEqual([
        { bucket_ms: T0, count: 60, sum: (59 * 60) / 2, max_value: 59 },
        { bucket_ms: T0 + MIN, count: 60, sum: (60 + 119) * 30, max_value: 119 },
      ]);
      const { body } = await get<VehicleState>(`/api/v1/vehicles/${vehicleId}/state`);
      expect(body.metrics.speed_kmh).toEqual({ value: 119, ts_ms: T0 + 119_000 });
    });

    it('downsamples raw history with LTTB so a single peak survives', async () => {
      const samples = Array.from({ length: 2000 }, (_, i) => ({
        tsMs: T0 + i * 1000,
        metrics: { speed_kmh: i === 1234 ? 199 : 50 + (i % 10), battery_level_pct: 80 - i / 100 },
      }));
      await storeSamples(app.storage.db, vehicleId, samples);
      const { status, body } = await get<DownsampledSamples>(
        `/api/v1/vehicles/${vehicleId}/samples?from=${T0}&to=${T0 + 2000_000}&metrics=speed_kmh,battery_level_pct&maxPoints=100`,
      );
      expect(status).toBe(200);
      expect(body.kind).toBe('downsampled');
      expect(body.source).toBe('raw');
      expect(body.series.map((s) => s.metric)).toEqual(['speed_kmh', 'battery_level_pct']);
      const speed = body.series[0]!;
      expect(speed.t).toHaveLength(100);
      expect(speed.v).toHaveLength(100);
      expect(speed.v).toContain(199);
      expect(speed.t[0]).toBe(T0);
      expect(speed.t.at(-1)).toBe(T0 + 1999_000);
    });

    it('reads minute rollups when the range holds many raw samples, keeping min and max at their times', async () => {
      // 25,000 samples at 1 Hz (more than the raw limit of 20,000), one spike and one dip.
      const samples = Array.from({ length: 25_000 }, (_, i) => ({
        tsMs: T0 + i * 1000,
        metrics: { power_kw: i === 7777 ? 250 : i === 15_000 ? -80 : 10 },
      }));
      await storeSamples(app.storage.db, vehicleId, samples);
      const { body } = await get<DownsampledSamples>(
        `/api/v1/vehicles/${vehicleId}/samples?from=${T0}&to=${T0 + 25_000_000}&metrics=power_kw&maxPoints=200`,
      );
      expect(body.source).toBe('minute');
      const [power] = body.series;
      expect(power!.t.length).toBeLessThanOrEqual(200);
      const peak = power!.v.indexOf(250);
      expect(power!.t[peak]).toBe(T0 + 7777_000);
      expect(power!.t[power!.v.indexOf(-80)]).toBe(T0 + 15_000_000);
    });

    it('reads hour rollups for a long range', async () => {
      const samples = Array.from({ length: 30 * 4 }, (_, i) => ({
        tsMs: T0 + i * 6 * HOUR,
        metrics: { odometer_km: 1000 + i },
      }));
      await storeSamples(app.storage.db, vehicleId, samples);
      const { body } = await get<DownsampledSamples>(
        `/api/v1/vehicles/${vehicleId}/samples?from=${T0}&to=${T0 + 30 * 24 * HOUR}&metrics=odometer_km&maxPoints=1000`,
      );
      expect(body.source).toBe('hour');
      expect(body.series[0]!.v).toEqual(samples.map((s) => s.metrics.odometer_km));
    });

    it('lets the database merge buckets into groups when a range holds thousands of them', async () => {
      // 3,000 hours of hourly data, one spike; 100 points asked for: about 30 hours per group.
      const samples = Array.from({ length: 3000 }, (_, i) => ({
        tsMs: T0 + i * HOUR,
        metrics: { outside_temp_c: i === 1234 ? 45 : 10 + (i % 24) / 4 },
      }));
      await storeSamples(app.storage.db, vehicleId, samples);
      const { body } = await get<DownsampledSamples>(
        `/api/v1/vehicles/${vehicleId}/samples?from=${T0}&to=${T0 + 3000 * HOUR}&metrics=outside_temp_c&maxPoints=100`,
      );
      expect(body.source).toBe('hour');
      const [temp] = body.series;
      expect(temp!.t.length).toBeLessThanOrEqual(100);
      expect(Math.max(...temp!.v)).toBe(45);
      expect(Math.min(...temp!.v)).toBe(10);
      const spikeAt = temp!.t[temp!.v.indexOf(45)]!;
      expect(Math.abs(spikeAt - (T0 + 1234 * HOUR))).toBeLessThanOrEqual(31 * HOUR);
      expect(temp!.t).toEqual([...temp!.t].sort((a, b) => a - b));
    });

    it('pages through samples with a cursor when no maxPoints is given', async () => {
      await storeSamples(
        app.storage.db,
        vehicleId,
        Array.from({ length: 25 }, (_, i) => ({
          tsMs: T0 + Math.floor(i / 2) * MIN,
          seq: i % 2,
          metrics: (i % 5 === 0 ? { gear: 'P' } : { speed_kmh: i }) as Record<string, string | number>,
          ...(i === 3 ? { position: { lat: 1, lon: 2, heading_deg: 90 } } : {}),
        })),
      );
      const seen: number[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = cursor ? `&cursor=${cursor}` : '';
        const { status, body } = await get<SamplesPage>(
          `/api/v1/vehicles/${vehicleId}/samples?from=${T0}&to=${T0 + HOUR}&limit=10${q}`,
        );
        expect(status).toBe(200);
        for (const s of body.samples) seen.push(s.ts_ms * 10 + s.seq);
        cursor = body.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      expect(pages).toBe(3);
      expect(seen).toEqual(
        Array.from({ length: 25 }, (_, i) => (T0 + Math.floor(i / 2) * MIN) * 10 + (i % 2)),
      );

      const filtered = await get<SamplesPage>(
        `/api/v1/vehicles/${vehicleId}/samples?from=${T0}&to=${T0 + HOUR}&metrics=speed_kmh&limit=100`,
      );
      expect(filtered.body.samples).toHaveLength(20);
      expect(filtered.body.samples[2]).toEqual({
        ts_ms: T0 + MIN,
        seq: 1,
        metrics: { speed_kmh: 3 },
        position: { lat: 1, lon: 2, heading_deg: 90 },
      });
      expect(filtered.body.nextCursor).toBeNull();
      expect(
        (await get(`/api/v1/vehicles/${vehicleId}/samples?from=${T0}&to=${T0 + 1}&cursor=nonsense`)).status,
      ).toBe(400);
      expect((await get(`/api/v1/vehicles/${vehicleId}/samples?from=${T0}&to=${T0}`)).status).toBe(400);
    });

    it('lists every raw device key grouped by object id (the deep scan)', async () => {
      const rows = [
        ['34183_00001_00009', '81', 'battery_level_pct', '%'],
        ['34183_00001_00010', '"x"', null, null],
        ['3/1/5', 'true', null, null],
        ['odd-key', '1', null, null],
      ] as const;
      for (const [key, value, canonical, unit] of rows) {
        await app.storage.db
          .insertInto('raw_keys')
          .values({
            vehicle_id: vehicleId,
            device_key: key,
            value,
            first_seen_ms: T0,
            last_seen_ms: T0 + 5,
            canonical_key: canonical,
            unit,
          })
          .execute();
      }
      const { body } = await get<RawScan>(`/api/v1/vehicles/${vehicleId}/raw`);
      expect(body.groups.map((g) => [g.objectId, g.keys.map((k) => k.key)])).toEqual([
        ['3', ['3/1/5']],
        ['34183', ['34183_00001_00009', '34183_00001_00010']],
        [null, ['odd-key']],
      ]);
      expect(body.groups[1]!.keys[0]).toEqual({
        key: '34183_00001_00009',
        value: 81,
        firstSeenMs: T0,
        lastSeenMs: T0 + 5,
        canonicalKey: 'battery_level_pct',
        unit: '%',
      });
    });

    it('answers the track as a GeoJSON LineString with times, thinned to maxPoints', async () => {
      await storeSamples(
        app.storage.db,
        vehicleId,
        Array.from({ length: 101 }, (_, i) => ({
          tsMs: T0 + i * 1000,
          metrics: { speed_kmh: 10 },
          ...(i % 2 === 0 ? { position: { lat: 50 + i / 1000, lon: 8 + i / 1000 } } : {}),
        })),
      );
      const { body } = await get<Track>(
        `/api/v1/vehicles/${vehicleId}/track?from=${T0}&to=${T0 + HOUR}&maxPoints=11`,
      );
      expect(body.type).toBe('Feature');
      expect(body.geometry.type).toBe('LineString');
      expect(body.geometry.coordinates).toHaveLength(11);
      expect(body.geometry.coordinates[0]).toEqual([8, 50]);
      expect(body.geometry.coordinates.at(-1)).toEqual([8.1, 50.1]);
      expect(body.properties.times_ms[0]).toBe(T0);
      expect(body.properties.times_ms.at(-1)).toBe(T0 + 100_000);
      expect(body.properties.totalPoints).toBe(51);
    });
  });
}
