import { afterEach, expect, it } from 'vitest';
import { openStorage, type Storage } from '../../db/index.js';
import { describeEngines } from '../../test/storage.js';
import { createAlertsProcessor } from '../alerts/alerts.processor.js';
import { packBatch } from '../telemetry/packed-batch.js';
import { createSampleWriter, type SampleWriter } from '../telemetry/sample-writer.js';
import { insertVehicle, testVin } from '../telemetry/test-fixtures.js';
import { PROCESSORS } from './index.js';
import { LocalPasses, type Processor } from './runner.js';

const T0 = Date.UTC(2026, 5, 1, 8);

describeEngines('the marks a batch leaves', (ctx) => {
  let writer: SampleWriter | null = null;
  let other: Storage | null = null;
  afterEach(async () => {
    await writer?.close();
    await other?.close();
    writer = other = null;
  });

  const alertRule = (ownerId: string, vehicleId: string, enabled: 0 | 1) => ({
    id: 'rule-1',
    owner_id: ownerId,
    vehicle_id: vehicleId,
    name: 'Low battery',
    condition: JSON.stringify({ metric: 'battery_level_pct', op: '<', value: 20 }),
    event: null,
    cooldown_s: 0,
    channels: '[]',
    secret: 'x',
    enabled,
    created_ms: T0,
    updated_ms: T0,
  });

  it('are for alerts only while some alert rule is enabled, and always for sessions', async () => {
    const { db } = ctx.storage;
    writer = createSampleWriter(ctx.storage, { processors: PROCESSORS });
    const vehicleId = await insertVehicle(db, testVin(1));
    const store = (tsMs: number) =>
      writer!.write(
        packBatch({
          samples: [{ vehicleId, tsMs, seq: 0, receivedMs: tsMs, source: 'test', metrics: { speed_kmh: 1 } }],
          deadLetters: [],
        }),
      );
    // Which processors have marks, and from which time: on a SQLite file later batches of a vehicle may
    // be folded into its newest mark, so the sessions marks are counted as present or not.
    const marks = async () => {
      const rows = await db.selectFrom('processing_marks').select(['processor', 'low_ts_ms']).execute();
      return {
        sessions: rows.some((m) => m.processor === 'sessions'),
        alerts: rows.filter((m) => m.processor === 'alerts').map((m) => Number(m.low_ts_ms) - T0),
      };
    };

    await store(T0);
    expect(await marks()).toEqual({ sessions: true, alerts: [] });

    const owner = await db
      .selectFrom('vehicles')
      .select('owner_id')
      .where('id', '=', vehicleId)
      .executeTakeFirstOrThrow();
    await db
      .insertInto('alert_rules')
      .values(alertRule(owner.owner_id, vehicleId, 0))
      .execute();
    await store(T0 + 1000);
    expect(await marks()).toEqual({ sessions: true, alerts: [] });

    await db.updateTable('alert_rules').set({ enabled: 1 }).execute();
    await store(T0 + 2000);
    expect(await marks()).toEqual({ sessions: true, alerts: [2000] });
  });

  it('stay when a rule is enabled while a pass that found no rule is still running', async () => {
    const { db } = ctx.storage;
    writer = createSampleWriter(ctx.storage, { processors: PROCESSORS });
    // What an API request does meanwhile comes through a connection of its own (on SQLite the pass holds
    // the storage's one connection while it reads).
    other = ctx.storage.file ? await openStorage({ kind: 'sqlite', path: ctx.storage.file }) : null;
    const outside = other?.db ?? db;
    const vehicleId = await insertVehicle(db, testVin(1));
    const { owner_id: ownerId } = await db
      .selectFrom('vehicles')
      .select('owner_id')
      .where('id', '=', vehicleId)
      .executeTakeFirstOrThrow();
    const store = (tsMs: number) =>
      writer!.write(
        packBatch({
          samples: [
            { vehicleId, tsMs, seq: 0, receivedMs: tsMs, source: 'test', metrics: { battery_level_pct: 15 } },
          ],
          deadLetters: [],
        }),
      );
    // A second processor whose round holds the pass after the alerts processor was found to have nothing
    // to do anywhere: the pass commits what it found when its group is done.
    let entered!: () => void;
    const inRound = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const holder: Processor<null> = {
      name: 'holder',
      initial: () => null,
      async fold() {
        entered();
        await released;
        return { state: null, write: async () => {}, tickAtMs: null };
      },
    };
    await db
      .insertInto('processing_marks')
      .values({ processor: 'holder', vehicle_id: vehicleId, low_ts_ms: T0, marked_ms: T0 })
      .execute();
    const passes = new LocalPasses(
      {
        storage: ctx.storage,
        logger: { error() {}, warn() {} },
        processors: [createAlertsProcessor(), holder] as never,
      },
      { chunk: 1000, duty: 1, groupCommit: true },
    );
    const pass = passes.pass(T0 + 60_000);
    await inRound;
    await outside
      .insertInto('alert_rules')
      .values(alertRule(ownerId, vehicleId, 1))
      .execute();
    await store(T0 + 1000);
    release();
    await pass;
    const alertsMarks = await db
      .selectFrom('processing_marks')
      .select('low_ts_ms')
      .where('processor', '=', 'alerts')
      .execute();
    expect(alertsMarks.map((m) => Number(m.low_ts_ms) - T0)).toEqual([1000]);
  });

  it("keep a vehicle's alerts progress woken by a new rule while a round found the vehicle idle", async () => {
    const { db } = ctx.storage;
    writer = createSampleWriter(ctx.storage, { processors: PROCESSORS });
    other = ctx.storage.file ? await openStorage({ kind: 'sqlite', path: ctx.storage.file }) : null;
    const outside = other?.db ?? db;
    const vehicleId = await insertVehicle(db, testVin(1));
    const otherVehicle = await insertVehicle(db, testVin(2));
    const { owner_id: ownerId } = await db
      .selectFrom('vehicles')
      .select('owner_id')
      .where('id', '=', vehicleId)
      .executeTakeFirstOrThrow();
    // A rule on another vehicle: the vehicle's batches get alerts marks, and its rounds find it idle.
    await db
      .insertInto('alert_rules')
      .values(alertRule(ownerId, otherVehicle, 1))
      .execute();
    await writer.write(
      packBatch({
        samples: [
          { vehicleId, tsMs: T0, seq: 0, receivedMs: T0, source: 'test', metrics: { battery_level_pct: 15 } },
        ],
        deadLetters: [],
      }),
    );
    await db
      .insertInto('processing_state')
      .values({
        processor: 'alerts',
        vehicle_id: vehicleId,
        state: '{}',
        pending: 0,
        attempts: 0,
        updated_ms: T0,
      })
      .execute();
    let entered!: () => void;
    const inRound = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const holder: Processor<null> = {
      name: 'holder',
      initial: () => null,
      async fold() {
        entered();
        await released;
        return { state: null, write: async () => {}, tickAtMs: null };
      },
    };
    await db
      .insertInto('processing_marks')
      .values({ processor: 'holder', vehicle_id: vehicleId, low_ts_ms: T0, marked_ms: T0 })
      .execute();
    const passes = new LocalPasses(
      {
        storage: ctx.storage,
        logger: { error() {}, warn() {} },
        processors: [createAlertsProcessor(), holder] as never,
      },
      { chunk: 1000, duty: 1, groupCommit: true },
    );
    const pass = passes.pass(T0 + 60_000);
    await inRound;
    // What creating a rule for the vehicle does: the rule, and a wake for the alerts processor.
    await outside
      .insertInto('alert_rules')
      .values({ ...alertRule(ownerId, vehicleId, 1), id: 'rule-2' })
      .execute();
    await outside
      .updateTable('processing_state')
      .set({ pending: 1 })
      .where('processor', '=', 'alerts')
      .where('vehicle_id', '=', vehicleId)
      .execute();
    release();
    await pass;
    const progress = await db
      .selectFrom('processing_state')
      .select('pending')
      .where('processor', '=', 'alerts')
      .where('vehicle_id', '=', vehicleId)
      .execute();
    expect(progress).toEqual([{ pending: 1 }]);
  });
});
