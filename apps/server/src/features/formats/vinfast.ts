import { checkMetric, GEARS, type MetricValue, metricCatalog, type NativeMessage } from '@tacho/protocol';
import {
  type Decoded,
  emptyDecoded,
  internalDeadLetter,
  isRecord,
  payloadText,
  toNumber,
} from './decoded.js';
import { type AliasMapping, normalizeDeviceKey } from './vinfast/catalog.js';

/**
 * VinFast device-key telemetry (MQTT `/mobile/<VIN>/push`, `POST /api/v1/ingest/vinfast/:vin`): an array of
 * `{deviceKey: "34183_00001_00009", value: "80", lastUpdateTime: "1732000000000", …}` (or `timestamp` in
 * place of `lastUpdateTime`). Every key, mapped or
 * not, is kept as a raw key (the deep scan); mapped keys also become canonical metrics or the position.
 */

export interface VinfastContext {
  /** Device key → mapping, for this vehicle's model and year (static catalog + alias registry). */
  readonly mappings: ReadonlyMap<string, AliasMapping>;
}

const MAX_KEYS_PER_MESSAGE = 500;
const MAX_RAW_STRING = 1024;
const LETTER_GEARS = new Set(GEARS.filter((g) => /^[A-Z]$/.test(g)));

/** Unit of a mapping's canonical key, for `raw_keys.unit`. */
export function canonicalUnit(canonical: string): string | null {
  if (canonical === 'position.lat' || canonical === 'position.lon' || canonical === 'position.heading_deg') {
    return '°';
  }
  if (canonical === 'position.alt_m') return 'm';
  return metricCatalog.get(canonical)?.unit ?? null;
}

/**
 * A stable `seq` for the records of one timestamp: FNV-1a of their sorted device keys, 31 bits. VinFast
 * repeats unchanged keys with their old `lastUpdateTime`, so two pushes can hold different key sets under
 * one timestamp; a seq per key set keeps both, while a redelivered push still de-duplicates.
 */
function keySetSeq(keys: readonly string[]): number {
  let h = 0x811c9dc5;
  for (const ch of [...keys].sort().join(',')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h & 0x7fffffff;
}

function rawValue(value: unknown): MetricValue | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'string') return null;
  const n = toNumber(value);
  return n !== null ? n : value.slice(0, MAX_RAW_STRING);
}

/** The canonical value of a device value, or a reason it cannot be one (null: leave it raw only). */
function convert(
  mapping: AliasMapping,
  value: MetricValue,
): { value: MetricValue } | { reason: string } | null {
  switch (mapping.convert) {
    case 'bool01':
      if (value === 1 || value === true || value === 'true') return { value: true };
      if (value === 0 || value === false || value === 'false') return { value: false };
      return { reason: 'is not 0 or 1' };
    case 'gear': {
      const g = String(value).trim().toUpperCase();
      return LETTER_GEARS.has(g as (typeof GEARS)[number]) ? { value: g } : null;
    }
    default: {
      if (typeof value !== 'number') return { reason: 'is not a number' };
      let n = value * (mapping.scale ?? 1);
      if (mapping.convert === 'tyre_pressure' && n <= 10) n *= 100;
      return { value: Math.round(n * 1e6) / 1e6 };
    }
  }
}

/** Decodes one push. Records are grouped by `lastUpdateTime` into messages; a bad record never spoils others. */
export function decodeVinfast(payload: unknown, ctx: VinfastContext): Decoded {
  const out = emptyDecoded();
  let records: unknown = payload;
  if (typeof payload === 'string' || Buffer.isBuffer(payload)) {
    try {
      records = JSON.parse(payload.toString());
    } catch {
      out.deadLetters.push({ reason: 'vinfast: payload is not JSON', payload: payload.toString() });
      return out;
    }
  }
  if (isRecord(records) && Array.isArray(records.data)) records = records.data;
  if (!Array.isArray(records)) {
    out.deadLetters.push({
      reason: 'vinfast: payload is not an array of records',
      payload: payloadText(records),
    });
    return out;
  }

  const byTs = new Map<number, Map<string, MetricValue>>();
  for (const record of records) {
    // A record whose reading throws (a bug) is kept as a dead letter; the others go on (decision 0012).
    try {
      readRecord(record, byTs, out);
    } catch (error) {
      out.deadLetters.push(internalDeadLetter(error, record));
    }
  }

  for (const [ts, group] of [...byTs.entries()].sort(([a], [b]) => a - b)) {
    const keys = [...group.keys()];
    for (let i = 0; i < keys.length; i += MAX_KEYS_PER_MESSAGE) {
      const chunk = keys.slice(i, i + MAX_KEYS_PER_MESSAGE);
      try {
        out.messages.push(toMessage(ts, chunk, group, ctx, out));
      } catch (error) {
        const values = Object.fromEntries(chunk.map((key) => [key, group.get(key)]));
        out.deadLetters.push(internalDeadLetter(error, { lastUpdateTime: ts, values }));
      }
    }
  }
  return out;
}

