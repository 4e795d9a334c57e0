import { checkMetric, type MetricValue, type NativeMessage } from '@tacho/protocol';
import { boundedJson } from '../../lib/safe-text.js';
import {
  type DecodeDeadLetter,
  type Decoded,
  emptyDecoded,
  type FormatEvent,
  isRecord,
  parseTimestampMs,
  payloadText,
  toNumber,
} from './decoded.js';
import { TESLA_FIELDS, TEXT_FIELDS } from './tesla/fields.js';

/**
 * Tesla Fleet Telemetry as its MQTT dispatcher publishes it (teslamotors/fleet-telemetry
 * datastore/mqtt): `<base>/<VIN>/v/<Field>` with one bare JSON value per message and no time of its own,
 * `<base>/<VIN>/connectivity`, `<base>/<VIN>/alerts/<name>/current|history`, `<base>/<VIN>/errors/<name>`.
 * This file is pure: it reads topics and payloads; tesla-stream.ts groups the field messages of one
 * moment into samples.
 */

export type TeslaTopic =
  | { readonly vin: string; readonly kind: 'field'; readonly field: string }
  | { readonly vin: string; readonly kind: 'connectivity' }
  | {
      readonly vin: string;
      readonly kind: 'alert';
      readonly name: string;
      readonly which: 'current' | 'history';
    }
  | { readonly vin: string; readonly kind: 'error'; readonly name: string }
  /** Under the base and naming a vehicle, but of no shape fleet-telemetry publishes. */
  | { readonly vin: string; readonly kind: 'other' };

/** Field and alert names: letters, digits, `_` (a raw key is at most 128 characters). */
const NAME = /^[A-Za-z0-9_]{1,64}$/;
const MAX_RAW_STRING = 1024;

/** The vehicle segment of a topic under `base`, or null when the topic is not under it. */
export function teslaTopicVin(base: string, topic: string): string | null {
  if (!topic.startsWith(`${base}/`)) return null;
  const vin = topic.slice(base.length + 1).split('/', 1)[0];
  return vin ? vin : null;
}

/** Reads a topic under `base`; null when it is not under it or names no vehicle. */
export function parseTeslaTopic(base: string, topic: string): TeslaTopic | null {
  const vin = teslaTopicVin(base, topic);
  if (vin === null) return null;
  const rest = topic.slice(base.length + vin.length + 2).split('/');
  const [kind, name, which] = rest;
  if (kind === 'v' && rest.length === 2 && NAME.test(name!)) return { vin, kind: 'field', field: name! };
  if (kind === 'connectivity' && rest.length === 1) return { vin, kind: 'connectivity' };
  if (
    kind === 'alerts' &&
    rest.length === 3 &&
    NAME.test(name!) &&
    (which === 'current' || which === 'history')
  )
    return { vin, kind: 'alert', name: name!, which };
  if (kind === 'errors' && rest.length === 2 && NAME.test(name!)) return { vin, kind: 'error', name: name! };
  return { vin, kind: 'other' };
}

/** A field message's value: parsed JSON, or the dead letter saying why it cannot be read. */
export function readFieldPayload(
  field: string,
  payload: Buffer | string,
): { value: unknown } | { deadLetter: DecodeDeadLetter } {
  const text = payload.toString();
  try {
    return { value: JSON.parse(text) };
  } catch {
    return { deadLetter: { reason: `tesla: ${field} is not JSON`, payload: text } };
  }
}

/**
 * What a raw key keeps of a field value: numbers (numeric text becomes a number, since firmware versions
 * differ in which they send), booleans, text, and objects (a location, door states) as JSON text. Null
 * (Tesla's "invalid") and anything unreadable: nothing.
 */
function rawValue(field: string, value: unknown): MetricValue | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const n = TEXT_FIELDS.has(field) ? null : toNumber(value);
    return n !== null ? n : value.slice(0, MAX_RAW_STRING);
  }
  if (typeof value === 'object' && value !== null) return boundedJson(value, MAX_RAW_STRING);
  return null;
}

