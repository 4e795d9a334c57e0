import type { MetricValue, NativeMessage, Position } from '@tacho/protocol';
import {
  type DecodeDeadLetter,
  type Decoded,
  emptyDecoded,
  type FormatEvent,
  internalDeadLetter,
  isRecord,
  parseTimestampMs,
  payloadText,
  round,
  toNumber,
} from './decoded.js';

/**
 * Overland for iOS (`POST /api/v1/ingest/overland`): `{locations: [GeoJSON Point Feature…], current?, trip?}`.
 * Reference: https://github.com/aaronpk/Overland-iOS#api. The app re-sends the whole batch unless the reply
 * is exactly `{"result":"ok"}`, so nothing in a batch may make the request fail: features without a position
 * (`action: "will_terminate"`, visits without coordinates, trip summaries) become events, unreadable ones
 * dead letters. `current` repeats the newest location and `trip` the running trip; both are ignored.
 */

const MS_TO_KMH = 3.6;

export function decodeOverland(body: unknown, nowMs: number): Decoded {
  const out = emptyDecoded();
  if (!isRecord(body) || !Array.isArray(body.locations)) {
    out.deadLetters.push({ reason: 'overland: locations is not an array', payload: payloadText(body) });
    return out;
  }
  for (const feature of body.locations) {
    // A feature whose decoding throws (a bug) is kept as a dead letter; the others go on (decision 0012).
    let result: FeatureResult;
    try {
      result = decodeFeature(feature, nowMs);
    } catch (error) {
      result = { kind: 'dead', deadLetter: internalDeadLetter(error, feature) };
    }
    if (result?.kind === 'message') out.messages.push(result.message);
    else if (result?.kind === 'event') out.events.push(result.event);
    else if (result?.kind === 'dead') out.deadLetters.push(result.deadLetter);
  }
  return out;
}

type FeatureResult =
  | { kind: 'message'; message: NativeMessage }
  | { kind: 'event'; event: FormatEvent }
  | { kind: 'dead'; deadLetter: DecodeDeadLetter }
  | null;

function decodeFeature(feature: unknown, nowMs: number): FeatureResult {
  const fail = (reason: string): FeatureResult => ({
    kind: 'dead',
    deadLetter: { reason: `overland: ${reason}`, payload: payloadText(feature) },
  });
  if (!isRecord(feature)) return fail('location is not a GeoJSON feature');
  const props = isRecord(feature.properties) ? feature.properties : {};
  const ts = props.timestamp === undefined ? null : parseTimestampMs(props.timestamp);
  if (props.timestamp !== undefined && ts === null)
    return fail('properties.timestamp is not an ISO-8601 date');

  const geometry = isRecord(feature.geometry) ? feature.geometry : null;
  const coordinates = geometry?.coordinates;
  const kind =
    typeof props.type === 'string' ? props.type : typeof props.action === 'string' ? props.action : null;
  if (!Array.isArray(coordinates) || coordinates.length < 2 || kind !== null) {
    // Not a position fix: a visit, a trip summary, an app lifecycle action. Recorded, never rejected.
    if (kind === null && Object.keys(props).length === 0) return null;
    return {
      kind: 'event',
      event: { type: `overland.${kind ?? 'feature'}`, tsMs: ts ?? nowMs, data: props },
    };
  }
  if (ts === null) return fail('properties.timestamp is missing');
  const lon = toNumber(coordinates[0]);
  const lat = toNumber(coordinates[1]);
  if (lat === null || lat < -90 || lat > 90) return fail('geometry.coordinates[1] is not a latitude');
  if (lon === null || lon < -180 || lon > 180) return fail('geometry.coordinates[0] is not a longitude');

  const n: Record<string, number> = {};
  for (const name of [
    'speed',
    'course',
    'altitude',
    'horizontal_accuracy',
    'vertical_accuracy',
    'battery_level',
  ]) {
    const value = props[name];
    if (value === undefined || value === null) continue;
    const num = toNumber(value);
    if (num === null) return fail(`properties.${name} is not a number`);
    n[name] = num;
  }
  const position: Position = { lat, lon };
  // CoreLocation reports −1 for an unknown speed, course or accuracy.
  if (n.speed !== undefined && n.speed >= 0) position.speed_kmh = round(n.speed * MS_TO_KMH, 3);
  if (n.course !== undefined && n.course >= 0) position.heading_deg = n.course % 360;
  if (n.altitude !== undefined) position.alt_m = n.altitude;
  if (n.horizontal_accuracy !== undefined && n.horizontal_accuracy >= 0)
    position.accuracy_m = n.horizontal_accuracy;

  const metrics: Record<string, MetricValue> = {};
  if (n.battery_level !== undefined && n.battery_level >= 0) {
    if (n.battery_level > 1) return fail('properties.battery_level is not a fraction 0–1');
    metrics.device_battery_pct = round(n.battery_level * 100, 2);
  }
  const raw: Record<string, MetricValue> = {};
  if (typeof props.battery_state === 'string') raw.battery_state = props.battery_state;
  if (Array.isArray(props.motion)) raw.motion = props.motion.filter((m) => typeof m === 'string').join(',');
  if (typeof props.wifi === 'string' && props.wifi !== '') raw.wifi = props.wifi;
  if (n.vertical_accuracy !== undefined && n.vertical_accuracy >= 0)
    raw.vertical_accuracy_m = n.vertical_accuracy;
  if (typeof props.device_id === 'string' && props.device_id !== '') raw.device_id = props.device_id;
  const message: NativeMessage = {
    ts,
    position,
    ...(Object.keys(metrics).length > 0 ? { metrics } : {}),
    ...(Object.keys(raw).length > 0 ? { raw } : {}),
  };
  return { kind: 'message', message };
}
