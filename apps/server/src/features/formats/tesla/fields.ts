import type { ChargingState, MetricValue } from '@tacho/protocol';
import { round, toNumber } from '../decoded.js';

/**
 * Tesla Fleet Telemetry field names (vehicle_data.proto, `enum Field`) mapped to canonical metrics. The
 * values are what fleet-telemetry's MQTT dispatcher publishes (datastore/mqtt/mqtt_payload.go): numbers,
 * or the same as strings on other firmware (`12.3` / `"12.3"`), booleans, enum names (`ShiftStateD`,
 * `DetailedChargeStateCharging`), `{latitude, longitude}` for a location, null when the car says invalid.
 * Units are Tesla's: miles, mph, bar, °C, kW, kWh, hours. Fields not listed are kept raw only.
 */

const MILE_KM = 1.609344;

export interface TeslaField {
  /** The canonical metric, or `position` for Location (lat/lon go to the sample's position). */
  readonly metric: string;
  /** The unit of the value as Tesla sends it, for the deep scan's raw keys. */
  readonly unit: string | null;
  /** Canonical value, or null when the value says nothing (an `Unknown` enum, SNA). */
  convert(value: MetricValue): MetricValue | null;
  /**
   * When two fields of one sample map to one metric, the one with the higher rank wins (BatteryLevel,
   * what the car shows, over Soc).
   */
  readonly rank?: number;
}

function numeric(factor = 1): (value: MetricValue) => number | null {
  return (value) => {
    const n = toNumber(value);
    return n === null ? null : round(n * factor, 4);
  };
}

function boolean(value: MetricValue): boolean | null {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 1 || value === '1') return true;
  if (value === 'false' || value === 0 || value === '0') return false;
  return null;
}

/** The enum name without its type prefix: `ShiftStateD` → `D`, `DetailedChargeStateCharging` → `Charging`. */
function enumName(value: MetricValue, prefix: string): string | null {
  if (typeof value !== 'string') return null;
  const text = value.trim();
  return text.startsWith(prefix) ? text.slice(prefix.length) : text;
}

/** ShiftState: P, R, N, D are the catalog's gears; Invalid, SNA and Unknown say nothing. */
function gear(value: MetricValue): string | null {
  const name = enumName(value, 'ShiftState');
  return name === 'P' || name === 'R' || name === 'N' || name === 'D' ? name : null;
}

const CHARGE_STATES: Readonly<Record<string, ChargingState>> = {
  Disconnected: 'disconnected',
  // Plugged in, no power from the charger.
  NoPower: 'connected',
  // TeslaMate counts Starting as the start of a charge.
  Starting: 'charging',
  Charging: 'charging',
  Complete: 'complete',
  Stopped: 'stopped',
};

function chargeState(prefix: string): (value: MetricValue) => string | null {
  return (value) => {
    const name = enumName(value, prefix);
    return name === null ? null : (CHARGE_STATES[name] ?? null);
  };
}

/** SentryModeState names (newer firmware) or a boolean (older). */
function sentry(value: MetricValue): boolean | null {
  const name = enumName(value, 'SentryModeState');
  if (name === 'Off') return false;
  if (name === 'Idle' || name === 'Armed' || name === 'Aware' || name === 'Panic' || name === 'Quiet')
    return true;
  return boolean(value);
}

function text(value: MetricValue): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
}

const f = (
  metric: string,
  unit: string | null,
  convert: (value: MetricValue) => MetricValue | null,
  rank = 0,
): TeslaField => ({ metric, unit, convert, rank });

export const TESLA_FIELDS: ReadonlyMap<string, TeslaField> = new Map([
  ['BatteryLevel', f('battery_level_pct', '%', numeric(), 1)],
  ['Soc', f('battery_level_pct', '%', numeric())],
  ['RatedRange', f('range_km', 'mi', numeric(MILE_KM), 1)],
  ['EstBatteryRange', f('range_km', 'mi', numeric(MILE_KM))],
  ['IdealBatteryRange', f('ideal_range_km', 'mi', numeric(MILE_KM))],
  ['VehicleSpeed', f('speed_kmh', 'mph', numeric(MILE_KM))],
  ['Odometer', f('odometer_km', 'mi', numeric(MILE_KM))],
  ['Gear', f('gear', null, gear)],
  ['DetailedChargeState', f('charging_state', null, chargeState('DetailedChargeState'), 1)],
  ['ChargeState', f('charging_state', null, chargeState('ChargeState'))],
  // Only one of the two carries power at a time; the larger wins when both come.
  ['DCChargingPower', f('charger_power_kw', 'kW', numeric(), 1)],
  ['ACChargingPower', f('charger_power_kw', 'kW', numeric())],
  ['DCChargingEnergyIn', f('charge_energy_added_kwh', 'kWh', numeric(), 1)],
  ['ACChargingEnergyIn', f('charge_energy_added_kwh', 'kWh', numeric())],
  ['ChargerVoltage', f('charger_voltage_v', 'V', numeric())],
  ['ChargeAmps', f('charger_current_a', 'A', numeric())],
  ['ChargeLimitSoc', f('charge_limit_pct', '%', numeric())],
  ['TimeToFullCharge', f('time_to_full_charge_min', 'h', numeric(60))],
  ['ChargePortDoorOpen', f('charge_port_open', null, boolean)],
  ['PackVoltage', f('battery_voltage_v', 'V', numeric())],
  ['PackCurrent', f('battery_current_a', 'A', numeric())],
  ['LifetimeEnergyUsed', f('energy_used_kwh', 'kWh', numeric())],
  ['LifetimeEnergyGainedRegen', f('energy_regen_kwh', 'kWh', numeric())],
  ['InsideTemp', f('inside_temp_c', '°C', numeric())],
  ['OutsideTemp', f('outside_temp_c', '°C', numeric())],
  ['HvacLeftTemperatureRequest', f('climate_target_temp_c', '°C', numeric())],
  ['TpmsPressureFl', f('tyre_pressure_fl_kpa', 'bar', numeric(100))],
  ['TpmsPressureFr', f('tyre_pressure_fr_kpa', 'bar', numeric(100))],
  ['TpmsPressureRl', f('tyre_pressure_rl_kpa', 'bar', numeric(100))],
  ['TpmsPressureRr', f('tyre_pressure_rr_kpa', 'bar', numeric(100))],
  ['GpsHeading', f('heading_deg', '°', numeric())],
  ['Locked', f('locked', null, boolean)],
  ['SentryMode', f('sentry_mode', null, sentry)],
  ['Version', f('software_version', null, text)],
  ['Location', f('position', '°', () => null)],
]);

/** Fields whose text is kept as text even when it looks like a number (a version `2024`, a name). */
export const TEXT_FIELDS: ReadonlySet<string> = new Set(['Version', 'VehicleName']);
