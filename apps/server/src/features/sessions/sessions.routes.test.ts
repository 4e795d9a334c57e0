import type { Session, SessionPage, SessionTrack } from '@tacho/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createTestUser, type TestUser } from '../auth/testing.js';
import { waitUntil } from '../telemetry/fault-helpers.js';

const T0 = Date.UTC(2026, 5, 1, 8, 0, 0);
const VIN = '5YJ3E1EA7KF000017';

/** A drive over HTTP ingest: D, 40 fixes a minute apart heading east with the odometer, then P. */
function driveMessages(startMs: number, odoFrom: number, km: number, soc = 80) {
  const out: unknown[] = [
    { ts: startMs, seq: 0, metrics: { gear: 'D', odometer_km: odoFrom, battery_level_pct: soc } },
  ];
  for (let i = 1; i <= 40; i++) {
    out.push({
      ts: startMs + i * 60_000,
      seq: 0,
      metrics: { speed_kmh: 60, odometer_km: odoFrom + (km * i) / 40, power_kw: 15 },
      position: { lat: 48.1, lon: 11.5 + (0.01 * i) / 1, alt_m: 500 },
    });
  }
  out.push({
    ts: startMs + 41 * 60_000,
    seq: 0,
    metrics: { gear: 'P', odometer_km: odoFrom + km, battery_level_pct: soc - 4 },
  });
  return out;
}

