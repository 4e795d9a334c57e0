import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { type App, type AppOptions, createApp } from '../../app.js';
import { loadConfig } from '../../config.js';
import { createTestUser, type TestUser } from '../../features/auth/testing.js';
import { waitUntil } from '../../features/telemetry/fault-helpers.js';
import { createVehicleWithToken, testVin } from '../../features/telemetry/test-fixtures.js';
import { storageBehindProxy } from '../../test/cuttable-proxy.js';
import { engines } from '../../test/storage.js';

const DEVICE_ID = 'c41f9e07-2b8d-4a56-b3e1-7d90f2a4c658';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** The whole server (not listening), its data in a fresh directory; `env` adds TACHO_* settings. */
async function startApp(env: Record<string, string>, options: AppOptions = {}): Promise<App> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tacho-unavailable-'));
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const config = loadConfig(
    { TACHO_DATA_DIR: dataDir, TACHO_LOG_LEVEL: 'silent', TACHO_PORT: '0', ...env },
    dataDir,
  );
  const app = await createApp(config, { mqttPort: null, ...options });
  cleanup.push(() => app.close());
  return app;
}

/** An operator, a vehicle with its device token, and a Traccar Client id bound to it. */
async function world(app: App, n: number) {
  const owner = await createTestUser(app, 'operator');
  const car = await createVehicleWithToken(app, owner, testVin(n));
  const bound = await app.http.inject({
    method: 'POST',
    url: `/api/v1/vehicles/${car.vehicleId}/devices`,
    headers: owner.headers,
    payload: { kind: 'osmand', deviceId: DEVICE_ID },
  });
  expect(bound.statusCode, bound.body).toBe(201);
  return { owner, car };
}

const t0 = Math.floor((Date.now() - 60_000) / 1000) * 1000;

function requests(owner: TestUser, car: { vin: string; token: string }) {
  return {
    native: (seq: number) => ({
      method: 'POST' as const,
      url: `/api/v1/vehicles/${car.vin}/telemetry`,
      headers: { authorization: `Bearer ${car.token}` },
      payload: { ts: t0 + seq * 1000, seq, metrics: { speed_kmh: seq } },
    }),
    osmand: (seq: number) => ({
      method: 'GET' as const,
      url: `/api/v1/ingest/osmand?id=${DEVICE_ID}&lat=48.1&lon=11.5&timestamp=${(t0 + seq * 1000) / 1000}`,
    }),
    vehicles: () => ({ method: 'GET' as const, url: '/api/v1/vehicles', headers: owner.headers }),
    addVehicle: (n: number) => ({
      method: 'POST' as const,
      url: '/api/v1/vehicles',
      headers: owner.headers,
      payload: { vin: testVin(n), name: 'another' },
    }),
  };
}

/** A 503 that tells the sender to come back later, in the one error shape. */
function expectRetryLater(
  res: { statusCode: number; headers: Record<string, unknown>; json(): unknown },
  code: string,
) {
  expect(res.statusCode).toBe(503);
  expect(res.headers['retry-after']).toMatch(/^[1-9]\d*$/);
  expect(res.json()).toEqual({ error: { code, message: expect.any(String) } });
}

describe('SQLite locked by another process', () => {
  it('ingest answers 503 with Retry-After after TACHO_INGEST_TIMEOUT_MS, other writes after the busy timeout; what was queued is stored once the lock goes', async () => {
    const app = await startApp({ TACHO_INGEST_TIMEOUT_MS: '300' });
    const { owner, car } = await world(app, 771);
    const r = requests(owner, car);
    // Before the lock: stored (the writer thread may take longer than 300 ms to start on a busy machine:
    // send again until it answers, as a device would), and the device token's last use recorded, so the
    // requests below only read before they ingest.
    await waitUntil('the first message stored', async () => {
      const first = await app.http.inject(r.native(1));
      return first.statusCode === 200;
    });

    // Another process (a backup, a sqlite3 shell) holds the write lock.
    const locker = new SQLite(app.storage.file!);
    locker.pragma('busy_timeout = 20000');
    locker.exec('BEGIN EXCLUSIVE');
    const release = () => {
      if (locker.open && locker.inTransaction) locker.exec('ROLLBACK');
      if (locker.open) locker.close();
    };
    cleanup.push(release);

    expectRetryLater(await app.http.inject(r.native(2)), 'ingest_timeout');
    expectRetryLater(await app.http.inject(r.osmand(3)), 'ingest_timeout');
    expectRetryLater(await app.http.inject(r.addVehicle(772)), 'storage_unavailable');
    // Reading still works: WAL readers do not wait for the writer's lock.
    expect((await app.http.inject(r.vehicles())).statusCode).toBe(200);

    release();
    const stored = () =>
      app.storage.db.selectFrom('samples').select('seq').where('vehicle_id', '=', car.vehicleId).execute();
    // The refused requests' messages were still queued: they are stored once the lock is gone…
    await waitUntil('queued messages stored after the lock', async () => (await stored()).length === 3);
    // …and sending them again, as the 503 asked, stores nothing twice.
    expect((await app.http.inject(r.native(2))).json()).toMatchObject({ stored: 0, duplicates: 1 });
    expect((await app.http.inject(r.osmand(3))).statusCode).toBe(200);
    expect((await stored()).length).toBe(3);
  }, 60_000);
});

for (const _engine of engines.filter((e) => e === 'postgres'))
  describe('PostgreSQL unreachable [postgres]', () => {
    it('every route answers 503 storage_unavailable with Retry-After instead of 500, and serves again once it is back', async () => {
      const { proxy, storage } = await storageBehindProxy(4, cleanup);
      const app = await startApp({}, { storage });
      const { owner, car } = await world(app, 773);
      const r = requests(owner, car);

      await proxy.down();
      // The token lookup is the first thing that fails: device token, API token, bound device id.
      expectRetryLater(await app.http.inject(r.native(1)), 'storage_unavailable');
      expectRetryLater(await app.http.inject(r.vehicles()), 'storage_unavailable');
      expectRetryLater(await app.http.inject(r.osmand(2)), 'storage_unavailable');

      await proxy.up();
      await waitUntil('served again', async () => (await app.http.inject(r.vehicles())).statusCode === 200);
      expect((await app.http.inject(r.native(1))).json()).toMatchObject({ stored: 1 });
    }, 60_000);
  });
