import { Registry } from 'prom-client';
import { afterEach, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { EventBus } from '../../lib/events.js';
import { createLogger } from '../../lib/logger.js';
import { describeEngines } from '../../test/storage.js';
import {
  type DeadLetterLimits,
  deadLetterBytes,
  deadLetterUsage,
  PRUNE_STEP_ROWS,
} from './dead-letters.repo.js';
import { IngestPipeline } from './pipeline.js';
import { insertVehicle, testVin } from './test-fixtures.js';

const T0 = Date.UTC(2026, 0, 1, 12);
const DAY = 86_400_000;
const PLENTY: DeadLetterLimits = { maxAgeMs: 365 * DAY, maxBytes: 1024 ** 3 };

describeEngines('dead-letter retention', (ctx) => {
  const pipelines: IngestPipeline[] = [];
  afterEach(async () => {
    for (const p of pipelines.splice(0)) await p.close();
  });

  async function setup(limits: DeadLetterLimits) {
    const clock = new ManualClock(T0);
    const registry = new Registry();
    const pipeline = new IngestPipeline(
      { storage: ctx.storage, clock, events: new EventBus(), logger: createLogger('silent'), registry },
      { deadLetterLimits: limits },
    );
    pipelines.push(pipeline);
    const vehicleId = await insertVehicle(ctx.storage.db, testVin(1));
    const source = { source: 'mqtt', topic: `tacho/v1/${testVin(1)}/telemetry`, vehicleId };
    /** Refuses one payload with a fixed reason, so each dead letter weighs the same. */
    const refuse = (payload: string) =>
      pipeline.rejectPayload(source, { code: 'invalid_json', reason: 'not JSON' }, payload);
    return { pipeline, clock, registry, source, refuse };
  }

  const payloads = async () =>
    (await ctx.storage.db.selectFrom('dead_letters').select('payload').orderBy('id').execute()).map(
      (r) => r.payload,
    );

  /** The running total agrees with the rows actually kept. */
  async function expectUsageMatchesRows(): Promise<number> {
    const rows = await ctx.storage.db.selectFrom('dead_letters').select('bytes').execute();
    const sum = rows.reduce((total, r) => total + Number(r.bytes), 0);
    expect(await deadLetterUsage(ctx.storage.db)).toBe(sum);
    return sum;
  }

  it('keeps dead letters within the age limit, then drops those older, oldest first, and counts them', async () => {
    const { pipeline, clock, registry, refuse } = await setup({ ...PLENTY, maxAgeMs: DAY });
    for (let i = 0; i < 3; i++) {
      await refuse(`old ${i}`);
      clock.advance(1000);
    }
    clock.advance(DAY / 2);
    for (let i = 0; i < 2; i++) await refuse(`new ${i}`);

    expect(await pipeline.deadLetterRetention.run()).toEqual({ age: 0, size: 0 });
    expect(await payloads()).toHaveLength(5);

    clock.advance(DAY / 2);
    expect(await pipeline.deadLetterRetention.run()).toEqual({ age: 3, size: 0 });
    expect(await payloads()).toEqual(['new 0', 'new 1']);
    await expectUsageMatchesRows();
    const metrics = await registry.metrics();
    expect(metrics).toContain('tacho_dead_letters_dropped_total{reason="age"} 3');
    expect(metrics).toContain('tacho_dead_letters_dropped_total{reason="size"} 0');
  });

  it('drops the oldest dead letters beyond the size limit and counts them', async () => {
    const one = (i: number) => `${i}`.padEnd(100, 'x');
    const weight = deadLetterBytes({
      source: 'mqtt',
      topic: `tacho/v1/${testVin(1)}/telemetry`,
      vehicle_id: null,
      reason: 'not JSON',
      payload: one(0),
      received_ms: 0,
    });
    const { pipeline, clock, registry, refuse } = await setup({ ...PLENTY, maxBytes: 3.5 * weight });
    for (let i = 0; i < 6; i++) {
      await refuse(one(i));
      clock.advance(1000);
    }
    expect(await expectUsageMatchesRows()).toBe(6 * weight);

    expect(await pipeline.deadLetterRetention.run()).toEqual({ age: 0, size: 3 });
    expect(await payloads()).toEqual([one(3), one(4), one(5)]);
    expect(await expectUsageMatchesRows()).toBe(3 * weight);
    expect(await registry.metrics()).toContain('tacho_dead_letters_dropped_total{reason="size"} 3');
    expect(await registry.metrics()).toContain(`tacho_dead_letters_kept_bytes ${3 * weight}`);

    // Within the limit again: nothing more goes.
    expect(await pipeline.deadLetterRetention.run()).toEqual({ age: 0, size: 0 });
  });

  it('works through a backlog larger than one step in bounded steps', async () => {
    const { pipeline, clock, source } = await setup({ ...PLENTY, maxAgeMs: DAY });
    const count = 2 * PRUNE_STEP_ROWS + 7;
    const result = await pipeline.ingest(
      source,
      Array.from({ length: count }, (_, i) => `not an object ${i}`),
    );
    expect(result.rejected).toHaveLength(count);
    // One more, newer, that stays.
    clock.advance(DAY / 2);
    await pipeline.ingest(source, ['kept']);
    clock.advance(DAY / 2 + 1);

    expect(await pipeline.deadLetterRetention.run()).toEqual({ age: count, size: 0 });
    expect(await payloads()).toEqual(['kept']);
    await expectUsageMatchesRows();
  });
});
