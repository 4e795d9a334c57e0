import type { MetricValue, NativeMessage, Position } from '@tacho/protocol';
import {
  type DecodeDeadLetter,
  type Decoded,
  emptyDecoded,
  internalDeadLetter,
  isRecord,
  parseTimestampMs,
  payloadText,
  round,
  toNumber,
} from './decoded.js';

/**
 * Traccar Client / OsmAnd protocol (`GET|POST /api/v1/ingest/osmand`): query or form fields, or the JSON
 * body Traccar Client 9+ sends (the Transistorsoft background-geolocation shape).
 * Field reference: https://www.traccar.org/osmand/ and Traccar's OsmAndProtocolDecoder.
 */

const KNOTS_TO_KMH = 1.852;
const MS_TO_KMH = 3.6;

/** Form fields this decoder interprets; every other field is kept as a raw key. */
const KNOWN_FIELDS = new Set([
  'id',
  'deviceid',
  'lat',
  'lon',
  'location',
  'timestamp',
  'speed',
  'bearing',
  'heading',
  'altitude',
  'accuracy',
  'batt',
]);

export interface OsmandDecoded extends Decoded {
  /** The device id (`id` / `deviceid` / `device_id`); null when missing (the route answers 400). */
  readonly deviceId: string | null;
}

type Fields = Readonly<Record<string, unknown>>;

/** One value of a form field (repeated fields: the last one, as Traccar reads them). */
function field(fields: Fields, name: string): string | undefined {
  const v = fields[name];
  const one = Array.isArray(v) ? v[v.length - 1] : v;
  return one === undefined || one === null ? undefined : String(one);
}

function rawValue(value: string): MetricValue {
  const n = toNumber(value);
  if (n !== null) return n;
  if (value === 'true' || value === 'false') return value === 'true';
  return value;
}

/** Decodes query/form fields into one message. `nowMs` stands in for a missing timestamp. */
export function decodeOsmandFields(fields: Fields, nowMs: number): OsmandDecoded {
  const out = emptyDecoded();
  const deviceId = (field(fields, 'id') ?? field(fields, 'deviceid'))?.trim() || null;
  const fail = (reason: string): OsmandDecoded => {
    out.deadLetters.push({ reason: `osmand: ${reason}`, payload: payloadText(fields) });
    return { ...out, deviceId };
  };
  if (!deviceId) return fail('id is missing');

  let latText = field(fields, 'lat');
  let lonText = field(fields, 'lon');
  const location = field(fields, 'location');
  if ((latText === undefined || lonText === undefined) && location !== undefined) {
    [latText, lonText] = location.split(',');
  }
  if (latText === undefined) return fail('lat is missing');
  if (lonText === undefined) return fail('lon is missing');
  const lat = toNumber(latText);
  if (lat === null || lat < -90 || lat > 90) return fail('lat is not a latitude');
  const lon = toNumber(lonText);
  if (lon === null || lon < -180 || lon > 180) return fail('lon is not a longitude');

  const tsText = field(fields, 'timestamp');
  const ts = tsText === undefined ? nowMs : parseTimestampMs(tsText);
  if (ts === null) return fail('timestamp is not epoch seconds, epoch ms or a date');

  const n: Record<string, number> = {};
  for (const name of ['speed', 'bearing', 'heading', 'altitude', 'accuracy', 'batt']) {
    const text = field(fields, name);
    if (text === undefined || text === '') continue;
    const value = toNumber(text);
    if (value === null) return fail(`${name} is not a number`);
    n[name] = value;
  }
  const position: Position = { lat, lon };
  // Traccar Client and OsmAnd send speed in knots; a negative value means "unknown".
  if (n.speed !== undefined && n.speed >= 0) position.speed_kmh = round(n.speed * KNOTS_TO_KMH, 3);
  const heading = n.bearing ?? n.heading;
  if (heading !== undefined && heading >= 0) position.heading_deg = heading % 360;
  if (n.altitude !== undefined) position.alt_m = n.altitude;
  if (n.accuracy !== undefined && n.accuracy >= 0) position.accuracy_m = n.accuracy;
  const metrics: Record<string, MetricValue> = {};
  if (n.batt !== undefined && n.batt >= 0) {
    if (n.batt > 100) return fail('batt is not a percentage');
    metrics.device_battery_pct = n.batt;
  }

  const raw: Record<string, MetricValue> = {};
  for (const name of Object.keys(fields)) {
    if (KNOWN_FIELDS.has(name) || name.length > 128) continue;
    const text = field(fields, name);
    if (text !== undefined) raw[name] = rawValue(text);
  }
  out.messages.push(message(ts, position, metrics, raw));
  return { ...out, deviceId };
}

