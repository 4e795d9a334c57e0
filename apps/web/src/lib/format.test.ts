import { describe, expect, it } from 'vitest';
import { formatDuration, formatRelative, formatValue, humanizeKey, unitOf } from './format.js';

describe('formatting for people', () => {
  it('always shows units with a precision that suits them', () => {
    expect(formatValue(80.4, 'pct')).toBe('80 %');
    expect(formatValue(12.345, 'kw')).toBe('12.3 kW');
    expect(formatValue(88.6, 'kmh')).toBe('89 km/h');
    expect(formatValue(12.6, 'v')).toBe('12.60 V');
    expect(formatValue(null, 'kw')).toBe('—');
    expect(formatValue(true)).toBe('yes');
    expect(formatValue('not_charging')).toBe('not charging');
  });

  it('reads the unit from a canonical key and labels it', () => {
    expect(unitOf('speed_kmh')).toBe('kmh');
    expect(unitOf('tyre_pressure_fl_kpa')).toBe('kpa');
    expect(unitOf('charging_state')).toBeNull();
    expect(humanizeKey('battery_level_pct')).toBe('Battery level');
    expect(humanizeKey('gear')).toBe('Gear');
  });

  it('says how long ago in words and durations in units', () => {
    const now = 1_700_000_000_000;
    expect(formatRelative(now - 3000, now)).toBe('just now');
    expect(formatRelative(now - 5 * 60_000, now)).toBe('5 minutes ago');
    expect(formatRelative(null, now)).toBe('never');
    expect(formatDuration(42_000)).toBe('42 s');
    expect(formatDuration(65 * 60_000)).toBe('1 h 5 min');
  });
});
