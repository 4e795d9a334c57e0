/**
 * Sessions and the after-commit processing path (issue 17), three figures:
 * 1. catch-up: how many samples/s the sessions processor works through when a backlog of `--samples`
 *    (default 1,000,000) over `--vehicles` (100) is waiting, on SQLite and PostgreSQL;
 * 2. lag: commit → session updated, p50/p99, while `--rate` (10,000) messages/s are ingested paced;
 * 3. reads: `GET /vehicles/:id/sessions` p99 with 10,000 sessions, and `/sessions/:id/track` p99 for a
 *    50,000-point drive.
 *
 *     npm run bench:sessions [-- --samples 1000000 --vehicles 100 --rate 10000 --seconds 30 --no-postgres]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createTestUser } from '../apps/server/src/features/auth/testing.js';
import { ProcessingRunner, type Processor } from '../apps/server/src/features/processing/runner.js';
import {
  createSessionsProcessor,
  SESSIONS_PROCESSOR,
} from '../apps/server/src/features/sessions/sessions.processor.js';
import { createApp, loadConfig, openStorage, type Storage } from '../apps/server/src/index.js';
import { createLogger } from '../apps/server/src/lib/logger.js';
import { TEST_PG_URL } from '../apps/server/src/test/storage.js';

const { values: flags } = parseArgs({
  options: {
    samples: { type: 'string', default: '1000000' },
    vehicles: { type: 'string', default: '100' },
    rate: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '30' },
    'no-postgres': { type: 'boolean', default: false },
  },
});
const SAMPLES = Number(flags.samples);
const VEHICLES = Number(flags.vehicles);
const RATE = Number(flags.rate);
const SECONDS = Number(flags.seconds);
const logger = createLogger('silent');

/** Session ids look like the server's (UUID-shaped), so `before` cursors over them parse. */
const sessionId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

/** One vehicle's day at 1 Hz: 10 minutes driving (D, speed, odometer, power, positions), 5 parked. */
function sampleAt(vehicle: number, i: number, t0: number) {
  const phase = i % 900;
  const driving = phase < 600;
  const odo = 1000 + Math.floor(i / 900) * 10 + (driving ? phase / 60 : 10);
  const metrics: Record<string, unknown> = driving
    ? { speed_kmh: 60, odometer_km: Math.round(odo * 1000) / 1000, power_kw: 15 }
    : { speed_kmh: 0, odometer_km: Math.round(odo * 1000) / 1000 };
  if (phase === 0) metrics.gear = 'D';
  if (phase === 600) metrics.gear = 'P';
  if (phase % 60 === 0) metrics.battery_level_pct = 80 - ((i / 900) % 50);
  return {
    ts: t0 + i * 1000,
    metrics: JSON.stringify(metrics),
    lat: 48 + vehicle * 0.01,
    lon: 11 + odo / 100,
  };
}

async function vehicles(storage: Storage, n: number): Promise<string[]> {
  const now = Date.now();
  const owner = `bench-owner-${now}`;
  await storage.db
    .insertInto('users')
    .values({
      id: owner,
      email: `${owner}@example.test`,
      name: 'bench',
      password_hash: null,
      role: 'operator',
      disabled_ms: null,
      tokens_valid_after_ms: 0,
      created_ms: now,
      updated_ms: now,
    })
    .execute();
  const ids = Array.from({ length: n }, (_, i) => `bench-vehicle-${now}-${i}`);
  await storage.db
    .insertInto('vehicles')
    .values(
      ids.map((id, i) => ({
        id,
        vin: `BNCH${String(now % 1e6).padStart(6, '0')}${String(i).padStart(7, '0')}`,
        name: `Bench ${i}`,
        make: null,
        model: null,
        year: null,
        owner_id: owner,
        created_ms: now,
        updated_ms: now,
      })),
    )
    .execute();
  return ids;
}

