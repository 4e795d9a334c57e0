import { metricCatalog } from '@tacho/protocol';
import { describe, expect, it } from 'vitest';
import { boundedJson } from '../../lib/safe-text.js';
import { payloadText } from './batch-rows.js';
import { EXTREME_NUMBERS_JSON } from './extreme-numbers.js';
import { oversizedMessages } from './message-size.js';
import { isRejection, MAX_TS_MS, validateMessage } from './validate.js';

const NOW = Date.UTC(2026, 10, 22, 12);

/** A native message with `value` (JSON text) put at `path`, everything else valid. */
function nativeWith(path: string, value: string): string {
  const fields: Record<string, string> = {
    ts: String(NOW - 60_000),
    seq: '1',
    'metrics.speed_kmh': '10',
    'position.lat': '48.1',
    'position.lon': '11.5',
  };
  fields[path] = value;
  const metrics = Object.entries(fields)
    .filter(([k]) => k.startsWith('metrics.'))
    .map(([k, v]) => `"${k.slice(8)}":${v}`);
  const position = Object.entries(fields)
    .filter(([k]) => k.startsWith('position.'))
    .map(([k, v]) => `"${k.slice(9)}":${v}`);
  const raw = Object.entries(fields)
    .filter(([k]) => k.startsWith('raw.'))
    .map(([k, v]) => `"${k.slice(4)}":${v}`);
  return (
    `{"ts":${fields.ts},"seq":${fields.seq},"metrics":{${metrics.join(',')}},` +
    `"position":{${position.join(',')}}${raw.length > 0 ? `,"raw":{${raw.join(',')}}` : ''}}`
  );
}

/** Every field of the native format: its header, one metric of each type, each position field, raw. */
const NATIVE_FIELDS = [
  'ts',
  'seq',
  ...[...metricCatalog.values()]
    .filter((def, i, all) => all.findIndex((d) => d.type === def.type) === i)
    .map((def) => `metrics.${def.key}`),
  'metrics.speed_kmh',
  'position.lat',
  'position.lon',
  'position.alt_m',
  'position.heading_deg',
  'position.speed_kmh',
  'position.accuracy_m',
  'raw.x',
];

describe('extreme numbers in a native message', () => {
  it('are accepted or refused with a reason, never thrown, in every field', () => {
    for (const field of NATIVE_FIELDS) {
      for (const value of EXTREME_NUMBERS_JSON) {
        const message = JSON.parse(nativeWith(field, value));
        let result: ReturnType<typeof validateMessage> | undefined;
        expect(() => {
          result = validateMessage(message, NOW);
        }, `${field} = ${value}`).not.toThrow();
        if (result && isRejection(result)) expect(result.reason.length).toBeGreaterThan(0);
      }
    }
  });

  it('refuses a time past the year 9999 as out of range, naming the value (issue 24.1)', () => {
    for (const ts of [9e15, 2 ** 53 + 1, 8.64e15, 8.64e15 + 1, MAX_TS_MS + 1]) {
      expect(validateMessage({ ts, seq: 1, metrics: { speed_kmh: 1 } }, NOW)).toEqual({
        code: 'out_of_range',
        reason: `ts: ${ts} is after the year 9999 (microseconds? send epoch milliseconds or ISO-8601)`,
      });
    }
    expect(validateMessage({ ts: MAX_TS_MS, metrics: { speed_kmh: 1 } }, NOW)).toEqual({
      code: 'future_timestamp',
      reason: 'ts: 9999-12-31T23:59:59.999Z is more than 5 minutes ahead of the server clock',
    });
  });
});

describe('dead-letter text of any value', () => {
  it('keeps the beginning of JSON nested deeper than JSON.stringify can follow', () => {
    const deep = JSON.parse(`${'['.repeat(10_000)}${']'.repeat(10_000)}`);
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    expect(payloadText(deep)).toBe('['.repeat(2048));
    const deepObject = JSON.parse(`${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`);
    expect(payloadText(deepObject)).toBe('{"a":'.repeat(2048).slice(0, 2048));
  });

  it('writes what JSON.stringify writes when it can, cut to the length asked', () => {
    const value = { a: [1, 'two', null, true, { b: -0.5 }], c: 'x'.repeat(50) };
    expect(boundedJson(value, 1000)).toBe(JSON.stringify(value));
    expect(boundedJson(value, 10)).toBe(JSON.stringify(value).slice(0, 10));
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(boundedJson(cyclic, 30)).toBe('{"a":1,"self":{"a":1,"self":{"');
    expect(boundedJson({ n: 10n }, 100)).toBe('{"n":10}');
  });
});

describe('messages over the per-message limit in a larger body', () => {
  const body = (text: string) => Buffer.from(text);

  it('are found by index and size in an array, with brackets, commas and escapes inside strings', () => {
    const big = `{"ts":1,"raw":{"s":"${'],\\"['.repeat(30)}"}}`;
    const text = `[ {"ts":1} ,${big}, {"ts":2},\n${big} ]`;
    expect(oversizedMessages(body(text), 100)).toEqual([
      { index: 1, size: big.length, from: text.indexOf(big) },
      { index: 3, size: big.length, from: text.lastIndexOf(big) },
    ]);
    expect(oversizedMessages(body(text), text.length)).toEqual([]);
  });

  it('take the array under the named key of an object body (the last of duplicates), else the whole body', () => {
    const big = `{"p":"${'x'.repeat(200)}"}`;
    const text = `{"locations":[1],"current":${big},"loc\\u0061tions":[{"a":1},${big}]}`;
    expect(oversizedMessages(body(text), 100, 'locations')).toEqual([
      { index: 1, size: big.length, from: text.lastIndexOf(big) },
    ]);
    expect(oversizedMessages(body(text), 100, null)).toEqual([{ index: 0, size: text.length, from: 0 }]);
    const notArray = `{"locations":{"x":${big}}}`;
    expect(oversizedMessages(body(notArray), 100, 'locations')).toEqual([
      { index: 0, size: notArray.length, from: 0 },
    ]);
  });

  it('read a body nested 100,000 deep without recursion', () => {
    const text = `[${'['.repeat(100_000)}${']'.repeat(100_000)},1]`;
    expect(oversizedMessages(body(text), 1000)).toEqual([{ index: 0, size: 200_000, from: 1 }]);
  });
});
