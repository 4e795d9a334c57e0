import type { MetricValue } from '@tacho/protocol';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db, Storage } from '../../db/index.js';
import { openStorage } from '../../db/index.js';
import { ManualClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/logger.js';
import { describeEngines, engines, freshStorage, TEST_PG_URL } from '../../test/storage.js';
import { ProcessingRunner, type Processor, type RunnerOptions } from '../processing/runner.js';
import { waitUntil } from '../telemetry/fault-helpers.js';
import { insertVehicle, testVin } from '../telemetry/test-fixtures.js';
import { createSessionsProcessor, SESSIONS_PROCESSOR } from './sessions.processor.js';

const T0 = Date.UTC(2026, 5, 1, 8, 0, 0);
const logger = createLogger('silent');

interface Row {
  ts: number;
  metrics: Record<string, MetricValue>;
  position?: { lat: number; lon: number };
}

/** Stores samples and their mark in one transaction, as the ingest path does. */
async function ingest(
  db: Db,
  vehicleId: string,
  rows: Row[],
  processors = [SESSIONS_PROCESSOR],
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (const r of rows) {
      await trx
        .insertInto('samples')
        .values({
          vehicle_id: vehicleId,
          ts_ms: T0 + r.ts * 1000,
          seq: 0,
          received_ms: T0,
          source: 'test',
          metrics: JSON.stringify(r.metrics),
          lat: r.position?.lat ?? null,
          lon: r.position?.lon ?? null,
          alt_m: null,
          heading_deg: null,
          speed_kmh: null,
          accuracy_m: null,
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    const low = T0 + Math.min(...rows.map((r) => r.ts)) * 1000;
    for (const processor of processors)
      await trx
        .insertInto('processing_marks')
        .values({ processor, vehicle_id: vehicleId, low_ts_ms: low, marked_ms: Date.now() })
        .execute();
  });
}

/** A drive of `km` km on the odometer between `from` and `to` seconds, parked before and after. */
function drive(from: number, to: number, odoFrom: number, km: number, soc = 80): Row[] {
  const rows: Row[] = [{ ts: from, metrics: { gear: 'D', odometer_km: odoFrom, battery_level_pct: soc } }];
  const steps = Math.max(1, Math.floor((to - from) / 60));
  for (let i = 1; i < steps; i++)
    rows.push({ ts: from + i * 60, metrics: { speed_kmh: 50, odometer_km: odoFrom + (km * i) / steps } });
  rows.push({ ts: to, metrics: { gear: 'P', odometer_km: odoFrom + km, battery_level_pct: soc - 5 } });
  return rows;
}

async function sessions(db: Db, vehicleId: string) {
  const rows = await db
    .selectFrom('sessions')
    .select(['id', 'kind', 'start_ms', 'end_ms', 'stats'])
    .where('vehicle_id', '=', vehicleId)
    .orderBy('start_ms')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    start: (Number(r.start_ms) - T0) / 1000,
    end: r.end_ms === null ? null : (Number(r.end_ms) - T0) / 1000,
    km: (JSON.parse(r.stats) as { distance_km: number }).distance_km,
  }));
}