/** Adds one record's value to its timestamp's group, or a dead letter saying why it cannot be read. */
function readRecord(
  record: unknown,
  byTs: Map<number, Map<string, MetricValue>>,
  out: ReturnType<typeof emptyDecoded>,
): void {
  const fail = (reason: string) =>
    out.deadLetters.push({ reason: `vinfast: ${reason}`, payload: payloadText(record) });
  if (!isRecord(record)) {
    fail('record is not an object');
    return;
  }
  const key =
    normalizeDeviceKey(record.deviceKey) ??
    normalizeDeviceKey(
      `${idPart(record.objectId)}/${idPart(record.instanceId)}/${idPart(record.resourceId)}`,
    );
  if (!key) {
    fail('deviceKey is missing or not like "34183_00001_00009"');
    return;
  }
  // The app's pushes carry `lastUpdateTime`; some relays name it `timestamp` (issue 22): either will do.
  const tsMs = toNumber(record.lastUpdateTime ?? record.timestamp);
  if (tsMs === null || tsMs <= 0) {
    fail(`lastUpdateTime of ${key} is not epoch milliseconds`);
    return;
  }
  const value = rawValue(record.value);
  if (value === null) {
    fail(`value of ${key} is not a string, number or boolean`);
    return;
  }
  const group = byTs.get(tsMs) ?? new Map<string, MetricValue>();
  byTs.set(tsMs, group);
  group.set(key, value);
}

/**
 * One part of an object/instance/resource id as text. Only strings and numbers: an array's text is built
 * recursively and threw past the stack for a fuzzed `[[[[…]]]]` 10,000 deep.
 */
function idPart(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
}

function toMessage(
  ts: number,
  keys: readonly string[],
  group: ReadonlyMap<string, MetricValue>,
  ctx: VinfastContext,
  out: ReturnType<typeof emptyDecoded>,
): NativeMessage {
  const raw: Record<string, MetricValue> = {};
  const metrics: Record<string, MetricValue> = {};
  const position: Record<string, number> = {};
  for (const key of keys) {
    const value = group.get(key)!;
    raw[key] = value;
    const mapping = ctx.mappings.get(key);
    if (!mapping) continue;
    const converted = convert(mapping, value);
    if (converted === null) continue;
    const problem =
      'reason' in converted
        ? `${key} (${mapping.canonical}) ${JSON.stringify(value)} ${converted.reason}`
        : mapping.canonical.startsWith('position.')
          ? positionProblem(mapping.canonical, converted.value)
          : checkMetric(mapping.canonical, converted.value);
    if (problem) {
      // The value stays in raw (the deep scan shows what the car said); only the mapping is refused.
      out.deadLetters.push({
        reason: `vinfast: ${problem.replace(/^metrics\./, `${key} → `)}`,
        payload: JSON.stringify({ deviceKey: key, value, lastUpdateTime: ts }),
      });
      continue;
    }
    if (!('value' in converted)) continue;
    if (mapping.canonical.startsWith('position.'))
      position[mapping.canonical.slice(9)] = converted.value as number;
    else metrics[mapping.canonical] = converted.value;
  }
  const message: NativeMessage = { ts, seq: keySetSeq(keys), raw };
  if (Object.keys(metrics).length > 0) message.metrics = metrics;
  // A position needs both coordinates from the same instant; otherwise they stay raw only.
  if (position.lat !== undefined && position.lon !== undefined) {
    message.position = { lat: position.lat, lon: position.lon };
    if (position.heading_deg !== undefined) message.position.heading_deg = position.heading_deg % 360;
    if (position.alt_m !== undefined) message.position.alt_m = position.alt_m;
  }
  return message;
}

function positionProblem(field: string, value: MetricValue): string | null {
  if (typeof value !== 'number') return `${field} is not a number`;
  if (field === 'position.lat' && Math.abs(value) > 90) return `${field} ${value} is not a latitude`;
  if (field === 'position.lon' && Math.abs(value) > 180) return `${field} ${value} is not a longitude`;
  if (field === 'position.heading_deg' && value < 0) return `${field} ${value} is negative`;
  return null;
}
