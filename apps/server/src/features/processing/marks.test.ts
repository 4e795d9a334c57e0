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

  /**
   * For the races between a pass and an API request: the vehicle, its owner, and a connection of its own
   * for what the request does (on SQLite the pass holds the storage's one connection while it reads).
   */
  async function raceSetup() {
    const { db } = ctx.storage;
    writer = createSampleWriter(ctx.storage, { processors: PROCESSORS });
    other = ctx.storage.file ? await openStorage({ kind: 'sqlite', path: ctx.storage.file }) : null;
    const vehicleId = await insertVehicle(db, testVin(1));
    const { owner_id: ownerId } = await db
      .selectFrom('vehicles')
      .select('owner_id')
      .where('id', '=', vehicleId)
      .executeTakeFirstOrThrow();
    const storeLowBattery = (tsMs: number) =>
      writer!.write(
        packBatch({
          samples: [
            { vehicleId, tsMs, seq: 0, receivedMs: tsMs, source: 'test', metrics: { battery_level_pct: 15 } },
          ],
          deadLetters: [],
        }),
      );
    return { db, outside: other?.db ?? db, vehicleId, ownerId, storeLowBattery };
  }

  /**
   * Runs a pass of the alerts processor and then a second one whose round on `vehicleId` holds the pass
   * open, with the alerts rounds done but their group not committed yet, while `meanwhile` runs.
   */
  async function passHeldOpen(vehicleId: string, meanwhile: () => Promise<void>): Promise<void> {
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
    await ctx.storage.db
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
    await meanwhile();
    release();
    await pass;
  }

  it('stay when a rule is enabled while a pass that found no rule is still running', async () => {
    const { db, outside, vehicleId, ownerId, storeLowBattery } = await raceSetup();
    // The alerts processor has nothing to do anywhere: the pass drops its marks when its group commits.
    await passHeldOpen(vehicleId, async () => {
      await outside
        .insertInto('alert_rules')
        .values(alertRule(ownerId, vehicleId, 1))
        .execute();
      await storeLowBattery(T0 + 1000);
    });
    const alertsMarks = await db
      .selectFrom('processing_marks')
      .select('low_ts_ms')
      .where('processor', '=', 'alerts')
      .execute();
    expect(alertsMarks.map((m) => Number(m.low_ts_ms) - T0)).toEqual([1000]);
  });

  it("keep a vehicle's alerts progress woken by a new rule while a round found the vehicle idle", async () => {
    const { db, outside, vehicleId, ownerId, storeLowBattery } = await raceSetup();
    const otherVehicle = await insertVehicle(db, testVin(2));
    // A rule on another vehicle: the vehicle's batches get alerts marks, and its rounds find it idle.
    await db
      .insertInto('alert_rules')
      .values(alertRule(ownerId, otherVehicle, 1))
      .execute();
    await storeLowBattery(T0);
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
    await passHeldOpen(vehicleId, async () => {
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
    });
    const progress = await db
      .selectFrom('processing_state')
      .select('pending')
      .where('processor', '=', 'alerts')
      .where('vehicle_id', '=', vehicleId)
      .execute();
    expect(progress).toEqual([{ pending: 1 }]);
  });
});
