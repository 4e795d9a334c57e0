import { OBD_METRICS, obdResponse, toObdMessage } from '@tacho/protocol';
import { describe, expect, it } from 'vitest';
import { decodeObdResponse, expandObd } from './obd.js';

/** The simulator's OBD mode (packages/protocol/src/obd.ts) against the server's OBDb-based decoder. */
describe('simulator OBD mode', () => {
  it.each([
    ['speed_kmh', 88, 88],
    ['engine_rpm', 2250.5, 2250.5],
    ['coolant_temp_c', 90, 90],
    ['intake_air_temp_c', -12, -12],
    ['outside_temp_c', 21, 21],
    ['throttle_pct', 50, 50.1961],
    ['engine_load_pct', 100, 100],
    ['fuel_level_pct', 40, 40],
    ['battery_12v_v', 13.8, 13.8],
    ['maf_gs', 12.34, 12.34],
    ['odometer_km', 43177.3, 43177.3],
    ['speed_kmh', 400, null],
  ])('%s %d decodes back to %s', (metric, value, expected) => {
    const r = obdResponse(metric, value)!;
    const decoded = decodeObdResponse(r.pid, r.response);
    expect(decoded.ok).toBe(true);
    // 400 km/h clamps to 255, which J1979 / OBDb read as "not available".
    expect(decoded.ok && (decoded.values[0]?.value ?? null)).toBe(expected);
  });

  it('covers every metric it claims with the canonical metric the decoder maps to', () => {
    for (const metric of OBD_METRICS) {
      const { message } = expandObd(toObdMessage({ ts: 1, metrics: { [metric]: 10 } }));
      expect(Object.keys(message.metrics ?? {}), metric).toEqual([metric]);
    }
  });

  it('moves OBD-expressible metrics into responses and keeps the rest', () => {
    const m = toObdMessage({
      ts: 1,
      metrics: { speed_kmh: 60, battery_level_pct: 70, gear: 'D' },
      position: { lat: 1, lon: 2 },
    });
    expect(m).toEqual({
      ts: 1,
      metrics: { battery_level_pct: 70, gear: 'D' },
      position: { lat: 1, lon: 2 },
      obd: [{ pid: '010D', response: '41 0D 3C' }],
    });
  });
});
