import { VehicleSimulator } from '@tacho/protocol';
import { describe, expect, it } from 'vitest';
import { type StoredSample, toStored } from './batch-rows.js';
import { packNativeBody } from './fast-native.js';
import { type PackedSamples, packSamples } from './packed-batch.js';
import { decodeNativePayload, isRejection, validateMessage } from './validate.js';

const VEHICLE = '0193f0c2-5f7e-7abc-8def-0123456789ab';
const NOW = Date.UTC(2026, 10, 22, 12);
const MAX_BYTES = 2 * 1024 * 1024;
const MESSAGE_BYTES = 262_144;

/** What the general path makes of a body: the packed part, or null when any message is refused. */
function generalPath(body: Buffer): PackedSamples | null {
  const decoded = decodeNativePayload(body, MAX_BYTES);
  if (!decoded.ok) return null;
  const samples: StoredSample[] = [];
  for (const message of decoded.messages) {
    const valid = validateMessage(message, NOW);
    if (isRejection(valid)) return null;
    samples.push(toStored({ source: 'http', topic: '/t', vehicleId: VEHICLE }, valid, NOW));
  }
  return packSamples(samples);
}

/** The part as a person would compare it: state values parsed (key order is not meaning), rows sorted. */
function comparable(part: PackedSamples) {
  const byKey = <T extends { metric: string }>(rows: T[], key: (r: T) => string) =>
    [...rows].sort((a, b) => key(a).localeCompare(key(b)));
  const folded = part.folded!;
  return {
    count: part.count,
    vehicles: part.vehicles,
    vehicle: [...part.vehicle],
    sources: part.sources,
    source: [...part.source],
    numbers: [...part.numbers].map((n) => (Number.isNaN(n) ? 'NaN' : n)),
    metrics: part.metrics,
    metricsEnd: [...part.metricsEnd],
    raw: part.raw,
    state: byKey(folded.state, (r) => r.metric).map((r) => ({ ...r, value: JSON.parse(r.value) })),
    minute: byKey(folded.minute, (r) => `${r.metric} ${r.bucket_ms}`),
    hour: byKey(folded.hour, (r) => `${r.metric} ${r.bucket_ms}`),
  };
}

function simulatorBody(count: number, seed: number, phase: 'parked' | 'driving' | 'charging'): string {
  const sim = new VehicleSimulator({ seed, startPhase: phase });
  const start = NOW - 3_600_000;
  return JSON.stringify(Array.from({ length: count }, (_, i) => sim.next(start + i * 1000)));
}

/** A body of `count` copies of one message, each with its own ts and seq. */
function bodyOf(count: number, message: (i: number) => string): string {
  return `[${Array.from({ length: count }, (_, i) => message(i)).join(',')}]`;
}
const ts = (i: number) => NOW - 600_000 + i * 1000;

