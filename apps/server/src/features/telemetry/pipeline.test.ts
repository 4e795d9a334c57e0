import { Registry } from 'prom-client';
import { afterEach, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { EventBus, type StoredEvent } from '../../lib/events.js';
import { createLogger } from '../../lib/logger.js';
import { describeEngines } from '../../test/storage.js';
import { IngestPipeline, type PipelineOptions } from './pipeline.js';
import { insertVehicle, testVin } from './test-fixtures.js';

const T0 = Date.UTC(2026, 0, 1, 12);

describeEngines('ingest pipeline', (ctx) => {
  const pipelines: IngestPipeline[] = [];
  afterEach(async () => {
    for (const p of pipelines.splice(0)) await p.close();
  });

  async function setup(options: Partial<PipelineOptions> = {}) {
    const clock = new ManualClock(T0);
    const events = new EventBus();
    const registry = new Registry();
    const pipeline = new IngestPipeline(
      { storage: ctx.storage, clock, events, logger: createLogger('silent'), registry },
      options,
    );
    pipelines.push(pipeline);
    const vehicleId = await insertVehicle(ctx.storage.db, testVin(1));
    const source = { source: 'mqtt', topic: `tacho/v1/${testVin(1)}/telemetry`, vehicleId };
    return { pipeline, events, registry, vehicleId, source };
  }

  it('stores a message, its latest state and raw keys, then emits samples.stored', async () => {
    const { pipeline, events, vehicleId, source } = await setup();
    const seen: unknown[] = [];
    events.on('samples.stored', (e) => seen.push(e));
    const result = await pipeline.ingestPayload(
      source,
      JSON.stringify({
        ts: T0 - 1000,
        seq: 3,
        metrics: { battery_level_pct: 81.5, charging_state: 'charging', ignition: false },
        position: { lat: 48.1, lon: 11.5, heading_deg: 90 },
        raw: { '34183/1/9': 81.5 },
      }),
    );
    expect(result).toEqual({ stored: 1, duplicates: 0, rejected: [] });

    const sample = await ctx.storage.db.selectFrom('samples').selectAll().executeTakeFirstOrThrow();
    expect(sample).toMatchObject({
      vehicle_id: vehicleId,
      ts_ms: T0 - 1000,
      seq: 3,
      source: 'mqtt',
      lat: 48.1,
    });
    expect(JSON.parse(sample.metrics)).toEqual({
      battery_level_pct: 81.5,
      charging_state: 'charging',
      ignition: false,
    });
    await pipeline.flushDerived();
    const state = await ctx.storage.db
      .selectFrom('vehicle_state')
      .select(['metric', 'value', 'ts_ms'])
      .orderBy('metric')
      .execute();
    expect(state.map((s) => [s.metric, JSON.parse(s.value)])).toEqual([
      ['battery_level_pct', 81.5],
      ['charging_state', 'charging'],
      ['ignition', false],
      ['position', { lat: 48.1, lon: 11.5, heading_deg: 90 }],
    ]);
    const raw = await ctx.storage.db.selectFrom('raw_keys').selectAll().execute();
    expect(raw).toMatchObject([{ device_key: '34183/1/9', value: '81.5', first_seen_ms: T0 - 1000 }]);
    expect(seen).toMatchObject([
      {
        vehicleId,
        samples: [
          {
            tsMs: T0 - 1000,
            seq: 3,
            metrics: { battery_level_pct: 81.5, charging_state: 'charging', ignition: false },
            position: { lat: 48.1, lon: 11.5, heading_deg: 90 },
            raw: { '34183/1/9': 81.5 },
          },
        ],
      },
    ]);
  });

  it('stores a redelivered message once and counts the copies as duplicates', async () => {
    const { pipeline, source } = await setup();
    const message = { ts: new Date(T0).toISOString(), metrics: { speed_kmh: 50 } };
    // The same message twice in one payload, then again later: one row in all.
    expect(await pipeline.ingest(source, [message, message])).toMatchObject({ stored: 1, duplicates: 1 });
    const again = await Promise.all([pipeline.ingest(source, [message]), pipeline.ingest(source, [message])]);
    expect(again.map((r) => [r.stored, r.duplicates])).toEqual([
      [0, 1],
      [0, 1],
    ]);
    const rows = await ctx.storage.db.selectFrom('samples').select(['ts_ms', 'seq']).execute();
    expect(rows).toEqual([{ ts_ms: T0, seq: 0 }]);
  });

  it('takes payloads of hundreds (packed on arrival): repeats are duplicates, state, rollups and events count each sample once', async () => {
    const { pipeline, events, source } = await setup();
    const seen: StoredEvent[] = [];
    events.on('samples.stored', (e) => seen.push(e));
    const at = (i: number) => T0 - 600_000 + i * 1000;
    const messages = Array.from({ length: 300 }, (_, i) => ({
      ts: at(i),
      seq: i,
      metrics: { speed_kmh: i % 200, battery_level_pct: 80 - i / 100 },
      position: { lat: 48 + i / 1000, lon: 11.5 },
    }));
    const newestOf = (i: number) => ({
      metrics: {
        speed_kmh: { value: i % 200, ts_ms: at(i) },
        battery_level_pct: { value: 80 - i / 100, ts_ms: at(i) },
      },
      position: { lat: 48 + i / 1000, lon: 11.5, ts_ms: at(i) },
      lastTsMs: at(i),
    });

    // All new: folded as it arrived, the event made from that fold.
    expect(await pipeline.ingest(source, messages.slice(0, 200))).toMatchObject({
      stored: 200,
      duplicates: 0,
    });
    // Half seen before, and one repeated within the payload: only the 100 new ones count.
    const mixed = [...messages.slice(100, 300), messages[250]];
    expect(await pipeline.ingest(source, mixed)).toMatchObject({ stored: 100, duplicates: 101 });
    // Everything again: nothing stored, nothing emitted.
    expect(await pipeline.ingest(source, messages)).toMatchObject({ stored: 0, duplicates: 300 });

    expect(seen.map((e) => e.newest)).toEqual([newestOf(199), newestOf(299)]);
    expect(seen[0]!.samples.map((s) => s.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(seen[1]!.samples.map((s) => s.seq)).toEqual(Array.from({ length: 100 }, (_, i) => 200 + i));
    expect(seen[1]!.samples[0]).toEqual({
      vehicleId: source.vehicleId,
      tsMs: at(200),
      seq: 200,
      receivedMs: T0,
      source: 'mqtt',
      metrics: { speed_kmh: 0, battery_level_pct: 78 },
      position: { lat: 48.2, lon: 11.5 },
    });

    await pipeline.flushDerived();
    const speed = await ctx.storage.db
      .selectFrom('vehicle_state')
      .select(['value', 'ts_ms'])
      .where('metric', '=', 'speed_kmh')
      .executeTakeFirstOrThrow();
    expect([JSON.parse(speed.value), speed.ts_ms]).toEqual([99, at(299)]);
    const minutes = await ctx.storage.db
      .selectFrom('rollups_minute')
      .select(['count', 'sum'])
      .where('metric', '=', 'speed_kmh')
      .execute();
    const total = (key: 'count' | 'sum') => minutes.reduce((n, m) => n + Number(m[key]), 0);
    expect([total('count'), total('sum')]).toEqual([
      300,
      messages.reduce((n, m) => n + m.metrics.speed_kmh, 0),
    ]);
    expect(await ctx.storage.db.selectFrom('samples').select('seq').execute()).toHaveLength(300);
  });

  it('tells the same newest reading in samples.stored as it stores: later time, then higher seq', async () => {
    const { pipeline, events, vehicleId, source } = await setup();
    const seen: StoredEvent[] = [];
    events.on('samples.stored', (e) => seen.push(e));
    // One batch: at the same time, seq 5 then seq 3 (a device's retry arriving late): seq 5 is newest.
    await pipeline.ingestPayload(
      source,
      JSON.stringify([
        { ts: T0 - 1000, seq: 5, metrics: { speed_kmh: 55 }, position: { lat: 48.5, lon: 11.5 } },
        { ts: T0 - 1000, seq: 3, metrics: { speed_kmh: 33 }, position: { lat: 48.3, lon: 11.3 } },
      ]),
    );
    await pipeline.flushDerived();
    const state = await ctx.storage.db
      .selectFrom('vehicle_state')
      .select(['metric', 'value'])
      .where('vehicle_id', '=', vehicleId)
      .orderBy('metric')
      .execute();
    expect(state.map((r) => [r.metric, JSON.parse(r.value)])).toEqual([
      ['position', { lat: 48.5, lon: 11.5 }],
      ['speed_kmh', 55],
    ]);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.newest.metrics.speed_kmh).toEqual({ value: 55, ts_ms: T0 - 1000 });
    expect(seen[0]!.newest.position).toMatchObject({ lat: 48.5, lon: 11.5 });
  });

  it('applies the same newest-reading rule across batches: a later batch with a lower seq at that time loses', async () => {
    const { pipeline, vehicleId, source } = await setup();
    const speed = async () => {
      await pipeline.flushDerived();
      const row = await ctx.storage.db
        .selectFrom('vehicle_state')
        .select(['value', 'seq'])
        .where('vehicle_id', '=', vehicleId)
        .where('metric', '=', 'speed_kmh')
        .executeTakeFirstOrThrow();
      return [JSON.parse(row.value), Number(row.seq)];
    };
    await pipeline.ingest(source, [{ ts: T0 - 1000, seq: 5, metrics: { speed_kmh: 55 } }]);
    expect(await speed()).toEqual([55, 5]);
    // Stored already (written to the table), then in the writer's memory before a flush.
    await pipeline.ingest(source, [{ ts: T0 - 1000, seq: 3, metrics: { speed_kmh: 33 } }]);
    expect(await speed()).toEqual([55, 5]);
    await pipeline.ingest(source, [{ ts: T0 - 1000, seq: 7, metrics: { speed_kmh: 77 } }]);
    await pipeline.ingest(source, [{ ts: T0 - 1000, seq: 6, metrics: { speed_kmh: 66 } }]);
    expect(await speed()).toEqual([77, 7]);
    // A higher seq at an earlier time still loses to a later time.
    await pipeline.ingest(source, [{ ts: T0 - 2000, seq: 9, metrics: { speed_kmh: 99 } }]);
    expect(await speed()).toEqual([77, 7]);
  });

  it('emits samples.stored for a payload of hundreds holding only raw values', async () => {
    const { pipeline, events, source } = await setup();
    const seen: StoredEvent[] = [];
    events.on('samples.stored', (e) => seen.push(e));
    const messages = Array.from({ length: 120 }, (_, i) => ({ ts: T0 - 1000 * (120 - i), raw: { k: i } }));
    expect(await pipeline.ingest(source, messages)).toMatchObject({ stored: 120, duplicates: 0 });
    expect(seen.map((e) => e.newest)).toEqual([{ metrics: {}, lastTsMs: T0 - 1000 }]);
    expect(seen[0]!.samples.map((s) => s.raw)).toEqual(messages.map((m) => m.raw));
  });

  it('keeps the newest value in vehicle_state when messages arrive out of order', async () => {
    const { pipeline, source } = await setup();
    await pipeline.ingest(source, [{ ts: T0, metrics: { battery_level_pct: 60 }, raw: { k: 'new' } }]);
    await pipeline.ingest(source, [
      { ts: T0 - 60_000, metrics: { battery_level_pct: 70 }, raw: { k: 'old' } },
    ]);
    await pipeline.flushDerived();
    const state = await ctx.storage.db.selectFrom('vehicle_state').selectAll().executeTakeFirstOrThrow();
    expect([JSON.parse(state.value), state.ts_ms]).toEqual([60, T0]);
    const raw = await ctx.storage.db.selectFrom('raw_keys').selectAll().executeTakeFirstOrThrow();
    expect(raw).toMatchObject({ value: '"new"', first_seen_ms: T0 - 60_000, last_seen_ms: T0 });
    expect(await ctx.storage.db.selectFrom('samples').select('ts_ms').execute()).toHaveLength(2);
  });

  it('dead-letters invalid messages with a reason naming the field and stores the valid ones around them', async () => {
    const { pipeline, registry, source } = await setup();
    const result = await pipeline.ingest(source, [
      { ts: T0, seq: 1, metrics: { speed_kmh: 42 } },
      { ts: T0, seq: 2, metrics: { speed_kmh: 900 } },
      { ts: T0 + 10 * 60_000, metrics: { speed_kmh: 1 } },
      { ts: T0, seq: 3, metrics: { warp_factor: 9 } },
      'not an object',
      { ts: T0, seq: 4, metrics: { battery_level_pct: 55 } },
    ]);
    expect(result.stored).toBe(2);
    expect(result.rejected.map((r) => [r.index, r.code])).toEqual([
      [1, 'out_of_range'],
      [2, 'future_timestamp'],
      [3, 'unknown_metric'],
      [4, 'invalid_shape'],
    ]);
    const bad = await pipeline.ingestPayload(source, '{"ts": 1, "metrics": ');
    expect(bad.rejected[0]?.code).toBe('invalid_json');

    const letters = await ctx.storage.db.selectFrom('dead_letters').selectAll().orderBy('id').execute();
    expect(letters.map((l) => l.reason)).toEqual([
      'metrics.speed_kmh: 900 is above the plausible maximum 500',
      expect.stringMatching(/^ts: .* more than 5 minutes ahead/),
      'metrics.warp_factor: not a catalog metric (send device keys in "raw")',
      'message must be an object',
      expect.stringMatching(/^payload is not valid JSON/),
    ]);
    expect(letters[0]).toMatchObject({ source: 'mqtt', topic: source.topic, vehicle_id: source.vehicleId });
    expect(letters[4]?.payload).toBe('{"ts": 1, "metrics": ');
    const samples = await ctx.storage.db.selectFrom('samples').select('seq').orderBy('seq').execute();
    expect(samples.map((s) => s.seq)).toEqual([1, 4]);
    const metrics = await registry.metrics();
    expect(metrics).toContain('tacho_ingest_dead_letters_total{reason="out_of_range"} 1');
    expect(metrics).toContain('tacho_ingest_dead_letters_total{reason="invalid_json"} 1');
  });

  it('keeps every dead letter (retention is by age and size: dead-letter-retention.test.ts), 2 KiB of each', async () => {
    const { pipeline, source } = await setup();
    for (let i = 0; i < 8; i++) await pipeline.ingestPayload(source, `garbage ${i} ${'x'.repeat(5000)}`);
    const letters = await ctx.storage.db.selectFrom('dead_letters').selectAll().orderBy('id').execute();
    expect(letters.map((l) => l.payload.slice(0, 9))).toEqual(
      Array.from({ length: 8 }, (_, i) => `garbage ${i}`),
    );
    expect(letters[0]?.payload.length).toBe(2048);
  });

  it('refuses payloads over the size limit without parsing them', async () => {
    const { pipeline, source } = await setup({ maxPayloadBytes: 1024 });
    const result = await pipeline.ingestPayload(
      source,
      JSON.stringify({ ts: T0, raw: { k: 'y'.repeat(2000) } }),
    );
    expect(result.rejected).toEqual([
      { index: 0, code: 'too_large', reason: expect.stringContaining('limit is 1024') },
    ]);
  });

  it('batches concurrent messages into few transactions, with their rollups', async () => {
    const { pipeline, source, registry } = await setup({ batchRows: 100, flushMs: 20 });
    const results = await Promise.all(
      Array.from({ length: 250 }, (_, i) =>
        pipeline.ingest(source, [{ ts: T0, seq: i, metrics: { speed_kmh: i % 7 } }]),
      ),
    );
    expect(results.every((r) => r.stored === 1)).toBe(true);
    const batches = Number(/tacho_ingest_batch_seconds_count (\d+)/.exec(await registry.metrics())?.[1]);
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBeLessThanOrEqual(5);
    // The rollups count the stored samples only.
    await pipeline.flushDerived();
    const minute = await ctx.storage.db
      .selectFrom('rollups_minute')
      .select(['count', 'sum'])
      .where('metric', '=', 'speed_kmh')
      .execute();
    expect(minute.reduce((n, r) => n + Number(r.count), 0)).toBe(250);
  });

  it('stores everything while other transactions read and write the same database meanwhile', async () => {
    // On SQLite the batches commit from the writer thread's own connection: a main-thread transaction
    // that reads, waits, then writes must neither fail (SQLITE_BUSY) nor make a batch fail.
    const { pipeline, source } = await setup({ batchRows: 50, flushMs: 1 });
    const ingests = (async () => {
      const results = [];
      for (let i = 0; i < 40; i++) {
        const batch = Array.from({ length: 25 }, (_, j) => ({
          ts: T0 - 600_000 + i * 25 + j,
          metrics: { speed_kmh: j },
        }));
        results.push(await pipeline.ingest(source, batch));
      }
      return results;
    })();
    const transactions = (async () => {
      for (let i = 0; i < 20; i++) {
        await ctx.storage.db.transaction().execute(async (trx) => {
          const before = await trx.selectFrom('settings').select('key').execute();
          // Long enough for the writer to commit a batch in between.
          await new Promise((resolve) => setTimeout(resolve, 15));
          await trx
            .insertInto('settings')
            .values({ key: `k${i}`, value: String(before.length), updated_ms: T0 })
            .execute();
        });
      }
    })();
    const [results] = await Promise.all([ingests, transactions]);
    expect(results.reduce((n, r) => n + r.stored, 0)).toBe(1000);
    const { n } = await ctx.storage.db
      .selectFrom('samples')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(n)).toBe(1000);
    const keys = await ctx.storage.db
      .selectFrom('settings')
      .select('key')
      .where('key', 'like', 'k%')
      .execute();
    expect(keys).toHaveLength(20);
  });

  it('dead-letters a message whose vehicle vanished instead of blocking the others', async () => {
    const { pipeline, source } = await setup();
    const gone = { ...source, vehicleId: 'no-such-vehicle' };
    const [ok, lost] = await Promise.all([
      pipeline.ingest(source, [{ ts: T0, metrics: { speed_kmh: 3 } }]),
      pipeline.ingest(gone, [{ ts: T0, metrics: { speed_kmh: 4 } }]),
    ]);
    expect(ok.stored).toBe(1);
    expect(lost.stored).toBe(0);
    const letters = await ctx.storage.db.selectFrom('dead_letters').select('reason').execute();
    expect(letters[0]?.reason).toMatch(/^not stored:/);
  });

  it('answers Unavailable after close', async () => {
    const { pipeline, source } = await setup();
    await pipeline.close();
    await expect(pipeline.ingest(source, [{ ts: T0, metrics: { speed_kmh: 1 } }])).rejects.toThrow(
      /shutting down/,
    );
  });
});
