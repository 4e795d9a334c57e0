import type { MetricValue, NativeMessage } from '@tacho/protocol';
import { round, toNumber } from '../formats/decoded.js';

/**
 * Fleet API `vehicle_data` → one native message. Tesla reports distances in miles and speeds in mph
 * whatever the car's display units (`gui_settings` only says how the car shows them), temperatures in °C
 * and tyre pressures in bar. The message's time is the newest of the sections' own `timestamp`s (ms), so
 * polling a car whose data has not changed stores nothing new (samples are unique on vehicle, ts, seq).
 */
const KM_PER_MILE = 1.609344;
const KPA_PER_BAR = 100;

/** Tesla's `charging_state` → the catalog's charging states. */
const CHARGING: Record<string, string> = {
  Disconnected: 'disconnected',
  NoPower: 'connected',
  Starting: 'charging',
  Charging: 'charging',
  Complete: 'complete',
  Stopped: 'stopped',
};

export interface TeslaReading {
  readonly message: NativeMessage | null;
  /** What the poller needs: driving (a gear other than P), charging, and whether the car may sleep. */
  readonly driving: boolean;
  readonly charging: boolean;
  /** Someone is in the car, climate or sentry mode is on: the car will not sleep, so do not wait for it. */
  readonly busy: boolean;
}

function section(data: Record<string, unknown>, name: string): Record<string, unknown> {
  const value = data[name];
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

export function readVehicleData(data: Record<string, unknown>): TeslaReading {
  const charge = section(data, 'charge_state');
  const drive = section(data, 'drive_state');
  const climate = section(data, 'climate_state');
  const vehicle = section(data, 'vehicle_state');
  const metrics: Record<string, MetricValue> = {};
  const raw: Record<string, MetricValue> = {};
  const put = (key: string, value: number | null, digits = 3) => {
    if (value !== null) metrics[key] = round(value, digits);
  };
  const miles = (v: unknown) => {
    const n = toNumber(v);
    return n === null ? null : n * KM_PER_MILE;
  };

  put('battery_level_pct', toNumber(charge.battery_level));
  put('usable_battery_level_pct', toNumber(charge.usable_battery_level));
  put('range_km', miles(charge.battery_range));
  put('ideal_range_km', miles(charge.ideal_battery_range));
  put('charge_limit_pct', toNumber(charge.charge_limit_soc));
  put('charger_power_kw', toNumber(charge.charger_power));
  put('charger_voltage_v', toNumber(charge.charger_voltage));
  put('charger_current_a', toNumber(charge.charger_actual_current));
  put('charge_energy_added_kwh', toNumber(charge.charge_energy_added));
  const toFull = toNumber(charge.time_to_full_charge);
  if (toFull !== null) put('time_to_full_charge_min', toFull * 60, 1);
  if (typeof charge.charge_port_door_open === 'boolean')
    metrics.charge_port_open = charge.charge_port_door_open;
  const chargingState = typeof charge.charging_state === 'string' ? charge.charging_state : null;
  if (chargingState !== null) {
    raw.charging_state = chargingState;
    const mapped = CHARGING[chargingState];
    if (mapped) metrics.charging_state = mapped;
  }

  // A car in P reports shift_state null (TeslaMate reads nil as parked too).
  const shift = typeof drive.shift_state === 'string' ? drive.shift_state : null;
  metrics.gear = shift === 'D' || shift === 'R' || shift === 'N' ? shift : 'P';
  const speedKmh = miles(drive.speed);
  put('speed_kmh', speedKmh === null ? (shift === null || shift === 'P' ? 0 : null) : speedKmh, 2);
  put('power_kw', toNumber(drive.power));
  put('heading_deg', toNumber(drive.heading));
  put('odometer_km', miles(vehicle.odometer));
  if (typeof vehicle.locked === 'boolean') metrics.locked = vehicle.locked;
  if (typeof vehicle.sentry_mode === 'boolean') metrics.sentry_mode = vehicle.sentry_mode;
  if (typeof vehicle.car_version === 'string' && vehicle.car_version !== '')
    metrics.software_version = vehicle.car_version.slice(0, 64);
  for (const [tesla, key] of [
    ['tpms_pressure_fl', 'tyre_pressure_fl_kpa'],
    ['tpms_pressure_fr', 'tyre_pressure_fr_kpa'],
    ['tpms_pressure_rl', 'tyre_pressure_rl_kpa'],
    ['tpms_pressure_rr', 'tyre_pressure_rr_kpa'],
  ] as const) {
    const bar = toNumber(vehicle[tesla]);
    if (bar !== null) put(key, bar * KPA_PER_BAR, 1);
  }
  put('inside_temp_c', toNumber(climate.inside_temp), 1);
  put('outside_temp_c', toNumber(climate.outside_temp), 1);
  put('climate_target_temp_c', toNumber(climate.driver_temp_setting), 1);
  if (typeof climate.is_climate_on === 'boolean') metrics.climate_on = climate.is_climate_on;

  const lat = toNumber(drive.latitude);
  const lon = toNumber(drive.longitude);
  const heading = toNumber(drive.heading);
  const position: NativeMessage['position'] | undefined =
    lat !== null && lon !== null && Math.abs(lat) <= 90 && Math.abs(lon) <= 180
      ? {
          lat,
          lon,
          ...(heading !== null && heading >= 0 && heading <= 360 ? { heading_deg: heading } : {}),
          ...(speedKmh !== null && speedKmh >= 0 ? { speed_kmh: round(speedKmh, 2) } : {}),
        }
      : undefined;

  let tsMs = 0;
  for (const s of [charge, drive, climate, vehicle]) {
    const t = toNumber(s.timestamp);
    if (t !== null && t > tsMs) tsMs = t;
  }
  const driving = metrics.gear !== 'P';
  const charging = chargingState === 'Starting' || chargingState === 'Charging';
  const busy =
    vehicle.is_user_present === true || climate.is_climate_on === true || vehicle.sentry_mode === true;
  if (tsMs <= 0) return { message: null, driving, charging, busy };
  return {
    message: {
      ts: Math.floor(tsMs),
      metrics,
      ...(position ? { position } : {}),
      ...(Object.keys(raw).length > 0 ? { raw } : {}),
    },
    driving,
    charging,
    busy,
  };
}
