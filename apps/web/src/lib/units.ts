import { DEFAULT_UNIT_PREFERENCES, type UnitPreferences } from '@tacho/protocol';

/**
 * The units the signed-in user reads values in (Settings → Profile, stored on the server). Data stays in
 * the canonical units (km, km/h, °C, kPa); only what the dashboard shows is converted, here, in one place.
 */
let current: UnitPreferences = { ...DEFAULT_UNIT_PREFERENCES };

export function setDisplayUnits(preferences: UnitPreferences): void {
  current = { ...preferences };
}

export function displayUnits(): UnitPreferences {
  return current;
}

const KM_PER_MI = 1.609344;
const KPA_PER_PSI = 6.894757;

/** A value in a canonical unit (`km`, `kmh`, `c`, `kpa`) as the user reads it, with its display unit code. */
export function toDisplay(value: number, unit: string | null): { value: number; unit: string | null } {
  switch (unit) {
    case 'km':
      return current.distance === 'mi' ? { value: value / KM_PER_MI, unit: 'mi' } : { value, unit };
    case 'kmh':
      return current.distance === 'mi' ? { value: value / KM_PER_MI, unit: 'mph' } : { value, unit };
    case 'c':
      return current.temperature === 'f' ? { value: (value * 9) / 5 + 32, unit: 'f' } : { value, unit };
    case 'kpa':
      if (current.pressure === 'bar') return { value: value / 100, unit: 'bar' };
      if (current.pressure === 'psi') return { value: value / KPA_PER_PSI, unit: 'psi' };
      return { value, unit };
    default:
      return { value, unit };
  }
}
