import { describe, expect, it } from 'vitest';
import upstream from './owntracks/upstream-tests.json' with { type: 'json' };
import { decodeOwntracks, owntracksEncrypt, owntracksKey } from './owntracks.js';

const NOW = 1_732_000_000_000;
const noKey = { nowMs: NOW, secret: null };

describe('OwnTracks: every upstream test message gets the upstream verdict', () => {
  const files = upstream.files as Record<string, string>;
  const verdicts = upstream.verdicts as Record<string, { schema: string; verdict: 'valid' | 'invalid' }>;

  it('has a verdict for every file but the one upstream comments out', () => {
    expect(Object.keys(files).filter((f) => !verdicts[f])).toEqual(['array-nothing.json']);
    expect(Object.keys(verdicts).filter((f) => files[f] === undefined)).toEqual([]);
  });

  it.each(Object.keys(verdicts))('%s', (file) => {
    const { verdict } = verdicts[file]!;
    const result = decodeOwntracks(files[file]!, noKey);
    if (verdict === 'invalid') {
      // Invalid: refused with a reason that names what is wrong, and nothing of it stored.
      expect(result.deadLetters.length).toBeGreaterThan(0);
      expect(result.deadLetters[0]!.reason).toMatch(/^owntracks: \S/);
      expect(result.messages).toEqual([]);
      expect(result.events).toEqual([]);
    } else if (file === 'e.json') {
      // Schema-valid envelope, but "YWJjZGUK" is six bytes ("abcde\n"), not nonce + box: without a key
      // (and with any key) it cannot be opened. Valid shape, undecryptable content.
      expect(result.deadLetters.map((d) => d.reason)).toEqual([
        'owntracks: data is encrypted but no key is set for this device',
      ]);
      expect(
        decodeOwntracks(files[file]!, { nowMs: NOW, secret: 'k' }).deadLetters.map((d) => d.reason),
      ).toEqual(['owntracks: data cannot be decrypted with the device key']);
    } else {
      expect(result.deadLetters).toEqual([]);
    }
  });

  it('refuses array-nothing.json (an empty file) as not JSON', () => {
    expect(decodeOwntracks(files['array-nothing.json']!, noKey).deadLetters.map((d) => d.reason)).toEqual([
      'owntracks: payload is not JSON',
    ]);
  });

  it.each([
    ['location-lat-missing.json', 'owntracks: lat is missing'],
    ['lwt-notst.json', 'owntracks: tst is missing'],
    ['transition-illegal-lat.json', 'owntracks: lat must be number'],
    ['object-empty.json', 'owntracks: _type is missing'],
    ['e-nodata.json', 'owntracks: data is missing'],
    ['cmd-setWaypoints-illegal.json', 'owntracks: payload is not JSON'],
  ])('names the field: %s → %s', (file, reason) => {
    expect(decodeOwntracks(files[file]!, noKey).deadLetters[0]?.reason).toBe(reason);
  });

  it('turns the valid location examples into positions and lwt / transition into events', () => {
    const l = decodeOwntracks(files['l.json']!, noKey);
    expect(l.messages).toEqual([
      {
        ts: 1_699_882_482_000,
        position: { lat: 52.195913, lon: 7.688245, alt_m: 0, accuracy_m: 35 },
        metrics: { device_battery_pct: 75 },
        raw: { battery_state: 'unplugged', conn: 'w', m: 1, tag: 'Coffee', tid: 'C1' },
      },
    ]);
    expect(decodeOwntracks(files['lwt.json']!, noKey).events).toEqual([
      { type: 'owntracks.lwt', tsMs: 1_699_882_482_000, data: { tst: 1_699_882_482 } },
    ]);
    const transition = decodeOwntracks(files['transition.json']!, noKey);
    expect(transition.messages).toEqual([]);
    expect(transition.events).toMatchObject([
      { type: 'owntracks.transition', tsMs: 1_701_264_368_000, data: { event: 'enter', desc: 'blukii' } },
    ]);
    expect(decodeOwntracks(files['status.json']!, noKey)).toEqual({
      messages: [],
      events: [],
      deadLetters: [],
    });
  });
});

