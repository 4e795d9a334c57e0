import type { MetricValue, Position } from '@tacho/protocol';
import { describe, expect, it } from 'vitest';
import type { RollupsTable } from '../../db/index.js';
import { replacesNewest, type StoredSample } from './batch-rows.js';
import { DerivedBuffer, type FoldedSamples, foldSamples } from './derived-buffer.js';
import { mergeBucket } from './rollups.js';
import type { StateRow } from './telemetry.repo.js';

/** 30 s before a full hour: samples fall into two minutes and two hours. */
const T0 = Date.UTC(2026, 10, 22, 11, 59, 30);
const VEHICLES = ['v-a', 'v-b', 'v-c'];

/** A batch as the writer thread folds it: loose samples, or a part the main thread folded whole. */
type Fold = { loose: StoredSample[] } | { folded: StoredSample[] };

/**
 * The derived rows as the writer first computed them, batch by batch: each batch's newest values and
 * buckets (`foldSamples`), then merged across batches by the upsert's rule (`replacesNewest`: later time,
 * then higher seq, a full tie to the later batch) and buckets merge as the rollup upsert merges them.
 */
function reference(folds: readonly Fold[]): FoldedSamples {
  const state = new Map<string, StateRow>();
  const buckets = { minute: new Map<string, RollupsTable>(), hour: new Map<string, RollupsTable>() };
  for (const fold of folds) {
    const f = foldSamples('loose' in fold ? fold.loose : fold.folded);
    for (const row of f.state) {
      const key = `${row.vehicle_id}/${row.metric}`;
      const current = state.get(key);
      if (!current || replacesNewest(row.ts_ms, row.seq, current.ts_ms, current.seq)) state.set(key, row);
    }
    for (const period of ['minute', 'hour'] as const) {
      for (const b of f[period]) {
        const key = `${b.vehicle_id}/${b.metric}/${b.bucket_ms}`;
        const current = buckets[period].get(key);
        if (current) mergeBucket(current, b);
        else buckets[period].set(key, b);
      }
    }
  }
  return {
    state: [...state.values()],
    minute: [...buckets.minute.values()],
    hour: [...buckets.hour.values()],
  };
}

function viaBuffer(folds: readonly Fold[]): FoldedSamples {
  const buffer = new DerivedBuffer();
  for (const fold of folds) {
    if ('folded' in fold) {
      buffer.addFolded(foldSamples(fold.folded));
      continue;
    }
    for (const s of fold.loose) buffer.addSample(s.vehicleId, s.tsMs, s.seq, s.metrics, s.position);
  }
  return buffer.owed();
}

/** Rows in one order, state values parsed (their key order is not their meaning). */
function comparable(rows: FoldedSamples) {
  const bucketKey = (b: RollupsTable) => `${b.vehicle_id}/${b.metric}/${b.bucket_ms}`;
  return {
    state: rows.state
      .map((r) => ({ ...r, value: JSON.parse(r.value) as unknown }))
      .sort((a, b) => `${a.vehicle_id}/${a.metric}`.localeCompare(`${b.vehicle_id}/${b.metric}`)),
    minute: [...rows.minute].sort((a, b) => bucketKey(a).localeCompare(bucketKey(b))),
    hour: [...rows.hour].sort((a, b) => bucketKey(a).localeCompare(bucketKey(b))),
  };
}

/** A small seeded generator, so a failure names a case that can be run again. */
function random(seed: number) {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n) as number;
  };
}

/** Few times, seqs and values, so ties on each of them are common. */
function sampleOf(next: (n: number) => number): StoredSample {
  const metrics: Record<string, MetricValue> = {};
  if (next(4) > 0) metrics.speed_kmh = next(3) * 10;
  if (next(3) > 0) metrics.gear = ['P', 'D', 'R'][next(3)]!;
  if (next(3) > 0) metrics.ignition = next(2) === 1;
  if (next(2) > 0) metrics.battery_level_pct = 50 + next(3);
  const sample: { -readonly [K in keyof StoredSample]: StoredSample[K] } = {
    vehicleId: VEHICLES[next(VEHICLES.length)]!,
    tsMs: T0 + next(4) * 20_000,
    seq: next(3),
    receivedMs: T0,
    source: 'mqtt',
    metrics,
  };
  if (next(2) === 1) {
    const position: Position = {
      lat: 10 + next(3),
      lon: 106,
      ...(next(2) ? { heading_deg: next(360) } : {}),
    };
    sample.position = position;
  }
  return sample;
}

describe('DerivedBuffer', () => {
  it('owes the same state and rollups as folding each batch and merging the batches', () => {
    for (let seed = 1; seed <= 600; seed++) {
      const next = random(seed);
      const folds: Fold[] = Array.from({ length: 1 + next(5) }, () => {
        const samples = Array.from({ length: 1 + next(12) }, () => sampleOf(next));
        return next(4) === 0 ? { folded: samples } : { loose: samples };
      });
      // Each side gets its own copies: the buffer keeps and updates the bucket rows it is given.
      expect(comparable(viaBuffer(structuredClone(folds))), `seed ${seed}`).toEqual(
        comparable(reference(structuredClone(folds))),
      );
    }
  });

  it('keeps the newest reading of a metric, and counts each value once per bucket', () => {
    const at = (tsMs: number, seq: number, speed: number): StoredSample => ({
      vehicleId: 'v-a',
      tsMs,
      seq,
      receivedMs: tsMs,
      source: 'mqtt',
      metrics: { speed_kmh: speed },
    });
    const owed = viaBuffer([
      { loose: [at(T0 + 40_000, 2, 30), at(T0 + 40_000, 1, 20), at(T0, 0, 10)] },
      // A later batch at the same time loses to a higher seq, as within a batch; a full tie goes to it.
      { loose: [at(T0 + 40_000, 0, 40)] },
      { folded: [at(T0 + 40_000, 1, 45)] },
    ]);
    expect(owed.state).toEqual([
      { vehicle_id: 'v-a', metric: 'speed_kmh', value: '30', ts_ms: T0 + 40_000, seq: 2 },
    ]);
    const tie = viaBuffer([
      { loose: [at(T0, 2, 30)] },
      { folded: [at(T0, 2, 35)] },
      { loose: [at(T0, 2, 36)] },
    ]);
    expect(tie.state).toEqual([{ vehicle_id: 'v-a', metric: 'speed_kmh', value: '36', ts_ms: T0, seq: 2 }]);
    expect(owed.minute.map((b) => [b.bucket_ms - T0, b.count, b.sum, b.last_value])).toEqual([
      [30_000, 4, 135, 45],
      [-30_000, 1, 10, 10],
    ]);
  });
});
