import { afterEach, describe, expect, it } from 'vitest';
import { formatValue } from './format.js';
import { setDisplayUnits, toDisplay } from './units.js';

describe('display units', () => {
  afterEach(() => setDisplayUnits({ distance: 'km', temperature: 'c', pressure: 'kpa' }));

  it('keeps the canonical units by default', () => {
    expect(toDisplay(100, 'km')).toEqual({ value: 100, unit: 'km' });
    expect(formatValue(21, 'c')).toBe('21.0 °C');
  });

  it('converts distance and speed to miles, temperature to °F, pressure to psi or bar', () => {
    setDisplayUnits({ distance: 'mi', temperature: 'f', pressure: 'psi' });
    expect(toDisplay(160.9344, 'km').value).toBeCloseTo(100, 6);
    expect(toDisplay(100, 'kmh')).toMatchObject({ unit: 'mph' });
    expect(toDisplay(100, 'c')).toEqual({ value: 212, unit: 'f' });
    expect(toDisplay(250, 'kpa').value).toBeCloseTo(36.26, 2);
    expect(formatValue(100, 'kmh')).toBe('62 mph');
    expect(formatValue(0, 'c')).toBe('32.0 °F');
    setDisplayUnits({ distance: 'km', temperature: 'c', pressure: 'bar' });
    expect(formatValue(250, 'kpa')).toBe('2.50 bar');
  });
});