describe('OwnTracks location fields', () => {
  const base = { _type: 'location', lat: 48.1, lon: 11.5, tst: 1_732_000_000 };

  it('maps vel (km/h), cog, alt, acc, vac, batt and bs', () => {
    const result = decodeOwntracks(
      { ...base, vel: 54, cog: 270, alt: 520, acc: 8, vac: 3, batt: 40, bs: 2, inregions: ['home', 'work'] },
      noKey,
    );
    expect(result.messages).toEqual([
      {
        ts: 1_732_000_000_000,
        position: { lat: 48.1, lon: 11.5, speed_kmh: 54, heading_deg: 270, alt_m: 520, accuracy_m: 8 },
        metrics: { device_battery_pct: 40 },
        raw: { battery_state: 'charging', vertical_accuracy_m: 3, inregions: 'home,work' },
      },
    ]);
  });

  it.each([
    [{ ...base, tst: 0 }, 'owntracks: tst must be a positive epoch second'],
    [{ ...base, tst: '1732000000' }, 'owntracks: tst must be integer'],
    [{ ...base, lat: 91 }, 'owntracks: lat is not a latitude'],
    [{ ...base, lon: -181 }, 'owntracks: lon is not a longitude'],
    [{ ...base, vel: 'fast' }, 'owntracks: vel is not a number'],
    [{ ...base, batt: 140 }, 'owntracks: batt is not a percentage'],
    [{ ...base, bs: 7 }, 'owntracks: bs must be 0, 1, 2 or 3'],
    [{ _type: 'sandwich' }, expect.stringMatching(/^owntracks: _type must be one of "beacon", /)],
    [42, 'owntracks: message is not an object'],
  ])('dead-letters %j', (message, reason) => {
    const result = decodeOwntracks(message, noKey);
    expect(result.messages).toEqual([]);
    expect(result.deadLetters).toEqual([{ reason, payload: JSON.stringify(message) }]);
  });

  it('keeps the good elements of an array when one is bad', () => {
    const result = decodeOwntracks(
      JSON.stringify([base, { ...base, lat: 'x' }, { ...base, tst: base.tst + 1 }]),
      noKey,
    );
    expect(result.messages.map((m) => m.ts)).toEqual([1_732_000_000_000, 1_732_000_001_000]);
    expect(result.deadLetters.map((d) => d.reason)).toEqual(['owntracks: lat must be number']);
  });
});

describe('OwnTracks encryption (libsodium secretbox)', () => {
  const location = { _type: 'location', lat: 1.5, lon: 2.5, tst: 1_732_000_000 };

  it('derives the key by zero-padding the secret to 32 bytes', () => {
    const key = owntracksKey('abc');
    expect(key.length).toBe(32);
    expect([...key.subarray(0, 4)]).toEqual([0x61, 0x62, 0x63, 0]);
    expect(owntracksKey('x'.repeat(40)).length).toBe(32);
  });

  it('opens a payload sealed with the device secret', () => {
    const data = owntracksEncrypt(JSON.stringify(location), 's3cret');
    const result = decodeOwntracks(JSON.stringify({ _type: 'encrypted', data }), {
      nowMs: NOW,
      secret: 's3cret',
    });
    expect(result.deadLetters).toEqual([]);
    expect(result.messages).toEqual([{ ts: 1_732_000_000_000, position: { lat: 1.5, lon: 2.5 } }]);
  });

  it('matches a box sealed by libsodium’s layout: 24-byte nonce, then ciphertext with its 16-byte tag', () => {
    const nonce = new Uint8Array(24).fill(7);
    const data = owntracksEncrypt('{"_type":"lwt","tst":1732000000}', 'k', nonce);
    const bytes = Buffer.from(data, 'base64');
    expect([...bytes.subarray(0, 24)]).toEqual([...nonce]);
    expect(bytes.length).toBe(24 + 32 + 16);
    expect(decodeOwntracks({ _type: 'encrypted', data }, { nowMs: NOW, secret: 'k' }).events).toHaveLength(1);
  });

  it.each([
    [null, 'owntracks: data is encrypted but no key is set for this device'],
    ['wrong', 'owntracks: data cannot be decrypted with the device key'],
  ])('refuses with secret %j', (secret, reason) => {
    const data = owntracksEncrypt(JSON.stringify(location), 's3cret');
    expect(
      decodeOwntracks({ _type: 'encrypted', data }, { nowMs: NOW, secret }).deadLetters.map((d) => d.reason),
    ).toEqual([reason]);
  });

  it('refuses plaintext that is not JSON and nested envelopes', () => {
    const notJson = owntracksEncrypt('hello', 'k');
    expect(
      decodeOwntracks({ _type: 'encrypted', data: notJson }, { nowMs: NOW, secret: 'k' }).deadLetters[0]
        ?.reason,
    ).toBe('owntracks: data decrypts to something that is not JSON');
    const nested = owntracksEncrypt(JSON.stringify({ _type: 'encrypted', data: notJson }), 'k');
    expect(
      decodeOwntracks({ _type: 'encrypted', data: nested }, { nowMs: NOW, secret: 'k' }).deadLetters[0]
        ?.reason,
    ).toBe('owntracks: data decrypts to another encrypted message');
  });
});
