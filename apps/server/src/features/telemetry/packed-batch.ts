import type { MetricValue, Position } from '@tacho/protocol';
import { POSITION_FIELDS, type RawKeyInfo } from './batch-rows.js';
import { type FoldedSamples, foldSamples } from './derived-buffer.js';
import type { BatchSample, SampleBatch } from './sample-batch.js';
import type { DeadLetterRow } from './telemetry.repo.js';

/**
 * Samples as they cross to the SQLite writer thread: columns, not objects. Structured cloning copies an
 * object key by key (a sample with its metrics and position is ~30 keys), and that cost ~5 µs per sample
 * on the two threads together; typed arrays and one string copy in bulk. The metrics of every sample are
 * serialised here, on the main thread, into the text the `metrics` column stores.
 *
 * A payload of many samples is packed as soon as it is validated (pipeline.ts): its parsed objects then
 * die young instead of waiting for the commit, and the garbage collector no longer copies them.
 */
export interface PackedSamples {
  readonly count: number;
  /** Distinct vehicle ids and sources; `vehicle[i]` and `source[i]` index them. */
  readonly vehicles: readonly string[];
  readonly vehicle: Uint32Array;
  readonly sources: readonly string[];
  readonly source: Uint32Array;
  /** `NUMBERS` per sample: ts, seq, received, then the position's fields (NaN where absent). */
  readonly numbers: Float64Array;
  /** Every sample's metrics as JSON, concatenated; sample i's ends at `metricsEnd[i]`. */
  readonly metrics: string;
  readonly metricsEnd: Uint32Array;
  /** Raw device values are rare (source formats that keep them): sent as objects, by sample index. */
  readonly raw: ReadonlyArray<{
    readonly index: number;
    readonly raw: Readonly<Record<string, MetricValue>>;
    readonly rawInfo?: Readonly<Record<string, RawKeyInfo>>;
  }>;
  /**
   * State and rollups of all these samples, folded on the main thread when they are a long run per
   * vehicle (an HTTP batch): then the fold is much smaller than the samples, and the writer thread, which
   * would otherwise parse every sample's metrics back, uses it if every one of them was inserted.
   */
  readonly folded?: FoldedSamples;
}

/** One transaction's worth: the packed parts in the order they came, and the dead letters beside them. */
export interface PackedBatch {
  readonly parts: readonly PackedSamples[];
  readonly deadLetters: readonly DeadLetterRow[];
}

/** Samples per vehicle from which samples are folded before they cross (see `PackedSamples.folded`). */
export const FOLD_FROM_SAMPLES_PER_VEHICLE = 100;

/** Numbers per sample in `PackedSamples.numbers`: ts, seq, received, then `POSITION_FIELDS`. */
export const NUMBERS = 9;

/** Packs samples, folding them when they hold long runs per vehicle. */
export function packSamples(samples: readonly BatchSample[]): PackedSamples {
  const count = samples.length;
  const vehicles: string[] = [];
  const vehicle = new Uint32Array(count);
  const sources: string[] = [];
  const source = new Uint32Array(count);
  const numbers = new Float64Array(count * NUMBERS).fill(Number.NaN);
  const metricsText: string[] = new Array(count);
  const metricsEnd = new Uint32Array(count);
  const raw: Array<PackedSamples['raw'][number]> = [];
  let length = 0;
  for (let i = 0; i < count; i++) {
    const s = samples[i]!;
    vehicle[i] = indexOf(vehicles, s.vehicleId);
    source[i] = indexOf(sources, s.source);
    const at = i * NUMBERS;
    numbers[at] = s.tsMs;
    numbers[at + 1] = s.seq;
    numbers[at + 2] = s.receivedMs;
    const p = s.position;
    if (p) {
      numbers[at + 3] = p.lat;
      numbers[at + 4] = p.lon;
      numbers[at + 5] = p.alt_m ?? Number.NaN;
      numbers[at + 6] = p.heading_deg ?? Number.NaN;
      numbers[at + 7] = p.speed_kmh ?? Number.NaN;
      numbers[at + 8] = p.accuracy_m ?? Number.NaN;
    }
    const text = JSON.stringify(s.metrics);
    metricsText[i] = text;
    length += text.length;
    metricsEnd[i] = length;
    if (s.raw) raw.push({ index: i, raw: s.raw, ...(s.rawInfo ? { rawInfo: s.rawInfo } : {}) });
  }
  const fold = count > 0 && count >= FOLD_FROM_SAMPLES_PER_VEHICLE * vehicles.length;
  return {
    ...(fold ? { folded: foldSamples(samples) } : {}),
    count,
    vehicles,
    vehicle,
    sources,
    source,
    numbers,
    metrics: metricsText.join(''),
    metricsEnd,
    raw,
  };
}

