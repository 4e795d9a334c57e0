import aliasMap from './static_alias_map.json' with { type: 'json' };

/**
 * The VinFast alias catalog: which device key (`34183_00001_00009`) means which canonical metric, per
 * model and year with a fallback. Names come from the community alias map (static_alias_map.json, MIT,
 * see SOURCE.md); canonical mappings follow the same project's data dictionary.
 */

/** How one device key becomes a canonical value. */
export interface AliasMapping {
  /** A catalog metric (`battery_level_pct`) or a position field (`position.lat`, `position.heading_deg`). */
  readonly canonical: string;
  /** Multiplies the device's number into the canonical unit (e.g. 100 for bar → kPa). */
  readonly scale?: number;
  /**
   * `bool01`: "1"/"0" (or true/false) → boolean.
   * `gear`: only letter gears (P, R, N, D, B, S); the numeric codes some cars send ("1" where the app shows
   * P) have no published meaning, so they stay raw.
   * `tyre_pressure`: bar when ≤ 10, kPa above (upstream is unsure which the car sends; no tyre runs at
   * 10 kPa or 11 bar, so the magnitude tells).
   */
  readonly convert?: 'bool01' | 'gear' | 'tyre_pressure';
  /** Unit the device sends, for people reading the deep scan. */
  readonly deviceUnit?: string;
}

/** `null` removes a fallback mapping for that model (its key means something else there, or is stale). */
export type MappingTable = Readonly<Record<string, AliasMapping | null>>;

/** `34183/1/9`, `/34183/1/9`, `34183_1_9` or `34183_00001_00009` → `34183_00001_00009`; null otherwise. */
export function normalizeDeviceKey(key: unknown): string | null {
  if (typeof key !== 'string') return null;
  const m = /^\/?(\d{1,6})[/_](\d{1,5})[/_](\d{1,5})$/.exec(key.trim());
  if (!m) return null;
  return `${Number(m[1])}_${m[2]!.padStart(5, '0')}_${m[3]!.padStart(5, '0')}`;
}

const namesByKey = new Map<string, string>();
for (const [name, ids] of Object.entries(aliasMap as Record<string, Record<string, string>>)) {
  const key = normalizeDeviceKey(`${ids.objectId}/${ids.instanceId}/${ids.resourceId}`);
  if (key && !namesByKey.has(key)) namesByKey.set(key, name);
}

/** The community alias name of a device key (`VEHICLE_STATUS_HV_BATTERY_SOC`), when known. */
export function aliasName(deviceKey: string): string | undefined {
  return namesByKey.get(deviceKey);
}

/** Number of device keys the static alias map names. */
export const aliasCount = namesByKey.size;

const k = (path: string): string => normalizeDeviceKey(path)!;

