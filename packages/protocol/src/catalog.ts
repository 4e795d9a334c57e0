/**
 * The canonical metric catalog: every metric Tacho understands, with its unit, type and the range a real
 * vehicle can plausibly report. Units are part of the key (`speed_kmh`), so a value never travels without
 * its unit. Decoders map device keys onto these keys; values outside the range are refused at ingestion
 * (a sensor glitch such as 6553.5 °C must not reach charts, sessions or alerts).
 */
export type MetricType = 'number' | 'string' | 'boolean' | 'enum';

export interface MetricDefinition {
  readonly key: string;
  /** Unit symbol for display; empty for unitless values. */
  readonly unit: string;
  readonly type: MetricType;
  /** Inclusive plausible range for numbers. */
  readonly min?: number;
  readonly max?: number;
  /** The allowed values of an enum. */
  readonly values?: readonly string[];
  /** True when the value only grows (odometer, energy counters): charts and sessions may difference it. */
  readonly counter?: boolean;
  readonly label: string;
}

function num(key: string, unit: string, min: number, max: number, label: string): MetricDefinition {
  return { key, unit, type: 'number', min, max, label };
}

function counter(key: string, unit: string, max: number, label: string): MetricDefinition {
  return { key, unit, type: 'number', min: 0, max, counter: true, label };
}

export const CHARGING_STATES = [
  'disconnected',
  'connected',
  'charging',
  'complete',
  'stopped',
  'error',
] as const;
export type ChargingState = (typeof CHARGING_STATES)[number];

export const GEARS = ['P', 'R', 'N', 'D', 'B', 'S', '1', '2', '3', '4', '5', '6', '7', '8'] as const;

const definitions: readonly MetricDefinition[] = [
  // Energy and range
  num('battery_level_pct', '%', 0, 100, 'Battery level'),
  num('usable_battery_level_pct', '%', 0, 100, 'Usable battery level'),
  num('range_km', 'km', 0, 2000, 'Range'),
  num('ideal_range_km', 'km', 0, 2000, 'Ideal range'),
  num('battery_capacity_kwh', 'kWh', 0, 300, 'Battery capacity'),
  counter('energy_used_kwh', 'kWh', 10_000_000, 'Energy used (lifetime)'),
  counter('energy_regen_kwh', 'kWh', 10_000_000, 'Energy regenerated (lifetime)'),
  counter('energy_charged_kwh', 'kWh', 10_000_000, 'Energy charged (lifetime)'),
  num('power_kw', 'kW', -1000, 1000, 'Power (negative = regeneration)'),
  num('battery_voltage_v', 'V', 0, 1200, 'Traction battery voltage'),
  num('battery_current_a', 'A', -2000, 2000, 'Traction battery current'),
  num('battery_soh_pct', '%', 0, 100, 'Battery state of health'),
  num('battery_12v_v', 'V', 0, 32, '12 V battery voltage'),
  num('fuel_level_pct', '%', 0, 100, 'Fuel level'),
  num('fuel_rate_lph', 'L/h', 0, 200, 'Fuel rate'),
  // Charging
  {
    key: 'charging_state',
    unit: '',
    type: 'enum',
    values: CHARGING_STATES,
    label: 'Charging state',
  },
  num('charge_limit_pct', '%', 0, 100, 'Charge limit'),
  num('charger_power_kw', 'kW', 0, 1000, 'Charger power'),
  num('charger_voltage_v', 'V', 0, 1200, 'Charger voltage'),
  num('charger_current_a', 'A', 0, 1000, 'Charger current'),
  num('charge_energy_added_kwh', 'kWh', 0, 300, 'Energy added this charge'),
  num('time_to_full_charge_min', 'min', 0, 10_000, 'Time to full charge'),
  { key: 'charge_port_open', unit: '', type: 'boolean', label: 'Charge port open' },
  // Motion and position
  num('speed_kmh', 'km/h', 0, 500, 'Speed'),
  counter('odometer_km', 'km', 5_000_000, 'Odometer'),
  num('heading_deg', '°', 0, 360, 'Heading'),
  num('elevation_m', 'm', -500, 9000, 'Elevation'),
  num('engine_rpm', 'rpm', 0, 20_000, 'Engine speed'),
  num('motor_rpm', 'rpm', -30_000, 30_000, 'Motor speed'),
  { key: 'gear', unit: '', type: 'enum', values: GEARS, label: 'Gear' },
  { key: 'ignition', unit: '', type: 'boolean', label: 'Ignition on' },
  { key: 'locked', unit: '', type: 'boolean', label: 'Locked' },
  { key: 'sentry_mode', unit: '', type: 'boolean', label: 'Sentry mode' },
  num('throttle_pct', '%', 0, 100, 'Throttle position'),
  num('brake_pedal_pct', '%', 0, 100, 'Brake pedal'),
  num('engine_load_pct', '%', 0, 100, 'Engine load'),
  num('maf_gs', 'g/s', 0, 700, 'Mass air flow'),
  num('intake_pressure_kpa', 'kPa', 0, 400, 'Intake manifold pressure'),
  num('timing_advance_deg', '°', -64, 64, 'Timing advance'),
  // Temperatures
  num('outside_temp_c', '°C', -60, 70, 'Outside temperature'),
  num('inside_temp_c', '°C', -60, 90, 'Inside temperature'),
  num('coolant_temp_c', '°C', -40, 215, 'Coolant temperature'),
  num('battery_temp_c', '°C', -40, 100, 'Battery temperature'),
  num('intake_air_temp_c', '°C', -40, 215, 'Intake air temperature'),
  num('oil_temp_c', '°C', -40, 215, 'Oil temperature'),
  num('motor_temp_c', '°C', -40, 200, 'Motor temperature'),
  num('climate_target_temp_c', '°C', 10, 35, 'Climate target temperature'),
  { key: 'climate_on', unit: '', type: 'boolean', label: 'Climate on' },
  // Tyres
  num('tyre_pressure_fl_kpa', 'kPa', 0, 1000, 'Tyre pressure front left'),
  num('tyre_pressure_fr_kpa', 'kPa', 0, 1000, 'Tyre pressure front right'),
  num('tyre_pressure_rl_kpa', 'kPa', 0, 1000, 'Tyre pressure rear left'),
  num('tyre_pressure_rr_kpa', 'kPa', 0, 1000, 'Tyre pressure rear right'),
  // Device and connectivity
  num('signal_strength_dbm', 'dBm', -150, 0, 'Signal strength'),
  num('satellites', '', 0, 100, 'GNSS satellites'),
  num('device_battery_pct', '%', 0, 100, 'Tracker battery'),
  { key: 'software_version', unit: '', type: 'string', label: 'Software version' },
];

