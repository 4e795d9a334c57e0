import type { UnitPreferences } from './auth.js';

/**
 * The one unit conversion table of Tacho: what the dashboard shows and what CSV exports write in a
 * user's units (km → mi, km/h → mph, °C → °F, kPa → bar or psi), and back when a value typed in those
 * units is stored (alert thresholds, a CSV re-import). Stored data stays in the canonical units. Units
 * are the suffixes of metric keys (`speed_kmh`, `outside_temp_c`, `tyre_pressure_fl_kpa`).
 */

/** The canonical units a preference changes. */
export type CanonicalUnit = 'km' | 'kmh' | 'c' | 'kpa';
/** The other units a user may read them in. */
export type PreferredUnit = 'mi' | 'mph' | 'f' | 'bar' | 'psi';

/** One conversion: `shown = canonical × scale + offset` (differences such as hysteresis: × scale only). */
export interface UnitConversion {
  readonly canonical: CanonicalUnit;
  readonly scale: number;
  readonly offset: number;
}

/** 1 mi = 1.609344 km exactly (international mile, 1959). */
export const KM_PER_MI = 1.609344;
/** 1 psi = 6.894757293168361 kPa (1 lbf/in², from the exact pound and inch). */
export const KPA_PER_PSI = 6.894757293168361;

export const UNIT_CONVERSIONS: Readonly<Record<PreferredUnit, UnitConversion>> = {
  mi: { canonical: 'km', scale: 1 / KM_PER_MI, offset: 0 },
  mph: { canonical: 'kmh', scale: 1 / KM_PER_MI, offset: 0 },
  f: { canonical: 'c', scale: 9 / 5, offset: 32 },
  bar: { canonical: 'kpa', scale: 1 / 100, offset: 0 },
  psi: { canonical: 'kpa', scale: 1 / KPA_PER_PSI, offset: 0 },
};

const CANONICAL_UNITS = new Set<string>(['km', 'kmh', 'c', 'kpa']);

function isPreferredUnit(unit: string | null | undefined): unit is PreferredUnit {
  return unit != null && Object.hasOwn(UNIT_CONVERSIONS, unit);
}

/** The unit a user reads a canonical unit in (`kmh` → `mph` for miles); other units stay as they are. */
export function preferredUnit(unit: string | null, preferences: UnitPreferences): string | null {
  switch (unit) {
    case 'km':
      return preferences.distance === 'mi' ? 'mi' : unit;
    case 'kmh':
      return preferences.distance === 'mi' ? 'mph' : unit;
    case 'c':
      return preferences.temperature === 'f' ? 'f' : unit;
    case 'kpa':
      return preferences.pressure === 'kpa' ? unit : preferences.pressure;
    default:
      return unit;
  }
}

/** A value in a canonical unit as the user reads it, with the unit it is then in. */
export function toPreferred(
  value: number,
  unit: string | null,
  preferences: UnitPreferences,
): { value: number; unit: string | null } {
  const shown = preferredUnit(unit, preferences);
  if (!isPreferredUnit(shown)) return { value, unit };
  const c = UNIT_CONVERSIONS[shown];
  return { value: value * c.scale + c.offset, unit: shown };
}

/** A value typed in `unit` (`mph`, `f`, `psi`, … or a canonical one) in its canonical unit. */
export function toCanonical(value: number, unit: string | null): number {
  if (!isPreferredUnit(unit)) return value;
  const c = UNIT_CONVERSIONS[unit];
  return (value - c.offset) / c.scale;
}

/** A difference (hysteresis, a delta) as the user reads it: 2 °C of difference is 3.6 °F, not 35.6 °F. */
export function differenceToPreferred(
  value: number,
  unit: string | null,
  preferences: UnitPreferences,
): number {
  const shown = preferredUnit(unit, preferences);
  return isPreferredUnit(shown) ? value * UNIT_CONVERSIONS[shown].scale : value;
}

/** A difference typed in `unit` in its canonical unit. */
export function differenceToCanonical(value: number, unit: string | null): number {
  return isPreferredUnit(unit) ? value / UNIT_CONVERSIONS[unit].scale : value;
}

/** The unit a metric key ends in, when a preference may change it (`speed_kmh` → `kmh`), else null. */
export function convertibleUnitOf(key: string): CanonicalUnit | null {
  const suffix = key.slice(key.lastIndexOf('_') + 1);
  return CANONICAL_UNITS.has(suffix) ? (suffix as CanonicalUnit) : null;
}

/** A metric key named in the user's units: `speed_kmh` → `speed_mph`, `outside_temp_c` → `outside_temp_f`. */
export function preferredKey(key: string, preferences: UnitPreferences): string {
  const unit = convertibleUnitOf(key);
  if (!unit) return key;
  return `${key.slice(0, -unit.length)}${preferredUnit(unit, preferences)}`;
}

/**
 * The canonical key of a key named in another unit, and that unit: `speed_mph` → `speed_kmh`, `mph`.
 * Null when the key does not end in a unit of the table; the caller checks the result against the catalog.
 */
export function canonicalKeyOf(key: string): { key: string; unit: PreferredUnit } | null {
  const suffix = key.slice(key.lastIndexOf('_') + 1);
  if (key.indexOf('_') < 0 || !isPreferredUnit(suffix)) return null;
  return { key: `${key.slice(0, -suffix.length)}${UNIT_CONVERSIONS[suffix].canonical}`, unit: suffix };
}
