import { checkMetric, type MetricValue, type Position } from '@tacho/protocol';

/**
 * Decoding and validation of the native format. Pure and synchronous: the hot path runs it once per
 * message, so it is hand-written (one pass, no allocation beyond the result) and every refusal names the
 * field, because the reason ends up in `dead_letters` for a person to read.
 */

/** Why a message was refused: a short stable code (a metrics label) and a sentence naming the field. */
export interface Rejection {
  readonly code: RejectionCode;
  readonly reason: string;
}

export type RejectionCode =
  | 'too_large'
  | 'invalid_json'
  | 'invalid_shape'
  | 'too_many_messages'
  | 'invalid_field'
  | 'out_of_range'
  | 'unknown_metric'
  | 'future_timestamp'
  | 'unknown_vehicle'
  | 'decode_failed'
  | 'not_stored'
  /** Handling the message threw (a bug): kept, and the messages around it go on (decision 0012). */
  | 'internal';

/** A message that passed validation, in the form the writer stores. */
export interface ValidSample {
  readonly tsMs: number;
  readonly seq: number;
  readonly metrics: Record<string, MetricValue>;
  readonly position?: Position;
  readonly raw?: Record<string, MetricValue>;
}

export const MAX_MESSAGES_PER_PAYLOAD = 1000;
/** How far ahead of the server's clock a device timestamp may be (clock drift, not time travel). */
export const MAX_FUTURE_MS = 5 * 60_000;
/** Timestamps before 2000 are almost always epoch seconds sent as milliseconds. */
export const MIN_TS_MS = Date.UTC(2000, 0, 1);
/**
 * The last millisecond of the year 9999, the latest time ISO-8601 writes with four digits. Beyond it a
 * timestamp is a unit mistake (microseconds, nanoseconds) or noise, and beyond 8.64e15 not even a Date.
 */
export const MAX_TS_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
export const MAX_SEQ = 2_147_483_647;
const MAX_KEYS = 512;
const MAX_RAW_STRING = 1024;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

function reject(code: RejectionCode, reason: string): Rejection {
  return { code, reason };
}

/**
 * Turns a payload into the list of messages it holds: one object or an array of up to 1,000. The size
 * limit applies to the whole payload (an MQTT message or an HTTP body), whatever it holds.
 */
export function decodeNativePayload(
  payload: Buffer | string,
  maxBytes: number,
): { ok: true; messages: unknown[] } | { ok: false; rejection: Rejection } {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > maxBytes) {
    return {
      ok: false,
      rejection: reject('too_large', `payload is ${size} bytes, the limit is ${maxBytes}`),
    };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch (error) {
    return {
      ok: false,
      rejection: reject('invalid_json', `payload is not valid JSON: ${(error as Error).message}`),
    };
  }
  return splitMessages(parsed);
}

