import { describe, expect, it } from 'vitest';
import { aliasCount, aliasName, mergeTables, normalizeDeviceKey, staticTables } from './vinfast/catalog.js';
import { canonicalUnit, decodeVinfast } from './vinfast.js';

const T = 1_732_000_000_000;
const rec = (deviceKey: string, value: string, ts = T) => ({
  deviceKey,
  value,
  lastUpdateTime: String(ts),
  objectId: deviceKey.split('_')[0],
});
const mappingsFor = (model: string | null, year: number | null = null) => ({
  mappings: mergeTables(staticTables(model, year)),
});

describe('VinFast alias catalog', () => {
  it('reads the community alias map', () => {
    expect(aliasCount).toBeGreaterThan(2000);
    expect(aliasName('34183_00001_00009')).toBe('VEHICLE_STATUS_HV_BATTERY_SOC');
    expect(aliasName('6_00001_00000')).toBe('LOCATION_LATITUDE');
  });

  it.each([
    ['34183_00001_00009', '34183_00001_00009'],
    ['34183/1/9', '34183_00001_00009'],
    ['/34183/1/9', '34183_00001_00009'],
    ['34183_1_9', '34183_00001_00009'],
    ['6/1/0', '6_00001_00000'],
    ['34183-1-9', null],
    ['battery', null],
    [42, null],
  ])('normalises device key %j', (input, expected) => {
    expect(normalizeDeviceKey(input)).toBe(expected);
  });

  it('falls back to the alias-map keys, and the VF9 table replaces the keys its dictionary validated', () => {
    const fallback = mergeTables(staticTables('VF8', 2024));
    const vf9 = mergeTables(staticTables('vf 9', 2024));
    expect(fallback.get('34183_00001_00010')?.canonical).toBe('ignition');
    expect(fallback.get('34183_00001_00058')).toBeUndefined();
    expect(vf9.get('34183_00001_00058')?.canonical).toBe('ignition');
    expect(vf9.get('34183_00001_00010')).toBeUndefined();
    expect(vf9.get('34183_00001_00009')?.canonical).toBe('battery_level_pct');
  });

  it('lets later tables (the alias registry) override and extend the static ones', () => {
    const merged = mergeTables([
      ...staticTables('VF8', null),
      {
        '34183_00001_00009': { canonical: 'usable_battery_level_pct' },
        '34220_00001_00099': { canonical: 'power_kw', scale: 0.001 },
      },
    ]);
    expect(merged.get('34183_00001_00009')?.canonical).toBe('usable_battery_level_pct');
    expect(merged.get('34220_00001_00099')).toEqual({ canonical: 'power_kw', scale: 0.001 });
  });

  it('every mapped canonical key is a catalog metric or a position field with a unit', () => {
    for (const model of [null, 'VF9']) {
      for (const mapping of mergeTables(staticTables(model, null)).values()) {
        expect(canonicalUnit(mapping.canonical), mapping.canonical).not.toBeNull();
      }
    }
  });
});