function message(
  ts: number,
  position: Position,
  metrics: Record<string, MetricValue>,
  raw: Record<string, MetricValue>,
): NativeMessage {
  return {
    ts,
    position,
    ...(Object.keys(metrics).length > 0 ? { metrics } : {}),
    ...(Object.keys(raw).length > 0 ? { raw } : {}),
  };
}

/**
 * Decodes the JSON mode: `{device_id, location: {...}}` where `location` may also be an array (batched
 * sync). Each location decodes on its own: a bad one is a dead letter, the good ones are kept.
 */
export function decodeOsmandJson(body: unknown, nowMs: number): OsmandDecoded {
  const out = emptyDecoded();
  if (!isRecord(body)) {
    out.deadLetters.push({ reason: 'osmand: body is not a JSON object', payload: payloadText(body) });
    return { ...out, deviceId: null };
  }
  const idValue = body.device_id ?? body.deviceid ?? body.id;
  const deviceId =
    typeof idValue === 'string' || typeof idValue === 'number' ? String(idValue).trim() || null : null;
  if (!deviceId) {
    out.deadLetters.push({ reason: 'osmand: device_id is missing', payload: payloadText(body) });
    return { ...out, deviceId: null };
  }
  const locations = Array.isArray(body.location) ? body.location : [body.location];
  for (const location of locations) {
    // A location whose decoding throws (a bug) is kept as a dead letter; the others go on (decision 0012).
    let result: NativeMessage | DecodeDeadLetter;
    try {
      result = decodeJsonLocation(location, nowMs);
    } catch (error) {
      result = internalDeadLetter(error, location);
    }
    if ('reason' in result) out.deadLetters.push(result);
    else out.messages.push(result);
  }
  return { ...out, deviceId };
}

function decodeJsonLocation(location: unknown, nowMs: number): NativeMessage | DecodeDeadLetter {
  const fail = (reason: string): DecodeDeadLetter => ({
    reason: `osmand: ${reason}`,
    payload: payloadText(location),
  });
  if (!isRecord(location)) return fail('location is not an object');
  const coords = location.coords;
  if (!isRecord(coords)) return fail('location.coords is missing');
  const lat = toNumber(coords.latitude);
  if (lat === null || lat < -90 || lat > 90) return fail('coords.latitude is not a latitude');
  const lon = toNumber(coords.longitude);
  if (lon === null || lon < -180 || lon > 180) return fail('coords.longitude is not a longitude');
  const ts = location.timestamp === undefined ? nowMs : parseTimestampMs(location.timestamp);
  if (ts === null) return fail('location.timestamp is not a date');

  const optional = (value: unknown): number | null | 'bad' => {
    if (value === undefined || value === null) return null;
    const n = toNumber(value);
    return n === null ? 'bad' : n;
  };
  const c: Record<string, number> = {};
  for (const name of ['speed', 'heading', 'accuracy', 'altitude'] as const) {
    const n = optional(coords[name]);
    if (n === 'bad') return fail(`coords.${name} is not a number`);
    if (n !== null) c[name] = n;
  }
  const position: Position = { lat, lon };
  // Negative speed / heading / accuracy mean "unknown" on iOS and Android alike.
  if (c.speed !== undefined && c.speed >= 0) position.speed_kmh = round(c.speed * MS_TO_KMH, 3);
  if (c.heading !== undefined && c.heading >= 0) position.heading_deg = c.heading % 360;
  if (c.accuracy !== undefined && c.accuracy >= 0) position.accuracy_m = c.accuracy;
  if (c.altitude !== undefined) position.alt_m = c.altitude;

  const metrics: Record<string, MetricValue> = {};
  const raw: Record<string, MetricValue> = {};
  const battery = location.battery;
  if (isRecord(battery)) {
    const level = optional(battery.level);
    if (level === 'bad' || (level !== null && level > 1)) return fail('battery.level is not a fraction 0–1');
    if (level !== null && level >= 0) metrics.device_battery_pct = round(level * 100, 2);
    if (typeof battery.is_charging === 'boolean') raw.is_charging = battery.is_charging;
  }
  if (typeof location.is_moving === 'boolean') raw.is_moving = location.is_moving;
  const odometer = optional(location.odometer);
  if (odometer === 'bad') return fail('location.odometer is not a number');
  // The phone's own distance counter, in metres: not the vehicle's odometer.
  if (odometer !== null) raw.odometer_m = odometer;
  if (typeof location.event === 'string') raw.event = location.event;
  return message(ts, position, metrics, raw);
}