for (const engine of engines) {
  describe(`sessions API [${engine}]`, () => {
    let app: TestApp;
    let clock: ManualClock;
    let owner: TestUser;
    let stranger: TestUser;
    let vehicleId: string;

    beforeEach(async () => {
      clock = new ManualClock(T0 + 6 * 3_600_000);
      app = await createTestApp(engine, {}, { clock });
      owner = await createTestUser(app, 'operator');
      stranger = await createTestUser(app, 'operator');
      const res = await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers: owner.headers,
        payload: { vin: VIN, name: 'Blue' },
      });
      expect(res.statusCode).toBe(201);
      vehicleId = res.json().id;
    });
    afterEach(async () => {
      await app?.dispose();
    });

    const call = async <T>(
      method: 'GET' | 'POST' | 'DELETE',
      url: string,
      user: TestUser = owner,
      payload?: unknown,
    ) => {
      const res = await app.http.inject({
        method,
        url,
        headers: user.headers,
        ...(payload === undefined ? {} : { payload: payload as object }),
      });
      return { status: res.statusCode, body: (res.body ? res.json() : null) as T };
    };
    const ingest = async (messages: unknown[]) => {
      const res = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${VIN}/telemetry`,
        headers: owner.headers,
        payload: messages as object,
      });
      expect(res.statusCode).toBe(200);
    };
    const sessions = async (query = '') =>
      (await call<SessionPage>('GET', `/api/v1/vehicles/${vehicleId}/sessions${query}`)).body;

    it('records a drive sent over HTTP, and serves it with its stats, track and series', async () => {
      await ingest(driveMessages(T0, 1000, 20));
      await waitUntil('the drive recorded', async () =>
        (await sessions()).items.some((s) => s.endMs !== null),
      );
      const [drive] = (await sessions()).items;
      expect(drive).toMatchObject({
        vehicleId,
        kind: 'drive',
        startMs: T0,
        endMs: T0 + 41 * 60_000,
        stats: {
          distance_km: 20,
          duration_s: 41 * 60,
          soc_start_pct: 80,
          soc_end_pct: 76,
          max_speed_kmh: 60,
        },
      });
      expect((await call<SessionPage>('GET', '/api/v1/sessions')).body.items.map((s) => s.id)).toEqual([
        drive!.id,
      ]);
      expect((await call<Session>('GET', `/api/v1/sessions/${drive!.id}`)).body).toEqual(drive);

      const track = (await call<SessionTrack>('GET', `/api/v1/sessions/${drive!.id}/track?maxPoints=10`))
        .body;
      expect(track.type).toBe('Feature');
      expect(track.properties.totalPoints).toBe(40);
      // A straight line: Douglas–Peucker keeps its two ends.
      expect(track.geometry.coordinates).toEqual([
        [11.51, 48.1, 500],
        [11.9, 48.1, 500],
      ]);
      const series = (
        await call<{ kind: string; series: Array<{ metric: string; t: number[] }> }>(
          'GET',
          `/api/v1/sessions/${drive!.id}/samples?metrics=speed_kmh,odometer_km&maxPoints=100`,
        )
      ).body;
      expect(series.kind).toBe('downsampled');
      expect(series.series.find((s) => s.metric === 'speed_kmh')?.t).toHaveLength(40);
    });

    it('records by hand: start 201, again 409, stop 200 with the stats of the samples inside, stop again 409', async () => {
      clock.set(T0);
      const started = await call<Session>('POST', `/api/v1/vehicles/${vehicleId}/sessions`, owner, {
        kind: 'manual',
        name: 'Commute',
      });
      expect(started.status).toBe(201);
      expect(started.body).toMatchObject({ kind: 'manual', name: 'Commute', startMs: T0, endMs: null });
      expect(
        (await call('POST', `/api/v1/vehicles/${vehicleId}/sessions`, owner, { kind: 'manual' })).status,
      ).toBe(409);
      clock.set(T0 + 30 * 60_000);
      // Up to 5 minutes ahead of the server clock are accepted: the rest comes again later.
      await ingest(driveMessages(T0 + 1000, 500, 10));
      const stopped = await call<Session>('POST', `/api/v1/sessions/${started.body.id}/stop`);
      expect(stopped.status).toBe(200);
      expect(stopped.body).toMatchObject({ endMs: T0 + 30 * 60_000, stats: { duration_s: 1800 } });
      // 29 of the 40 minutes of driving fell inside it.
      expect(stopped.body.stats.distance_km).toBeCloseTo((10 * 29) / 40, 3);
      expect((await call('POST', `/api/v1/sessions/${started.body.id}/stop`)).status).toBe(409);
      clock.set(T0 + 6 * 3_600_000);
      await ingest(driveMessages(T0 + 1000, 500, 10));
      await waitUntil('the drive recorded', async () =>
        (await sessions('?kind=drive')).items.some((s) => s.endMs !== null),
      );
      const drive = (await sessions('?kind=drive')).items[0]!;
      expect((await call('POST', `/api/v1/sessions/${drive.id}/stop`)).status).toBe(409);
    });

    it('deletes a session with the samples inside it, and nothing records it again', async () => {
      await ingest([...driveMessages(T0, 1000, 20), ...driveMessages(T0 + 2 * 3_600_000, 1020, 5, 76)]);
      await waitUntil(
        'two drives',
        async () => (await sessions()).items.filter((s) => s.endMs !== null).length === 2,
      );
      const [second, first] = (await sessions()).items;
      expect((await call('DELETE', `/api/v1/sessions/${first!.id}`, stranger)).status).toBe(404);
      expect((await call('DELETE', `/api/v1/sessions/${first!.id}`)).status).toBe(204);
      expect((await call('GET', `/api/v1/sessions/${first!.id}`)).status).toBe(404);
      const left = await app.storage.db
        .selectFrom('samples')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('vehicle_id', '=', vehicleId)
        .executeTakeFirstOrThrow();
      expect(Number(left.n)).toBe(42);
      // Processing runs over the window again and finds nothing there.
      await waitUntil('marks consumed', async () => {
        const marks = await app.storage.db.selectFrom('processing_marks').selectAll().execute();
        return marks.length === 0;
      });
      expect((await sessions()).items.map((s) => s.id)).toEqual([second!.id]);
    });

    it('counts a backlog longer than one round in the processing status until every sample is processed', async () => {
      // 7,500 samples a second apart: more than one round reads (5,000), as after an import.
      const total = 7500;
      const messages = Array.from({ length: total }, (_, i) => ({
        ts: T0 + i * 1000,
        seq: 0,
        metrics:
          i === 0
            ? { gear: 'D', odometer_km: 1000 }
            : i === total - 1
              ? { gear: 'P', odometer_km: 1000 + i / 100 }
              : { speed_kmh: 36, odometer_km: 1000 + i / 100 },
      }));
      for (let i = 0; i < total; i += 1000) await ingest(messages.slice(i, i + 1000));
      const admin = await createTestUser(app, 'admin');
      await waitUntil('no backlog', async () => {
        const status = await call<{ backlog: number }>('GET', '/api/v1/admin/processing', admin);
        expect(status.status).toBe(200);
        return status.body.backlog === 0;
      });
      // Backlog 0 means done: the drive is there whole, not the first round's part of it.
      const [drive] = (await sessions()).items;
      expect(drive).toMatchObject({ kind: 'drive', startMs: T0, endMs: T0 + (total - 1) * 1000 });
    });

    it('hides the sessions of vehicles one may not see, and refuses bad input with the error shape', async () => {
      await ingest(driveMessages(T0, 1000, 20));
      await waitUntil('the drive recorded', async () =>
        (await sessions()).items.some((s) => s.endMs !== null),
      );
      const id = (await sessions()).items[0]!.id;
      expect((await call('GET', `/api/v1/vehicles/${vehicleId}/sessions`, stranger)).status).toBe(404);
      expect((await call('GET', `/api/v1/sessions/${id}`, stranger)).status).toBe(404);
      expect((await call<SessionPage>('GET', '/api/v1/sessions', stranger)).body.items).toEqual([]);
      expect((await call('GET', '/api/v1/sessions/no-such-session')).status).toBe(404);
      for (const bad of ['maxPoints=1', 'maxPoints=10001', 'maxPoints=abc']) {
        const res = await call<{ error: { code: string } }>('GET', `/api/v1/sessions/${id}/track?${bad}`);
        expect(res.status).toBe(400);
        expect(res.body.error.code).toBeTypeOf('string');
      }
      expect((await call('GET', `/api/v1/vehicles/${vehicleId}/sessions?from=20&to=10`)).status).toBe(400);
      expect((await call('GET', `/api/v1/vehicles/${vehicleId}/sessions?before=garbage`)).status).toBe(400);
      expect((await call('POST', `/api/v1/sessions/${id}/stop`, stranger)).status).toBe(404);
    });

    it("derives a vehicle's sessions again with its own detection settings, and refuses bad ones", async () => {
      await ingest([...driveMessages(T0, 1000, 20), ...driveMessages(T0 + 2 * 3_600_000, 1020, 5, 76)]);
      await waitUntil(
        'two drives',
        async () => (await sessions('?kind=drive')).items.filter((s) => s.endMs !== null).length === 2,
      );
      const url = `/api/v1/vehicles/${vehicleId}/session-settings`;
      const before = await call<{ settings: { minDriveKm: number }; defaults: { minDriveKm: number } }>(
        'GET',
        url,
      );
      expect(before.body.settings).toEqual(before.body.defaults);
      expect(before.body.settings.minDriveKm).toBe(0.1);
      const put = await app.http.inject({
        method: 'PUT',
        url,
        headers: owner.headers,
        payload: { minDriveKm: 10 },
      });
      expect(put.statusCode).toBe(200);
      expect(put.json().settings.minDriveKm).toBe(10);
      // The 5 km drive is now too short to keep; the 20 km one stays, with its id.
      await waitUntil(
        'the short drive dropped',
        async () => (await sessions('?kind=drive')).items.length === 1,
      );
      expect((await sessions('?kind=drive')).items[0]).toMatchObject({
        startMs: T0,
        stats: { distance_km: 20 },
      });
      for (const bad of [{ minDriveKm: -1 }, { stopRadiusM: 1 }, { offlineAfterS: 'soon' }, { unknown: 1 }]) {
        const res = await app.http.inject({ method: 'PUT', url, headers: owner.headers, payload: bad });
        expect(res.statusCode).toBe(400);
      }
      const reset = await app.http.inject({ method: 'PUT', url, headers: owner.headers, payload: {} });
      expect(reset.json().settings.minDriveKm).toBe(0.1);
      await waitUntil('the short drive back', async () => (await sessions('?kind=drive')).items.length === 2);
    });

    it('pages newest first with nextBefore', async () => {
      await ingest([
        ...driveMessages(T0, 1000, 20),
        ...driveMessages(T0 + 3_600_000, 1020, 20, 76),
        ...driveMessages(T0 + 7_200_000, 1040, 20, 72),
      ]);
      await waitUntil(
        'three drives',
        async () => (await sessions()).items.filter((s) => s.endMs !== null).length === 3,
      );
      const first = await sessions('?limit=2');
      expect(first.items.map((s) => s.startMs)).toEqual([T0 + 7_200_000, T0 + 3_600_000]);
      const next = await sessions(`?limit=2&before=${encodeURIComponent(first.nextBefore!)}`);
      expect(next.items.map((s) => s.startMs)).toEqual([T0]);
      expect(next.nextBefore).toBeNull();
    });
  });
}