describeEngines('sessions on the after-commit processing path', (ctx) => {
  const runner = (
    clock = new ManualClock(T0 + 86_400_000),
    processors: Processor<unknown>[] = [createSessionsProcessor() as unknown as Processor<unknown>],
    options: Partial<RunnerOptions> = {},
  ) => new ProcessingRunner({ storage: ctx.storage, clock, logger, processors }, options);

  it('records drives from committed samples, consumes the marks, and shows the drive in progress', async () => {
    const { db } = ctx.storage;
    const car = await insertVehicle(db, testVin(1));
    const clock = new ManualClock(T0 + 1000 * 1000);
    const r = runner(clock);
    await ingest(db, car, [{ ts: 0, metrics: { gear: 'P' } }, ...drive(60, 600, 100, 8)]);
    await ingest(db, car, [
      { ts: 700, metrics: { gear: 'D', odometer_km: 108 } },
      { ts: 760, metrics: { odometer_km: 109 } },
    ]);
    await r.drain();
    expect(await sessions(db, car)).toMatchObject([
      { kind: 'drive', start: 60, end: 600, km: 8 },
      { kind: 'drive', start: 700, end: null, km: 1 },
    ]);
    expect(await db.selectFrom('processing_marks').selectAll().execute()).toEqual([]);
    // 15 minutes without data end it at its last sample.
    clock.set(T0 + 760_000 + 900_000);
    await r.drain();
    expect((await sessions(db, car))[1]).toMatchObject({ start: 700, end: 760 });
  });

  it('works through a backlog longer than one round at once, not a round per poll interval', async () => {
    // An import or a backfill: more samples than a round reads. With an hour between polls, only going
    // on at once after a round that left more gets through it.
    const { db } = ctx.storage;
    const car = await insertVehicle(db, testVin(9));
    await ingest(db, car, [{ ts: 0, metrics: { gear: 'P' } }, ...drive(60, 6000, 100, 50)]);
    const r = runner(undefined, undefined, { chunk: 10, pollMs: 3_600_000 });
    r.start();
    try {
      await waitUntil('the drive recorded to its end', async () => {
        const found = await sessions(db, car);
        return found.length === 1 && found[0]!.end === 6000;
      });
    } finally {
      await r.stop();
    }
    expect(await sessions(db, car)).toMatchObject([{ kind: 'drive', start: 60, end: 6000, km: 50 }]);
  });

  it('re-runs the window when late data arrives: a late drive is found, a late sample joins and splits drives', async () => {
    const { db } = ctx.storage;
    const car = await insertVehicle(db, testVin(2));
    const r = runner();
    await ingest(db, car, [...drive(0, 600, 100, 8), ...drive(5000, 5600, 108.5, 5, 70)]);
    await r.drain();
    const before = await sessions(db, car);
    expect(before.map((s) => [s.start, s.end])).toEqual([
      [0, 600],
      [5000, 5600],
    ]);
    // An hour of buffered data uploaded late, between the two: a drive found in the middle, ids kept.
    await ingest(db, car, drive(2000, 2600, 108, 0.5, 75));
    await r.drain();
    const after = await sessions(db, car);
    expect(after.map((s) => [s.start, s.end])).toEqual([
      [0, 600],
      [2000, 2600],
      [5000, 5600],
    ]);
    expect(after[0]!.id).toBe(before[0]!.id);
    expect(after[2]!.id).toBe(before[1]!.id);

    // A late "P" inside the first drive splits it in two.
    await ingest(db, car, [
      { ts: 330, metrics: { gear: 'P', odometer_km: 104.2 } },
      { ts: 345, metrics: { gear: 'D', odometer_km: 104.2 } },
    ]);
    await r.drain();
    expect((await sessions(db, car)).slice(0, 2).map((s) => [s.start, s.end, s.km])).toEqual([
      [0, 330, 4.2],
      [345, 600, 3.8],
    ]);

    // A drive cut by 25 minutes without data, whose buffered samples arrive late: one drive again.
    const van = await insertVehicle(db, testVin(9));
    const moving = (from: number, to: number, odo: number): Row[] =>
      Array.from({ length: (to - from) / 60 }, (_, i) => ({
        ts: from + i * 60,
        metrics: { speed_kmh: 50, odometer_km: odo + i },
      }));
    await ingest(db, van, [{ ts: 0, metrics: { gear: 'D', odometer_km: 0 } }, ...moving(60, 600, 1)]);
    await ingest(db, van, [...moving(2100, 2700, 35), { ts: 2700, metrics: { gear: 'P', odometer_km: 45 } }]);
    await r.drain();
    expect((await sessions(db, van)).map((s) => [s.start, s.end])).toEqual([[0, 540]]);
    await ingest(db, van, moving(600, 2100, 10));
    await r.drain();
    expect((await sessions(db, van)).map((s) => [s.start, s.end, s.km])).toEqual([[0, 2700, 45]]);
  });

  it('commits nothing of a round that fails, records the reason, and retries after a back-off', async () => {
    const { db } = ctx.storage;
    const car = await insertVehicle(db, testVin(3));
    const other = await insertVehicle(db, testVin(4));
    const clock = new ManualClock(T0 + 86_400_000);
    const real = createSessionsProcessor() as unknown as Processor<unknown>;
    let failing = true;
    const flaky: Processor<unknown> = {
      ...real,
      async fold(trx, vehicleId, state, samples, now) {
        if (failing && vehicleId === car) throw new Error('bad data in this vehicle');
        return real.fold(trx, vehicleId, state, samples, now);
      },
    };
    const r = runner(clock, [flaky]);
    await ingest(db, car, drive(0, 600, 100, 8));
    await ingest(db, other, drive(0, 600, 100, 8));
    await r.drain();
    expect(await sessions(db, other)).toHaveLength(1);
    expect(await sessions(db, car)).toEqual([]);
    const state = await db
      .selectFrom('processing_state')
      .select(['failed_reason', 'attempts', 'retry_at_ms'])
      .where('vehicle_id', '=', car)
      .executeTakeFirstOrThrow();
    expect(state).toMatchObject({ failed_reason: 'bad data in this vehicle', attempts: 1 });
    expect(Number(state.retry_at_ms)).toBeGreaterThan(clock.now());
    failing = false;
    await r.drain();
    expect(await sessions(db, car)).toEqual([]);
    clock.advance(60_000);
    await r.drain();
    expect(await sessions(db, car)).toHaveLength(1);
  });

  it('keeps two runners on one database from working on the same vehicle at once', async () => {
    // PostgreSQL: two connection pools, as two instances have; SQLite (one process per file): two runners.
    const { db } = ctx.storage;
    const cars = await Promise.all([5, 6, 7, 8].map((n) => insertVehicle(db, testVin(n))));
    for (const car of cars) await ingest(db, car, drive(0, 600, 100, 8));
    const inside = new Set<string>();
    const overlaps: string[] = [];
    const real = createSessionsProcessor() as unknown as Processor<unknown>;
    const slow: Processor<unknown> = {
      ...real,
      async fold(trx, vehicleId, state, samples, now) {
        if (inside.has(vehicleId)) overlaps.push(vehicleId);
        inside.add(vehicleId);
        await new Promise((resolve) => setTimeout(resolve, 30));
        inside.delete(vehicleId);
        return real.fold(trx, vehicleId, state, samples, now);
      },
    };
    const second =
      ctx.engine === 'postgres'
        ? await openStorage({ kind: 'postgres', url: TEST_PG_URL }, { schema: ctx.storage.schema! })
        : null;
    try {
      const a = runner(undefined, [slow]);
      const b = new ProcessingRunner({
        storage: second ?? ctx.storage,
        clock: new ManualClock(T0 + 86_400_000),
        logger,
        processors: [slow],
      });
      await Promise.all([a.drain(), b.drain()]);
    } finally {
      await second?.close();
    }
    expect(overlaps).toEqual([]);
    for (const car of cars) expect(await sessions(db, car)).toMatchObject([{ start: 0, end: 600, km: 8 }]);
  });
});

