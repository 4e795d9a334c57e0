import type { MetricValue, Position } from '@tacho/protocol';
import { boundedJson } from '../../lib/safe-text.js';
import type { RawKeyRow, SampleRow, StateRow } from './telemetry.repo.js';
import type { RejectionCode, ValidSample } from './validate.js';

/** The pipeline's public types, and the pure steps that turn accepted messages into rows. */

/** Where a payload came from. Every source format (native, VinFast, OwnTracks, …) fills the same shape. */
export interface IngestSource {
  /** `mqtt`, `http`, or the decoder's name (`owntracks`): stored with each sample and dead letter. */
  readonly source: string;
  /** The MQTT topic or the HTTP route, for dead letters. */
  readonly topic: string;
  readonly vehicleId: string;
  /** Decoders that map device keys say what a raw key means; kept in `raw_keys` for the deep scan. */
  readonly describeRawKey?: (deviceKey: string) => RawKeyInfo | null;
}

/** What a source format says a device key means. */
export interface RawKeyInfo {
  readonly canonicalKey: string | null;
  readonly unit: string | null;
}

export interface IngestResult {
  /** Messages newly stored. */
  stored: number;
  /** Messages already stored before (same vehicle, ts, seq): accepted, nothing written. */
  duplicates: number;
  /** Messages refused and kept as dead letters, with their index in the payload. */
  rejected: Array<{ index: number; code: RejectionCode; reason: string }>;
}

/** A sample as committed, handed to transactional hooks and `samples.stored` listeners. */
export interface StoredSample {
  readonly vehicleId: string;
  readonly tsMs: number;
  readonly seq: number;
  readonly receivedMs: number;
  readonly source: string;
  readonly metrics: Readonly<Record<string, MetricValue>>;
  readonly position?: Position;
  readonly raw?: Readonly<Record<string, MetricValue>>;
}

const DEAD_LETTER_PAYLOAD_CHARS = 2048;

export function toStored(source: IngestSource, sample: ValidSample, receivedMs: number): StoredSample {
  const stored: { -readonly [K in keyof StoredSample]: StoredSample[K] } = {
    vehicleId: source.vehicleId,
    tsMs: sample.tsMs,
    seq: sample.seq,
    receivedMs,
    source: source.source,
    metrics: sample.metrics,
  };
  if (sample.position) stored.position = sample.position;
  if (sample.raw) stored.raw = sample.raw;
  return stored;
}

/** The position's fields, in the order of their `samples` columns (and of packed-batch.ts's numbers). */
export const POSITION_FIELDS = ['lat', 'lon', 'alt_m', 'heading_deg', 'speed_kmh', 'accuracy_m'] as const;

export function toRow(s: StoredSample): SampleRow {
  const p = s.position;
  return {
    vehicle_id: s.vehicleId,
    ts_ms: s.tsMs,
    seq: s.seq,
    received_ms: s.receivedMs,
    source: s.source,
    metrics: JSON.stringify(s.metrics),
    lat: p?.lat ?? null,
    lon: p?.lon ?? null,
    alt_m: p?.alt_m ?? null,
    heading_deg: p?.heading_deg ?? null,
    speed_kmh: p?.speed_kmh ?? null,
    accuracy_m: p?.accuracy_m ?? null,
  };
}

/**
 * The rule that picks a batch's newest reading (state, raw keys, the fast path's fold): the later device
 * time wins, then the higher seq; on a full tie the one met later (a later message) wins.
 */
export function replacesNewest(tsMs: number, seq: number, currentTsMs: number, currentSeq: number): boolean {
  return tsMs > currentTsMs || (tsMs === currentTsMs && seq >= currentSeq);
}

/**
 * The newest value of each (vehicle, metric) in the batch; `position` is kept as one metric. Runs once per
 * metric of every stored sample, so it only remembers which sample wins and serialises the winners.
 */
export function latestState(stored: readonly StoredSample[]): StateRow[] {
  const byVehicle = new Map<string, Map<string, StoredSample>>();
  for (const s of stored) {
    let latest = byVehicle.get(s.vehicleId);
    if (!latest) {
      latest = new Map();
      byVehicle.set(s.vehicleId, latest);
    }
    for (const metric in s.metrics) {
      const current = latest.get(metric);
      if (!current || replacesNewest(s.tsMs, s.seq, current.tsMs, current.seq)) latest.set(metric, s);
    }
    if (s.position) {
      const current = latest.get('position');
      if (!current || replacesNewest(s.tsMs, s.seq, current.tsMs, current.seq)) latest.set('position', s);
    }
  }
  const rows: StateRow[] = [];
  for (const [vehicleId, latest] of byVehicle) {
    for (const [metric, s] of latest) {
      const value = metric === 'position' && !(metric in s.metrics) ? s.position : s.metrics[metric];
      rows.push({ vehicle_id: vehicleId, metric, value: JSON.stringify(value), ts_ms: s.tsMs, seq: s.seq });
    }
  }
  return rows;
}

/** What `describe` says of each raw key of the sample, for the writer (which cannot call functions). */
export function describeRawKeys(
  sample: StoredSample,
  describe: IngestSource['describeRawKey'],
): Record<string, RawKeyInfo> | undefined {
  if (!sample.raw || !describe) return undefined;
  const info: Record<string, RawKeyInfo> = {};
  for (const deviceKey in sample.raw) {
    const described = describe(deviceKey);
    if (described) info[deviceKey] = described;
  }
  return info;
}

/** The newest value of each (vehicle, device key) in the batch, with what its source said it means. */
export function latestRawKeys(
  stored: ReadonlyArray<StoredSample & { readonly rawInfo?: Readonly<Record<string, RawKeyInfo>> }>,
): RawKeyRow[] {
  const latest = new Map<string, RawKeyRow & { seq: number }>();
  for (const s of stored) {
    if (!s.raw) continue;
    for (const deviceKey in s.raw) {
      const key = `${s.vehicleId}\u0000${deviceKey}`;
      const current = latest.get(key);
      if (current && !replacesNewest(s.tsMs, s.seq, current.ts_ms, current.seq)) continue;
      const info = s.rawInfo?.[deviceKey];
      latest.set(key, {
        vehicle_id: s.vehicleId,
        device_key: deviceKey,
        value: JSON.stringify(s.raw[deviceKey]),
        ts_ms: s.tsMs,
        seq: s.seq,
        canonical_key: info?.canonicalKey ?? null,
        unit: info?.unit ?? null,
      });
    }
  }
  return [...latest.values()].map(({ seq: _seq, ...row }) => row);
}

export function payloadText(payload: unknown): string {
  let text: string;
  if (typeof payload === 'string') text = payload.slice(0, DEAD_LETTER_PAYLOAD_CHARS);
  else if (Buffer.isBuffer(payload))
    text = payload
      .subarray(0, DEAD_LETTER_PAYLOAD_CHARS)
      .toString('utf8')
      .replace(/\uFFFD+$/, '');
  // Nesting deeper than JSON.stringify's stack (a fuzzed `[[[[…]]]]`) still keeps its first characters.
  else text = boundedJson(payload, DEAD_LETTER_PAYLOAD_CHARS);
  // Text columns on PostgreSQL refuse NUL characters; a fuzzed payload must still be kept.
  return text.slice(0, DEAD_LETTER_PAYLOAD_CHARS).replaceAll('\0', '\uFFFD');
}

export function sampleText(s: StoredSample): string {
  return JSON.stringify({ ts: s.tsMs, seq: s.seq, metrics: s.metrics, position: s.position, raw: s.raw });
}