/** Accepts an already parsed body (HTTP): one message or an array of them. */
export function splitMessages(
  parsed: unknown,
): { ok: true; messages: unknown[] } | { ok: false; rejection: Rejection } {
  if (Array.isArray(parsed)) {
    if (parsed.length === 0) {
      return { ok: false, rejection: reject('invalid_shape', 'payload is an empty array') };
    }
    if (parsed.length > MAX_MESSAGES_PER_PAYLOAD) {
      return {
        ok: false,
        rejection: reject(
          'too_many_messages',
          `payload holds ${parsed.length} messages, the limit is ${MAX_MESSAGES_PER_PAYLOAD}`,
        ),
      };
    }
    return { ok: true, messages: parsed };
  }
  if (isPlainObject(parsed)) return { ok: true, messages: [parsed] };
  return {
    ok: false,
    rejection: reject('invalid_shape', 'payload must be a message object or an array of them'),
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function finite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Parses `ts`: epoch milliseconds or an ISO-8601 string with a zone. */
export function parseTimestamp(ts: unknown): number | Rejection {
  if (typeof ts === 'number') {
    if (!Number.isInteger(ts) || ts < 0)
      return reject('invalid_field', 'ts: must be whole epoch milliseconds');
    if (ts < MIN_TS_MS) {
      return reject(
        'invalid_field',
        `ts: ${ts} is before the year 2000 (epoch seconds? send epoch milliseconds or ISO-8601)`,
      );
    }
    if (ts > MAX_TS_MS) {
      return reject(
        'out_of_range',
        `ts: ${ts} is after the year 9999 (microseconds? send epoch milliseconds or ISO-8601)`,
      );
    }
    return ts;
  }
  if (typeof ts === 'string') {
    if (ts.length > 40 || !ISO_8601.test(ts)) {
      return reject('invalid_field', 'ts: must be epoch milliseconds or ISO-8601 with a zone');
    }
    const ms = Date.parse(ts);
    if (Number.isNaN(ms) || ms < MIN_TS_MS) return reject('invalid_field', `ts: "${ts}" is not a valid time`);
    return ms;
  }
  return reject('invalid_field', 'ts: required, epoch milliseconds or ISO-8601');
}

/** The position's fields and their ranges; `lat` and `lon` are required, the others optional. */
export const POSITION_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  lat: [-90, 90],
  lon: [-180, 180],
  alt_m: [-500, 10_000],
  heading_deg: [0, 360],
  speed_kmh: [0, 500],
  accuracy_m: [0, 100_000],
};

function checkPosition(value: unknown): Position | Rejection {
  if (!isPlainObject(value)) return reject('invalid_field', 'position: must be an object');
  const { lat, lon } = value;
  const [minLat, maxLat] = POSITION_RANGES.lat!;
  if (!finite(lat) || lat < minLat || lat > maxLat)
    return reject('out_of_range', `position.lat: must be a number from ${minLat} to ${maxLat}`);
  const [minLon, maxLon] = POSITION_RANGES.lon!;
  if (!finite(lon) || lon < minLon || lon > maxLon)
    return reject('out_of_range', `position.lon: must be a number from ${minLon} to ${maxLon}`);
  const position: Record<string, number> = { lat, lon };
  // One pass over the keys the device sent; runs for every message, so it allocates only the result.
  for (const key in value) {
    if (key === 'lat' || key === 'lon') continue;
    const range = Object.hasOwn(POSITION_RANGES, key) ? POSITION_RANGES[key] : undefined;
    if (!range) return reject('invalid_field', `position.${key}: unknown field`);
    const v = value[key];
    if (v === undefined || v === null) continue;
    const [min, max] = range;
    if (!finite(v) || v < min || v > max)
      return reject('out_of_range', `position.${key}: must be a number from ${min} to ${max}`);
    position[key] = v;
  }
  return position as unknown as Position;
}

function checkRaw(value: unknown): Rejection | null {
  if (!isPlainObject(value)) return reject('invalid_field', 'raw: must be an object');
  const keys = Object.keys(value);
  if (keys.length > MAX_KEYS) return reject('invalid_field', `raw: more than ${MAX_KEYS} keys`);
  for (const key of keys) {
    if (key.length > 128) return reject('invalid_field', `raw: key "${key.slice(0, 32)}…" is too long`);
    if (key.includes('\0')) return reject('invalid_field', 'raw: a key contains a NUL character');
    const v = value[key];
    if (typeof v === 'string') {
      if (v.length > MAX_RAW_STRING) return reject('invalid_field', `raw.${key}: string too long`);
    } else if (typeof v !== 'boolean' && !finite(v)) {
      return reject('invalid_field', `raw.${key}: must be a number, string or boolean`);
    }
  }
  return null;
}

/**
 * Validates one decoded message against the schema and the catalog. `nowMs` is the server's clock: a
 * timestamp more than 5 minutes ahead is refused, since it would shadow every later real value in the
 * vehicle's current state.
 */
export function validateMessage(message: unknown, nowMs: number): ValidSample | Rejection {
  if (!isPlainObject(message)) return reject('invalid_shape', 'message must be an object');
  const tsMs = parseTimestamp(message.ts);
  if (typeof tsMs !== 'number') return tsMs;
  if (tsMs > nowMs + MAX_FUTURE_MS) {
    return reject(
      'future_timestamp',
      `ts: ${isoTime(tsMs)} is more than 5 minutes ahead of the server clock`,
    );
  }
  let seq = 0;
  if (message.seq !== undefined && message.seq !== null) {
    const s = message.seq;
    if (typeof s !== 'number' || !Number.isInteger(s) || s < 0 || s > MAX_SEQ)
      return reject('invalid_field', `seq: must be an integer from 0 to ${MAX_SEQ}`);
    seq = s;
  }
  let metrics: Record<string, MetricValue> = {};
  let metricCount = 0;
  if (message.metrics !== undefined && message.metrics !== null) {
    if (!isPlainObject(message.metrics)) return reject('invalid_field', 'metrics: must be an object');
    const keys = Object.keys(message.metrics);
    if (keys.length > MAX_KEYS) return reject('invalid_field', `metrics: more than ${MAX_KEYS} keys`);
    for (const key of keys) {
      const problem = checkMetric(key, message.metrics[key]);
      if (problem) {
        const code: RejectionCode = problem.includes('not a catalog metric')
          ? 'unknown_metric'
          : problem.includes('plausible')
            ? 'out_of_range'
            : 'invalid_field';
        return reject(code, problem);
      }
    }
    metrics = message.metrics as Record<string, MetricValue>;
    metricCount = keys.length;
  }
  const valid: { -readonly [K in keyof ValidSample]: ValidSample[K] } = { tsMs, seq, metrics };
  if (message.position !== undefined && message.position !== null) {
    const p = checkPosition(message.position);
    if ('code' in p) return p;
    valid.position = p;
  }
  let rawCount = 0;
  if (message.raw !== undefined && message.raw !== null) {
    const problem = checkRaw(message.raw);
    if (problem) return problem;
    valid.raw = message.raw as Record<string, MetricValue>;
    rawCount = Object.keys(valid.raw).length;
  }
  if (metricCount === 0 && !valid.position && rawCount === 0) {
    return reject('invalid_shape', 'message has no metrics, position or raw values');
  }
  return valid;
}

/** ISO-8601 text of a time for a reason; the number itself where Date cannot write it (never throws). */
function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

export function isRejection(value: ValidSample | Rejection): value is Rejection {
  return 'code' in value && 'reason' in value && !('tsMs' in value);
}
