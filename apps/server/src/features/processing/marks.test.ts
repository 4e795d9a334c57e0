import { afterEach, expect, it } from 'vitest';
import { describeEngines } from '../../test/storage.js';
import { packBatch } from '../telemetry/packed-batch.js';
import { createSampleWriter, type SampleWriter } from '../telemetry/sample-writer.js';
import { insertVehicle, testVin } from '../telemetry/test-fixtures.js';
import { PROCESSORS } from './index.js';

const T0 = Date.UTC(2026, 5, 1, 8);

describeEngines('the marks a batch leaves', (ctx) => {
  let writer: SampleWriter | null = null;
  afterEach(async () => {
    await writer?.close();
    writer = null;
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
    const rule = {
      id: 'rule-1',
      owner_id: owner.owner_id,
      vehicle_id: vehicleId,
      name: 'Low battery',
      condition: JSON.stringify({ metric: 'battery_level_pct', op: '<', value: 20 }),
      event: null,
      cooldown_s: 0,
      channels: '[]',
      secret: 'x',
      enabled: 0,
      created_ms: T0,
      updated_ms: T0,
    };
    await db.insertInto('alert_rules').values(rule).execute();
    await store(T0 + 1000);
    expect(await marks()).toEqual({ sessions: true, alerts: [] });

    await db.updateTable('alert_rules').set({ enabled: 1 }).execute();
    await store(T0 + 2000);
    expect(await marks()).toEqual({ sessions: true, alerts: [2000] });
  });
});