describe('VinFast decoder', () => {
  it('maps known keys to metrics and position and keeps every key raw', () => {
    const result = decodeVinfast(
      [
        rec('34183_00001_00009', '80'),
        rec('34183_00001_00011', '364'),
        rec('34183_00001_00003', '43177.297'),
        rec('34183_00001_00010', '1'),
        rec('34183_00001_00001', 'P'),
        rec('34183_00001_00016', '2.4'),
        rec('34183_00001_00017', '245'),
        rec('6_00001_00000', '21.0285'),
        rec('6_00001_00001', '105.8542'),
        rec('6_00001_00011', '90'),
        rec('34180_00001_00001', 'RLLV00000000001'),
        rec('99999_00001_00001', 'mystery'),
      ],
      mappingsFor('VF8'),
    );
    expect(result.deadLetters).toEqual([]);
    expect(result.messages).toHaveLength(1);
    const [message] = result.messages;
    expect(message).toMatchObject({
      ts: T,
      metrics: {
        battery_level_pct: 80,
        range_km: 364,
        odometer_km: 43177.297,
        ignition: true,
        gear: 'P',
        tyre_pressure_fl_kpa: 240,
        tyre_pressure_fr_kpa: 245,
      },
      position: { lat: 21.0285, lon: 105.8542, heading_deg: 90 },
    });
    expect(Object.keys(message!.raw!)).toHaveLength(12);
    expect(message!.raw).toMatchObject({
      '34183_00001_00009': 80,
      '34180_00001_00001': 'RLLV00000000001',
      '99999_00001_00001': 'mystery',
    });
  });

  it('takes `timestamp` where a record has no `lastUpdateTime`', () => {
    const result = decodeVinfast(
      [{ deviceKey: '34183_00001_00009', value: '80', timestamp: T }],
      mappingsFor('VF8'),
    );
    expect(result.deadLetters).toEqual([]);
    expect(result.messages).toMatchObject([{ ts: T, metrics: { battery_level_pct: 80 } }]);
  });

  it('reads the same key per model: ignition on a VF9 comes from 34183/1/58', () => {
    const push = [rec('34183_00001_00010', '0'), rec('34183_00001_00058', '1')];
    expect(decodeVinfast(push, mappingsFor('VF9')).messages[0]?.metrics).toEqual({ ignition: true });
    expect(decodeVinfast(push, mappingsFor('VF8')).messages[0]?.metrics).toEqual({ ignition: false });
  });

  it('leaves numeric gear codes raw (their meaning is not published)', () => {
    const [message] = decodeVinfast([rec('34183_00001_00001', '1')], mappingsFor(null)).messages;
    expect(message?.metrics).toBeUndefined();
    expect(message?.raw).toEqual({ '34183_00001_00001': 1 });
  });

  it('groups records by lastUpdateTime, each group with a seq from its key set', () => {
    const push = [
      rec('34183_00001_00009', '80', T),
      rec('34183_00001_00011', '300', T + 1000),
      rec('99_00001_00001', 'x', T),
    ];
    const first = decodeVinfast(push, mappingsFor(null));
    expect(first.messages.map((m) => [m.ts, Object.keys(m.raw!)])).toEqual([
      [T, ['34183_00001_00009', '99_00001_00001']],
      [T + 1000, ['34183_00001_00011']],
    ]);
    // A redelivery yields the same (ts, seq) keys, so it de-duplicates; another key set at T does not.
    expect(decodeVinfast(push, mappingsFor(null)).messages.map((m) => m.seq)).toEqual(
      first.messages.map((m) => m.seq),
    );
    const other = decodeVinfast([rec('34183_00001_00009', '80', T)], mappingsFor(null)).messages[0];
    expect(other?.seq).not.toBe(first.messages[0]?.seq);
    for (const m of first.messages) expect(m.seq).toBeLessThanOrEqual(2_147_483_647);
  });

  it('accepts "34183/1/9" keys, objectId/instanceId/resourceId records and a {data: [...]} envelope', () => {
    const result = decodeVinfast(
      JSON.stringify({
        data: [
          { deviceKey: '34183/1/9', value: '55', lastUpdateTime: T },
          { objectId: '34183', instanceId: '1', resourceId: '11', value: '200', lastUpdateTime: String(T) },
        ],
      }),
      mappingsFor(null),
    );
    expect(result.messages[0]?.metrics).toEqual({ battery_level_pct: 55, range_km: 200 });
  });

  it('applies a scale from the registry', () => {
    const mappings = mergeTables([{ '34220_00001_00099': { canonical: 'power_kw', scale: 0.001 } }]);
    expect(decodeVinfast([rec('34220_00001_00099', '-12500')], { mappings }).messages[0]?.metrics).toEqual({
      power_kw: -12.5,
    });
  });

  it('keeps the good records and dead-letters the bad ones by field; an implausible value stays raw only', () => {
    const bad = [
      { deviceKey: 'battery', value: '1', lastUpdateTime: String(T) },
      { deviceKey: '34183_00001_00009', value: '80', lastUpdateTime: 'yesterday' },
      { deviceKey: '34183_00001_00009', value: { nested: 1 }, lastUpdateTime: String(T) },
      'nonsense',
    ];
    const result = decodeVinfast(
      [
        rec('34183_00001_00011', '364'),
        ...bad,
        rec('34183_00001_00009', '180'),
        rec('34183_00001_00010', 'maybe'),
        rec('34183_00001_00003', 'far'),
      ],
      mappingsFor(null),
    );
    expect(result.deadLetters.map((d) => d.reason)).toEqual([
      'vinfast: deviceKey is missing or not like "34183_00001_00009"',
      'vinfast: lastUpdateTime of 34183_00001_00009 is not epoch milliseconds',
      'vinfast: value of 34183_00001_00009 is not a string, number or boolean',
      'vinfast: record is not an object',
      'vinfast: 34183_00001_00009 → battery_level_pct: 180 is above the plausible maximum 100',
      'vinfast: 34183_00001_00010 (ignition) "maybe" is not 0 or 1',
      'vinfast: 34183_00001_00003 (odometer_km) "far" is not a number',
    ]);
    expect(result.messages).toHaveLength(1);
    expect(result.messages[0]?.metrics).toEqual({ range_km: 364 });
    expect(result.messages[0]?.raw).toMatchObject({ '34183_00001_00009': 180, '34183_00001_00010': 'maybe' });
  });

  it.each([
    ['{not json', 'vinfast: payload is not JSON'],
    [{ deviceKey: '34183_00001_00009' }, 'vinfast: payload is not an array of records'],
  ])('dead-letters payload %j', (payload, reason) => {
    expect(decodeVinfast(payload, mappingsFor(null)).deadLetters.map((d) => d.reason)).toEqual([reason]);
  });

  it('needs both coordinates of one instant for a position', () => {
    const [message] = decodeVinfast([rec('6_00001_00000', '21.0')], mappingsFor(null)).messages;
    expect(message?.position).toBeUndefined();
    expect(message?.raw).toEqual({ '6_00001_00000': 21 });
  });
});