/** Mappings that hold for every model unless a model table overrides them (alias-map resource ids). */
const FALLBACK: MappingTable = {
  [k('34183/1/2')]: { canonical: 'speed_kmh', deviceUnit: 'km/h' }, // VEHICLE_STATUS_VEHICLE_SPEED
  [k('34183/1/1')]: { canonical: 'gear', convert: 'gear' }, // VEHICLE_STATUS_GEAR_POSITION
  [k('34183/1/3')]: { canonical: 'odometer_km', deviceUnit: 'km' }, // VEHICLE_STATUS_ODOMETER
  [k('34183/1/7')]: { canonical: 'outside_temp_c', deviceUnit: '°C' }, // VEHICLE_STATUS_AMBIENT_TEMPERATURE
  [k('34183/1/9')]: { canonical: 'battery_level_pct', deviceUnit: '%' }, // VEHICLE_STATUS_HV_BATTERY_SOC
  [k('34183/1/10')]: { canonical: 'ignition', convert: 'bool01' }, // VEHICLE_STATUS_IGNITION_STATUS
  [k('34183/1/11')]: { canonical: 'range_km', deviceUnit: 'km' }, // VEHICLE_STATUS_REMAINING_DISTANCE
  [k('34183/1/14')]: { canonical: 'locked', convert: 'bool01' }, // VEHICLE_STATUS_CENTRAL_LOCK_STATUS
  [k('34183/1/15')]: { canonical: 'inside_temp_c', deviceUnit: '°C' }, // VEHICLE_STATUS_INTERIOR_TEMPERATURE
  [k('34183/1/16')]: { canonical: 'tyre_pressure_fl_kpa', convert: 'tyre_pressure', deviceUnit: 'bar|kPa' },
  [k('34183/1/17')]: { canonical: 'tyre_pressure_fr_kpa', convert: 'tyre_pressure', deviceUnit: 'bar|kPa' },
  [k('34183/1/18')]: { canonical: 'tyre_pressure_rl_kpa', convert: 'tyre_pressure', deviceUnit: 'bar|kPa' },
  [k('34183/1/19')]: { canonical: 'tyre_pressure_rr_kpa', convert: 'tyre_pressure', deviceUnit: 'bar|kPa' },
  [k('34193/1/7')]: { canonical: 'time_to_full_charge_min', deviceUnit: 'min' }, // CHARGING_REMAINING_TIME
  [k('34193/1/19')]: { canonical: 'charge_limit_pct', deviceUnit: '%' }, // CHARGE_CONTROL_CURRENT_TARGET_SOC
  [k('34199/1/16')]: { canonical: 'climate_on', convert: 'bool01' }, // CLIMATE_CONTROL_AC_CONTROL_STATUS
  [k('34220/1/1')]: { canonical: 'battery_soh_pct', deviceUnit: '%' }, // BMS_STATUS_STATE_OF_HEALTH
  [k('6/1/0')]: { canonical: 'position.lat', deviceUnit: '°' }, // LOCATION_LATITUDE
  [k('6/1/1')]: { canonical: 'position.lon', deviceUnit: '°' }, // LOCATION_LONGITUDE
  [k('6/1/2')]: { canonical: 'position.alt_m', deviceUnit: 'm' }, // LOCATION_ALTITUDE
  [k('6/1/11')]: { canonical: 'position.heading_deg', deviceUnit: '°' }, // LOCATION_BEARING_DEGREE
};

/**
 * Per-model differences. The VF9 table follows the data dictionary validated on a VF9, which reads
 * ignition, cabin temperature and the central lock from other resources than the alias map names; the
 * alias-map keys are dropped there so two sources cannot fight over one metric.
 * Keys: `<MODEL>` or `<MODEL>@<year>` (upper case); the more specific table wins.
 */
const MODELS: Readonly<Record<string, MappingTable>> = {
  VF9: {
    [k('34183/1/58')]: { canonical: 'ignition', convert: 'bool01' },
    [k('34183/1/10')]: null,
    [k('34183/1/56')]: { canonical: 'inside_temp_c', deviceUnit: '°C' },
    [k('34183/1/15')]: null,
    [k('34183/1/81')]: { canonical: 'locked', convert: 'bool01' },
    [k('34183/1/14')]: null,
  },
};

/** The static tables that apply to a model and year, least specific first. */
export function staticTables(model: string | null, year: number | null): MappingTable[] {
  const tables: MappingTable[] = [FALLBACK];
  const m = model?.trim().toUpperCase().replace(/\s+/g, '');
  if (m) {
    const byModel = MODELS[m];
    if (byModel) tables.push(byModel);
    const byYear = year ? MODELS[`${m}@${year}`] : undefined;
    if (byYear) tables.push(byYear);
  }
  return tables;
}

/** Merges tables in order (later wins) into one lookup; `null` entries remove a mapping. */
export function mergeTables(tables: Iterable<MappingTable>): ReadonlyMap<string, AliasMapping> {
  const merged = new Map<string, AliasMapping>();
  for (const table of tables) {
    for (const [key, mapping] of Object.entries(table)) {
      if (mapping === null) merged.delete(key);
      else merged.set(key, mapping);
    }
  }
  return merged;
}
