import { describe, expect, it } from 'vitest';
import { DEFAULT_UNIT_PREFERENCES, type UnitPreferences } from './auth.js';
import { metricKeys } from './catalog.js';
import {
  canonicalKeyOf,
  differenceToCanonical,
  differenceToPreferred,
  preferredKey,
  toCanonical,
  toPreferred,
  UNIT_CONVERSIONS,
} from './units.js';

const imperial: UnitPreferences = { distance: 'mi', temperature: 'f', pressure: 'psi' };
const bar: UnitPreferences = { distance: 'km', temperature: 'c', pressure: 'bar' };

describe('the unit conversion table', () => {
  it('converts to the known reference values', () => {
    expect(toPreferred(160.9344, 'km', imperial)).toEqual({ value: 100, unit: 'mi' });
    expect(toPreferred(100, 'kmh', imperial).unit).toBe('mph');
    expect(toPreferred(100, 'kmh', imperial).value).toBeCloseTo(62.137119, 6);
    expect(toPreferred(100, 'c', imperial)).toEqual({ value: 212, unit: 'f' });
    expect(toPreferred(-40, 'c', imperial)).toEqual({ value: -40, unit: 'f' });
    expect(toPreferred(250, 'kpa', imperial).value).toBeCloseTo(36.259, 3);
    expect(toPreferred(250, 'kpa', bar)).toEqual({ value: 2.5, unit: 'bar' });
  });

  it('leaves canonical preferences and other units alone', () => {
    expect(toPreferred(42, 'km', DEFAULT_UNIT_PREFERENCES)).toEqual({ value: 42, unit: 'km' });
    expect(toPreferred(80, 'pct', imperial)).toEqual({ value: 80, unit: 'pct' });
    expect(toPreferred(3, null, imperial)).toEqual({ value: 3, unit: null });
    expect(toCanonical(80, 'pct')).toBe(80);
  });

  it('round-trips every conversion, values and differences', () => {
    for (const [unit, c] of Object.entries(UNIT_CONVERSIONS)) {
      const prefs: UnitPreferences = {
        distance: unit === 'mi' || unit === 'mph' ? 'mi' : 'km',
        temperature: unit === 'f' ? 'f' : 'c',
        pressure: unit === 'bar' || unit === 'psi' ? unit : 'kpa',
      };
      for (const value of [-40, 0, 0.1, 1, 21.5, 100, 250, 123_456.789]) {
        const shown = toPreferred(value, c.canonical, prefs);
        expect(shown.unit).toBe(unit);
        expect(toCanonical(shown.value, unit)).toBeCloseTo(value, 9);
        expect(differenceToCanonical(differenceToPreferred(value, c.canonical, prefs), unit)).toBeCloseTo(
          value,
          9,
        );
      }
    }
    // A difference has no offset: 2 °C apart is 3.6 °F apart.
    expect(differenceToPreferred(2, 'c', imperial)).toBeCloseTo(3.6, 9);
    expect(toCanonical(68, 'f')).toBeCloseTo(20, 9);
  });

  it('renames keys by their unit and back, for every convertible catalog metric', () => {
    expect(preferredKey('speed_kmh', imperial)).toBe('speed_mph');
    expect(preferredKey('outside_temp_c', imperial)).toBe('outside_temp_f');
    expect(preferredKey('tyre_pressure_fl_kpa', imperial)).toBe('tyre_pressure_fl_psi');
    expect(preferredKey('odometer_km', bar)).toBe('odometer_km');
    expect(preferredKey('tyre_pressure_fl_kpa', bar)).toBe('tyre_pressure_fl_bar');
    expect(preferredKey('battery_level_pct', imperial)).toBe('battery_level_pct');
    expect(canonicalKeyOf('speed_mph')).toEqual({ key: 'speed_kmh', unit: 'mph' });
    expect(canonicalKeyOf('speed_kmh')).toBeNull();
    expect(canonicalKeyOf('f')).toBeNull();
    for (const key of metricKeys)
      for (const prefs of [imperial, bar]) {
        const named = preferredKey(key, prefs);
        expect(named === key ? key : canonicalKeyOf(named)?.key).toBe(key);
      }
  });
});