/** A location's coordinates, or null when it is not `{latitude, longitude}` within range. */
function location(value: unknown): { lat: number; lon: number } | null {
  if (!isRecord(value)) return null;
  const lat = toNumber(value.latitude);
  const lon = toNumber(value.longitude);
  if (lat === null || lon === null || Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
  return { lat, lon };
}

/**
 * One sample from the field values of one moment (`fields`: name → parsed JSON value), at `tsMs` with
 * `seq`. Every readable field is kept raw; mapped ones become metrics (or the position). A value that
 * maps to an implausible metric (or a location out of range) stays raw and leaves a dead letter. Null
 * values are Tesla's "invalid": skipped. Never throws on bad input.
 */
export function decodeTeslaFields(fields: ReadonlyMap<string, unknown>, tsMs: number, seq: number): Decoded {
  const out = emptyDecoded();
  const raw: Record<string, MetricValue> = {};
  const metrics: Record<string, MetricValue> = {};
  const ranks = new Map<string, number>();
  let position: NativeMessage['position'];
  for (const [field, value] of fields) {
    const kept = rawValue(field, value);
    if (kept === null) continue;
    raw[field] = kept;
    const mapping = TESLA_FIELDS.get(field);
    if (!mapping) continue;
    const fail = (reason: string) =>
      out.deadLetters.push({ reason: `tesla: ${field} ${reason}`, payload: payloadText(value) });
    if (mapping.metric === 'position') {
      const at = location(value);
      if (at) position = at;
      else fail('is not a {latitude, longitude} location');
      continue;
    }
    // Objects have no metric to become; an enum that says nothing (Unknown, SNA) stays raw only.
    const converted = typeof value === 'object' ? null : mapping.convert(kept);
    if (converted === null) continue;
    const problem = checkMetric(mapping.metric, converted);
    if (problem) {
      fail(`→ ${problem.replace(/^metrics\./, '')}`);
      continue;
    }
    const rank = mapping.rank ?? 0;
    const held = ranks.get(mapping.metric);
    const current = metrics[mapping.metric];
    // Two fields for one metric (BatteryLevel and Soc; AC and DC power): the higher rank, then the larger.
    if (
      held === undefined ||
      rank > held ||
      (rank === held && typeof converted === 'number' && typeof current === 'number' && converted > current)
    ) {
      metrics[mapping.metric] = converted;
      ranks.set(mapping.metric, rank);
    }
  }
  if (position && typeof metrics.heading_deg === 'number') {
    position = { ...position, heading_deg: metrics.heading_deg % 360 };
  }
  if (Object.keys(raw).length === 0) return out;
  const message: NativeMessage = { ts: tsMs, seq, raw };
  if (Object.keys(metrics).length > 0) message.metrics = metrics;
  if (position) message.position = position;
  out.messages.push(message);
  return out;
}

/** What Tesla's raw key says a field means, for the deep scan. */
export function describeTeslaField(
  field: string,
): { canonicalKey: string | null; unit: string | null } | null {
  const mapping = TESLA_FIELDS.get(field);
  if (!mapping) return null;
  return { canonicalKey: mapping.metric === 'position' ? null : mapping.metric, unit: mapping.unit };
}

/**
 * A connectivity, alert or error message as events (raw-only samples the deep scan shows): at the
 * message's own time (`CreatedAt`; for an alert `EndedAt`, else `StartedAt`), or `nowMs` without one.
 */
export function decodeTeslaEvent(topic: TeslaTopic, payload: Buffer | string, nowMs: number): Decoded {
  const out = emptyDecoded();
  const text = payload.toString();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    out.deadLetters.push({ reason: `tesla: ${topic.kind} message is not JSON`, payload: text });
    return out;
  }
  const event = (type: string, data: unknown, ...times: unknown[]): FormatEvent | null => {
    if (!isRecord(data)) {
      out.deadLetters.push({ reason: `tesla: ${type} is not an object`, payload: payloadText(data) });
      return null;
    }
    const tsMs = times.map(parseTimestampMs).find((t) => t !== null) ?? nowMs;
    // eventMessage keeps its data as bounded JSON text.
    return { type, tsMs, data };
  };
  const push = (e: FormatEvent | null) => {
    if (e) out.events.push(e);
  };
  switch (topic.kind) {
    case 'connectivity':
      if (isRecord(body)) push(event('tesla.connectivity', body, body.CreatedAt));
      else push(event('tesla.connectivity', body));
      break;
    case 'alert': {
      const type = `tesla.alert.${topic.name}`;
      const alerts = topic.which === 'history' && Array.isArray(body) ? body : [body];
      for (const alert of alerts.slice(0, 100)) {
        push(isRecord(alert) ? event(type, alert, alert.EndedAt, alert.StartedAt) : event(type, alert));
      }
      break;
    }
    case 'error':
      push(
        isRecord(body)
          ? event(`tesla.error.${topic.name}`, body, body.CreatedAt)
          : event(`tesla.error.${topic.name}`, body),
      );
      break;
    default:
      out.deadLetters.push({ reason: 'tesla: not a topic fleet-telemetry publishes', payload: text });
  }
  return out;
}