/** Stores the backlog as ingest would (samples and marks), without processing it. */
async function fillBacklog(storage: Storage, ids: string[], perVehicle: number, t0: number): Promise<void> {
  const chunk = 500;
  for (let from = 0; from < perVehicle; from += chunk) {
    await storage.db.transaction().execute(async (trx) => {
      for (const [v, id] of ids.entries()) {
        const rows = [];
        for (let i = from; i < Math.min(perVehicle, from + chunk); i++) {
          const s = sampleAt(v, i, t0);
          rows.push({
            vehicle_id: id,
            ts_ms: s.ts,
            seq: 0,
            received_ms: s.ts,
            source: 'bench',
            metrics: s.metrics,
            lat: s.lat,
            lon: s.lon,
            alt_m: null,
            heading_deg: null,
            speed_kmh: null,
            accuracy_m: null,
          });
        }
        await trx.insertInto('samples').values(rows).execute();
        await trx
          .insertInto('processing_marks')
          .values({
            processor: SESSIONS_PROCESSOR,
            vehicle_id: id,
            low_ts_ms: rows[0]!.ts_ms,
            marked_ms: Date.now(),
          })
          .execute();
      }
    });
  }
}

async function catchUp(engine: 'sqlite' | 'postgres'): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tacho-bench-sessions-'));
  const schema = `bench_sessions_${process.pid}`;
  const storage =
    engine === 'sqlite'
      ? await openStorage({ kind: 'sqlite', path: join(dir, 'tacho.db') })
      : await openStorage({ kind: 'postgres', url: TEST_PG_URL }, { schema, poolSize: 4 });
  try {
    const ids = await vehicles(storage, VEHICLES);
    const perVehicle = Math.ceil(SAMPLES / VEHICLES);
    const filled = performance.now();
    await fillBacklog(storage, ids, perVehicle, Date.now() - perVehicle * 1000 - 3_600_000);
    const fillS = (performance.now() - filled) / 1000;
    const runner = new ProcessingRunner({
      storage,
      clock: { now: () => Date.now() },
      logger,
      processors: [createSessionsProcessor() as unknown as Processor<unknown>],
    });
    const started = performance.now();
    await runner.drain();
    const seconds = (performance.now() - started) / 1000;
    const sessions = await storage.db
      .selectFrom('sessions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    console.log(
      `catch-up [${engine}]: ${perVehicle * VEHICLES} samples over ${VEHICLES} vehicles in ${seconds.toFixed(1)} s = ` +
        `${Math.round((perVehicle * VEHICLES) / seconds).toLocaleString('en')} samples/s, ${Number(sessions.n)} sessions ` +
        `(backlog written in ${fillS.toFixed(1)} s)`,
    );
  } finally {
    if (engine === 'postgres') await storage.db.schema.dropSchema(schema).ifExists().cascade().execute();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function lag(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tacho-bench-lag-'));
  const app = await createApp(
    loadConfig({ TACHO_DATA_DIR: dir, TACHO_LOG_LEVEL: 'silent', TACHO_PORT: '0' }, dir),
    {
      mqttPort: null,
    },
  );
  try {
    const ids = await vehicles(app.storage, VEHICLES);
    const lags: number[] = [];
    app.processing.onLag((_, ms) => lags.push(ms));
    const t0 = Date.now() - SECONDS * 1000 - 60_000;
    const perTick = RATE / 100;
    let sent = 0;
    const pending: Promise<unknown>[] = [];
    const started = Date.now();
    for (let tick = 0; tick < SECONDS * 100; tick++) {
      const due = started + tick * 10;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      for (let k = 0; k < perTick; k++) {
        const v = (sent + k) % VEHICLES;
        const i = Math.floor((sent + k) / VEHICLES);
        const s = sampleAt(v, i, t0);
        pending.push(
          app.telemetry.pipeline.ingest({ source: 'bench', topic: 'bench', vehicleId: ids[v]! }, [
            { ts: s.ts, seq: 0, metrics: JSON.parse(s.metrics), position: { lat: s.lat, lon: s.lon } },
          ]),
        );
      }
      sent += perTick;
      if (pending.length > 50_000) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    const elapsed = (Date.now() - started) / 1000;
    lags.sort((a, b) => a - b);
    console.log(
      `lag at ${Math.round(sent / elapsed).toLocaleString('en')} msg/s over ${VEHICLES} vehicles (SQLite, ${lags.length} rounds): ` +
        `commit → session updated p50 ${fmt(pct(lags, 0.5))}, p99 ${fmt(pct(lags, 0.99))}, max ${fmt(lags[lags.length - 1] ?? 0)}`,
    );
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function reads(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tacho-bench-reads-'));
  const app = await createApp(
    loadConfig({ TACHO_DATA_DIR: dir, TACHO_LOG_LEVEL: 'silent', TACHO_PORT: '0' }, dir),
    {
      mqttPort: null,
    },
  );
  try {
    const owner = await createTestUser(app, 'operator');
    const created = await app.http.inject({
      method: 'POST',
      url: '/api/v1/vehicles',
      headers: owner.headers,
      payload: { vin: '5YJ3E1EA7KF000999', name: 'Bench' },
    });
    const vehicleId = created.json<{ id: string }>().id;
    const stats = JSON.stringify({
      distance_km: 10,
      duration_s: 600,
      moving_s: 600,
      max_speed_kmh: 80,
      avg_speed_kmh: 60,
      soc_start_pct: 80,
      soc_end_pct: 78,
      range_start_km: null,
      range_end_km: null,
      energy_used_kwh: 1.5,
      energy_added_kwh: null,
      efficiency_wh_km: 150,
      max_power_kw: 40,
      outside_temp_avg_c: null,
      start_position: { lat: 48, lon: 11 },
      end_position: { lat: 48.1, lon: 11.1 },
      charge_curve: null,
    });
    const t0 = Date.UTC(2025, 0, 1);
    for (let from = 0; from < 10_000; from += 1000) {
      await app.storage.db
        .insertInto('sessions')
        .values(
          Array.from({ length: 1000 }, (_, k) => ({
            id: sessionId(from + k),
            vehicle_id: vehicleId,
            kind: 'drive' as const,
            name: null,
            start_ms: t0 + (from + k) * 3_600_000,
            end_ms: t0 + (from + k) * 3_600_000 + 600_000,
            stats,
            created_ms: t0,
            updated_ms: t0,
          })),
        )
        .execute();
    }
    // A 50,000-point drive, a fix a second, wandering.
    const driveStart = t0 + 20_000 * 3_600_000;
    for (let from = 0; from < 50_000; from += 1000) {
      await app.storage.db
        .insertInto('samples')
        .values(
          Array.from({ length: 1000 }, (_, k) => {
            const i = from + k;
            return {
              vehicle_id: vehicleId,
              ts_ms: driveStart + i * 1000,
              seq: 0,
              received_ms: driveStart,
              source: 'bench',
              metrics: '{"speed_kmh":50}',
              lat: 48 + i * 0.00005 + Math.sin(i / 50) * 0.001,
              lon: 11 + i * 0.00007 + Math.cos(i / 70) * 0.001,
              alt_m: null,
              heading_deg: null,
              speed_kmh: null,
              accuracy_m: null,
            };
          }),
        )
        .execute();
    }
    await app.storage.db
      .insertInto('sessions')
      .values({
        id: sessionId(99_999),
        vehicle_id: vehicleId,
        kind: 'drive',
        name: null,
        start_ms: driveStart,
        end_ms: driveStart + 50_000 * 1000,
        stats,
        created_ms: t0,
        updated_ms: t0,
      })
      .execute();
    const time = async (url: string, n: number) => {
      const ms: number[] = [];
      for (let i = 0; i < n; i++) {
        const started = performance.now();
        const res = await app.http.inject({ method: 'GET', url, headers: owner.headers });
        ms.push(performance.now() - started);
        if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
      }
      return ms.sort((a, b) => a - b);
    };
    await time(`/api/v1/vehicles/${vehicleId}/sessions`, 20);
    const list = await time(`/api/v1/vehicles/${vehicleId}/sessions`, 300);
    const all = await time('/api/v1/sessions', 300);
    const deep = await time(
      `/api/v1/vehicles/${vehicleId}/sessions?before=${encodeURIComponent(`${t0 + 5000 * 3_600_000}.${sessionId(5000)}`)}`,
      300,
    );
    const track = await time(`/api/v1/sessions/${sessionId(99_999)}/track`, 30);
    console.log(
      `reads (SQLite, 10,000 sessions): GET /vehicles/:id/sessions p50 ${fmt(pct(list, 0.5))} p99 ${fmt(pct(list, 0.99))}; ` +
        `GET /sessions p99 ${fmt(pct(all, 0.99))}; a page 5,000 deep p99 ${fmt(pct(deep, 0.99))}`,
    );
    console.log(
      `reads: GET /sessions/:id/track of a 50,000-point drive (1,000 points out) p50 ${fmt(pct(track, 0.5))} p99 ${fmt(pct(track, 0.99))}`,
    );
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await catchUp('sqlite');
if (!flags['no-postgres']) await catchUp('postgres');
await lag();
await reads();
process.exit(0);