describe('the fast path for large native bodies', () => {
  it('reads simulator batches (parked, driving, charging) exactly as the general path does', () => {
    for (const [seed, phase] of [
      [1, 'parked'],
      [2, 'driving'],
      [3, 'charging'],
    ] as const) {
      const body = Buffer.from(simulatorBody(1000, seed, phase));
      const fast = packNativeBody(body, VEHICLE, 'http', NOW, MESSAGE_BYTES);
      expect(fast, phase).not.toBeNull();
      expect(comparable(fast!)).toEqual(comparable(generalPath(body)!));
    }
  });

  it('takes white space between fields, absent seq, seq 0, empty metrics beside a position, and every value type', () => {
    const body = bodyOf(
      150,
      (i) =>
        `\n  { "ts" : ${ts(i)} ,${i % 3 === 0 ? '' : ` "seq": ${i % 2},`} "metrics":` +
        (i % 5 === 0
          ? '{}'
          : `{"speed_kmh":${i % 7 === 0 ? '0.5' : i},"outside_temp_c":-${i / 4},"gear":"R","ignition":false,` +
            `"software_version":"v1.2 (beta) #${i}","charging_state":"charging","motor_rpm":-12000}`) +
        `, "position": { "lon": -${i / 8}, "lat": 0.000001, "accuracy_m": 0 } }`,
    );
    const fast = packNativeBody(Buffer.from(body), VEHICLE, 'http', NOW, MESSAGE_BYTES);
    expect(fast).not.toBeNull();
    expect(comparable(fast!)).toEqual(comparable(generalPath(Buffer.from(body))!));
  });

  it('leaves to the general path what it cannot take exactly, and every invalid message', () => {
    const valid = (i: number) => `{"ts":${ts(i)},"seq":${i},"metrics":{"speed_kmh":${i % 100}}}`;
    const withOne = (odd: string) => bodyOf(120, (i) => (i === 60 ? odd : valid(i)));
    const cases: Record<string, string> = {
      'fewer than 100 messages': bodyOf(99, valid),
      'more than 1,000 messages': bodyOf(1001, valid),
      'one object, not an array': valid(0),
      'a number not as JSON.stringify writes it (trailing zero)': withOne(
        `{"ts":${ts(60)},"metrics":{"speed_kmh":12.50}}`,
      ),
      'an exponent': withOne(`{"ts":${ts(60)},"metrics":{"speed_kmh":1e1}}`),
      'more than 15 significant digits': withOne(
        `{"ts":${ts(60)},"metrics":{"speed_kmh":1.0000000000000001}}`,
      ),
      'minus zero': withOne(`{"ts":${ts(60)},"metrics":{"speed_kmh":-0}}`),
      'a tiny number': withOne(`{"ts":${ts(60)},"metrics":{"power_kw":0.0000001}}`),
      'white space inside metrics': withOne(`{"ts":${ts(60)},"metrics":{ "speed_kmh":1}}`),
      'an escaped string': withOne(`{"ts":${ts(60)},"metrics":{"software_version":"a\\"b"}}`),
      'a non-ASCII string': withOne(`{"ts":${ts(60)},"metrics":{"software_version":"Straße"}}`),
      'a duplicate metric': withOne(`{"ts":${ts(60)},"metrics":{"speed_kmh":1,"speed_kmh":2}}`),
      'a duplicate field': withOne(`{"ts":${ts(60)},"ts":${ts(61)},"metrics":{"speed_kmh":1}}`),
      'an ISO timestamp': withOne(`{"ts":"2026-11-22T11:55:00Z","metrics":{"speed_kmh":1}}`),
      'raw values': withOne(`{"ts":${ts(60)},"metrics":{},"raw":{"x":1}}`),
      'OBD-II responses': withOne(`{"ts":${ts(60)},"obd":{"010D":"41 0D 32"}}`),
      'an unknown field': withOne(`{"ts":${ts(60)},"extra":1,"metrics":{"speed_kmh":1}}`),
      'null metrics': withOne(`{"ts":${ts(60)},"metrics":null,"position":{"lat":1,"lon":2}}`),
      'a null position field': withOne(`{"ts":${ts(60)},"position":{"lat":1,"lon":2,"alt_m":null}}`),
      'an unknown metric': withOne(`{"ts":${ts(60)},"metrics":{"warp_factor":9}}`),
      'a value out of range': withOne(`{"ts":${ts(60)},"metrics":{"speed_kmh":501}}`),
      'a wrong type': withOne(`{"ts":${ts(60)},"metrics":{"speed_kmh":"fast"}}`),
      'an unknown enum value': withOne(`{"ts":${ts(60)},"metrics":{"gear":"X"}}`),
      'a string too long': withOne(`{"ts":${ts(60)},"metrics":{"software_version":"${'v'.repeat(257)}"}}`),
      'a time in the future': withOne(`{"ts":${NOW + 300_001},"metrics":{"speed_kmh":1}}`),
      'a time before 2000': withOne(`{"ts":946684799999,"metrics":{"speed_kmh":1}}`),
      'a fractional time': withOne(`{"ts":${ts(60)}.5,"metrics":{"speed_kmh":1}}`),
      'a seq too large': withOne(`{"ts":${ts(60)},"seq":2147483648,"metrics":{"speed_kmh":1}}`),
      'no values': withOne(`{"ts":${ts(60)},"metrics":{}}`),
      'no time': withOne(`{"metrics":{"speed_kmh":1}}`),
      'a position without lon': withOne(`{"ts":${ts(60)},"position":{"lat":1}}`),
      'a position out of range': withOne(`{"ts":${ts(60)},"position":{"lat":91,"lon":2}}`),
      'an unknown position field': withOne(`{"ts":${ts(60)},"position":{"lat":1,"lon":2,"floor":3}}`),
      'trailing text': `${bodyOf(120, valid)} x`,
      'a cut-off body': bodyOf(120, valid).slice(0, -5),
      // One limit per message whatever the transport: this one is larger than an MQTT message may be.
      'a message over the per-message limit': withOne(
        `{"ts":${ts(60)},${' '.repeat(MESSAGE_BYTES)}"metrics":{"speed_kmh":1}}`,
      ),
    };
    for (const [name, body] of Object.entries(cases)) {
      expect(packNativeBody(Buffer.from(body), VEHICLE, 'http', NOW, MESSAGE_BYTES), name).toBeNull();
    }
    // The same body without its odd message is taken.
    expect(
      packNativeBody(Buffer.from(bodyOf(120, valid)), VEHICLE, 'http', NOW, MESSAGE_BYTES),
    ).not.toBeNull();
  });

  it('agrees with the general path on thousands of damaged bodies: either it declines or both agree', () => {
    // A deterministic generator, so a failure is reproducible.
    let state = 12345;
    const random = () => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state / 2 ** 32;
    };
    const pieces = [
      '0',
      '1',
      '2',
      '5',
      '7',
      '9',
      '-',
      '.',
      'e',
      '"',
      '\\',
      ' ',
      '{',
      '}',
      ']',
      ',',
      ':',
      'n',
      'é',
      '00',
    ];
    const base = simulatorBody(110, 7, 'driving');
    let taken = 0;
    for (let round = 0; round < 3000; round++) {
      let text = base;
      for (let edits = 1 + Math.floor(random() * 2); edits > 0; edits--) {
        const at = Math.floor(random() * text.length);
        const piece = pieces[Math.floor(random() * pieces.length)]!;
        const how = random();
        text =
          how < 0.4
            ? text.slice(0, at) + piece + text.slice(at + 1)
            : how < 0.7
              ? text.slice(0, at) + piece + text.slice(at)
              : text.slice(0, at) + text.slice(at + 1);
      }
      const body = Buffer.from(text);
      const fast = packNativeBody(body, VEHICLE, 'http', NOW, MESSAGE_BYTES);
      if (fast === null) continue;
      taken++;
      const general = generalPath(body);
      expect(general, text).not.toBeNull();
      expect(comparable(fast), text).toEqual(comparable(general!));
    }
    // Many damaged bodies are still valid (a digit changed): the comparison above ran for them.
    expect(taken).toBeGreaterThan(100);
  });
});