/** The catalog, by key. */
export const metricCatalog: ReadonlyMap<string, MetricDefinition> = new Map(
  definitions.map((d) => [d.key, Object.freeze(d)]),
);

/** All keys, in catalog order (for pickers and documentation). */
export const metricKeys: readonly string[] = definitions.map((d) => d.key);

/** Longest string a `string` metric may hold; longer text is not telemetry. */
export const MAX_METRIC_STRING_LENGTH = 256;

/**
 * Checks one value against the catalog. Returns null when it is acceptable, otherwise the reason, naming
 * the key (`metrics.speed_kmh: 900 is above the plausible maximum 500`).
 */
export function checkMetric(key: string, value: unknown): string | null {
  const def = metricCatalog.get(key);
  if (!def) return `metrics.${key}: not a catalog metric (send device keys in "raw")`;
  switch (def.type) {
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value))
        return `metrics.${key}: must be a finite number`;
      if (def.min !== undefined && value < def.min)
        return `metrics.${key}: ${value} is below the plausible minimum ${def.min}`;
      if (def.max !== undefined && value > def.max)
        return `metrics.${key}: ${value} is above the plausible maximum ${def.max}`;
      return null;
    case 'boolean':
      return typeof value === 'boolean' ? null : `metrics.${key}: must be true or false`;
    case 'string':
      if (typeof value !== 'string') return `metrics.${key}: must be a string`;
      return value.length <= MAX_METRIC_STRING_LENGTH
        ? null
        : `metrics.${key}: longer than ${MAX_METRIC_STRING_LENGTH} characters`;
    case 'enum':
      return typeof value === 'string' && def.values?.includes(value)
        ? null
        : `metrics.${key}: must be one of ${def.values?.join(', ')}`;
  }
}