/** A whole batch in one part (tests, and callers that hold plain samples). */
export function packBatch(batch: SampleBatch): PackedBatch {
  return {
    parts: [packSamples(batch.samples)],
    deadLetters: batch.deadLetters,
  };
}

/** The batch as plain samples again (the writers that insert objects: PostgreSQL, in-memory SQLite). */
export function unpackBatch(batch: PackedBatch): SampleBatch {
  return {
    samples: batch.parts.flatMap(unpackSamples),
    deadLetters: batch.deadLetters,
  };
}

/** Every sample of a part, as the pipeline had them. */
export function unpackSamples(part: PackedSamples): BatchSample[] {
  const samples: BatchSample[] = new Array(part.count);
  for (let i = 0; i < part.count; i++) samples[i] = sampleAt(part, i);
  return samples;
}

/** A batch holds few vehicles and sources: a linear search beats a map. */
function indexOf(list: string[], value: string): number {
  const found = list.lastIndexOf(value);
  if (found >= 0) return found;
  list.push(value);
  return list.length - 1;
}

/**
 * Fills `params` with sample i's values in `SAMPLE_COLUMNS` order, for a prepared insert; reusing one
 * array keeps the writer from allocating per row.
 */
export function rowParams(batch: PackedSamples, i: number, params: unknown[]): void {
  const at = i * NUMBERS;
  const n = batch.numbers;
  params[0] = batch.vehicles[batch.vehicle[i]!];
  params[1] = n[at];
  params[2] = n[at + 1];
  params[3] = n[at + 2];
  params[4] = batch.sources[batch.source[i]!];
  params[5] = metricsTextOf(batch, i);
  for (let f = 0; f < POSITION_FIELDS.length; f++) {
    const value = n[at + 3 + f]!;
    params[6 + f] = Number.isNaN(value) ? null : value;
  }
}

/** Sample i as the pipeline had it (for the rows derived from it, or for a listener that asks). */
export function sampleAt(batch: PackedSamples, i: number): BatchSample {
  const at = i * NUMBERS;
  const n = batch.numbers;
  const sample: { -readonly [K in keyof BatchSample]: BatchSample[K] } = {
    vehicleId: batch.vehicles[batch.vehicle[i]!]!,
    tsMs: n[at]!,
    seq: n[at + 1]!,
    receivedMs: n[at + 2]!,
    source: batch.sources[batch.source[i]!]!,
    metrics: metricsAt(batch, i),
  };
  const position = positionAt(batch, i);
  if (position) sample.position = position;
  const extra = rawAt(batch, i);
  if (extra) {
    sample.raw = extra.raw;
    if (extra.rawInfo) sample.rawInfo = extra.rawInfo;
  }
  return sample;
}

/** Sample i's metrics, parsed from their text. */
export function metricsAt(batch: PackedSamples, i: number): Record<string, MetricValue> {
  return JSON.parse(metricsTextOf(batch, i)) as Record<string, MetricValue>;
}

/** Sample i's position, if it has one. */
export function positionAt(batch: PackedSamples, i: number): Position | undefined {
  const at = i * NUMBERS;
  const n = batch.numbers;
  if (Number.isNaN(n[at + 3]!)) return undefined;
  const position: Record<string, number> = {};
  for (let f = 0; f < POSITION_FIELDS.length; f++) {
    const value = n[at + 3 + f]!;
    if (!Number.isNaN(value)) position[POSITION_FIELDS[f]!] = value;
  }
  return position as unknown as Position;
}

/** Sample i's device time. */
export function tsAt(batch: PackedSamples, i: number): number {
  return batch.numbers[i * NUMBERS]!;
}

/** Sample i's seq. */
export function seqAt(batch: PackedSamples, i: number): number {
  return batch.numbers[i * NUMBERS + 1]!;
}

/** Raw values are listed in sample order: a binary search, not a map built per batch. */
function rawAt(batch: PackedSamples, i: number): PackedSamples['raw'][number] | undefined {
  let low = 0;
  let high = batch.raw.length - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    const at = batch.raw[mid]!;
    if (at.index === i) return at;
    if (at.index < i) low = mid + 1;
    else high = mid - 1;
  }
  return undefined;
}

function metricsTextOf(batch: PackedSamples, i: number): string {
  return batch.metrics.slice(i === 0 ? 0 : batch.metricsEnd[i - 1], batch.metricsEnd[i]);
}
