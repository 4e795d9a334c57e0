import {
  DEFAULT_UNIT_PREFERENCES,
  differenceToCanonical,
  differenceToPreferred,
  preferredUnit,
  toCanonical,
  toPreferred,
  type UnitPreferences,
} from '@tacho/protocol';

/**
 * The units the signed-in user reads values in (Settings → Profile, stored on the server). Data stays in
 * the canonical units (km, km/h, °C, kPa); only what the dashboard shows is converted, with the one
 * conversion table the server's exports also use (packages/protocol, units.ts).
 */
let current: UnitPreferences = { ...DEFAULT_UNIT_PREFERENCES };

export function setDisplayUnits(preferences: UnitPreferences): void {
  current = { ...preferences };
}

export function displayUnits(): UnitPreferences {
  return current;
}

/** A value in a canonical unit (`km`, `kmh`, `c`, `kpa`) as the user reads it, with its display unit code. */
export function toDisplay(value: number, unit: string | null): { value: number; unit: string | null } {
  return toPreferred(value, unit, current);
}

/** The unit code the user reads a canonical unit in (`kmh` → `mph`). */
export function displayUnitOf(unit: string | null): string | null {
  return preferredUnit(unit, current);
}

/** A value the user typed in their units, in the canonical `unit` the server stores. */
export function fromDisplay(value: number, unit: string | null): number {
  return toCanonical(value, preferredUnit(unit, current));
}

/** A difference (hysteresis) in the user's units, and back. */
export function differenceToDisplay(value: number, unit: string | null): number {
  return differenceToPreferred(value, unit, current);
}

export function differenceFromDisplay(value: number, unit: string | null): number {
  return differenceToCanonical(value, preferredUnit(unit, current));
}