// Instances share only PostgreSQL: SQLite has one process per file.
if (engines.includes('postgres')) {
  describe('sessions processing across instances [postgres]', () => {
    let pgStorage: (Storage & { drop(): Promise<void> }) | null = null;
    beforeEach(async () => {
      pgStorage = await freshStorage('postgres');
    });
    afterEach(async () => {
      await pgStorage?.drop();
    });

    it('moves a vehicle to another instance when the one working on it dies mid-round (PostgreSQL)', async () => {
      const { db } = pgStorage!;
      const car = await insertVehicle(db, testVin(10));
      await ingest(db, car, drive(0, 600, 100, 8));
      const dying = await openStorage({ kind: 'postgres', url: TEST_PG_URL }, { schema: pgStorage!.schema! });
      const real = createSessionsProcessor() as unknown as Processor<unknown>;
      let holding: (pid: number) => void = () => {};
      const held = new Promise<number>((resolve) => {
        holding = resolve;
      });
      let wake: () => void = () => {};
      const asleep = new Promise<void>((resolve) => {
        wake = resolve;
      });
      // Instance A takes the vehicle and dies inside its round: its connection is cut, as a dead process's is.
      const stuck: Processor<unknown> = {
        ...real,
        async fold(trx, vehicleId, state, samples, now) {
          const pid = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
          holding(pid.rows[0]!.pid);
          await asleep;
          return real.fold(trx, vehicleId, state, samples, now);
        },
      };
      const a = new ProcessingRunner({
        storage: dying,
        clock: new ManualClock(T0 + 86_400_000),
        logger,
        processors: [stuck],
      });
      const aRound = a.round(stuck, car);
      try {
        const pid = await held;
        // While A holds it, instance B may not work on it.
        const clock = new ManualClock(T0 + 86_400_000);
        const b = new ProcessingRunner({
          storage: pgStorage!,
          clock,
          logger,
          processors: [createSessionsProcessor() as unknown as Processor<unknown>],
        });
        await b.drain();
        expect(await sessions(db, car)).toEqual([]);
        // A dies: PostgreSQL ends its session and with it the lock; B's next pass takes the vehicle.
        await sql`select pg_terminate_backend(${pid})`.execute(db);
        await waitUntil('B took the vehicle over', async () => {
          await b.drain();
          return (await sessions(db, car)).length > 0;
        });
        expect(await sessions(db, car)).toMatchObject([{ start: 0, end: 600, km: 8 }]);
      } finally {
        wake();
        await aRound;
        await dying.close().catch(() => {});
      }
    });
  });
}
