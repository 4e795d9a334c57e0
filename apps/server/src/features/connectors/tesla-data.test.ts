import { checkMetric } from '@tacho/protocol';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config.js';
import { readVehicleData } from './tesla-data.js';

const TS = Date.UTC(2026, 5, 1, 8, 0, 0);

/** A `vehicle_data` answer as the Fleet API documents it (miles, mph, bar, °C; sections with timestamps). */
function answer(over: { charge?: object; drive?: object; climate?: object; vehicle?: object } = {}) {
  return {
    id: 3744582737186151,
    vin: '5YJ3E1EA7KF000017',
    state: 'online',
    charge_state: {
      battery_level: 64,
      usable_battery_level: 63,
      battery_range: 200,
      ideal_battery_range: 210,
      charge_limit_soc: 80,
      charging_state: 'Disconnected',
      charger_power: 0,
      charge_energy_added: 12.5,
      time_to_full_charge: 0.5,
      charge_port_door_open: false,
      timestamp: TS - 2000,
      ...over.charge,
    },
    drive_state: {
      shift_state: 'D',
      speed: 60,
      power: 25,
      heading: 181,
      latitude: 52.5,
      longitude: 13.4,
      timestamp: TS,
      ...over.drive,
    },
    climate_state: {
      inside_temp: 21.5,
      outside_temp: 8,
      driver_temp_setting: 21,
      is_climate_on: true,
      timestamp: TS - 1000,
      ...over.climate,
    },
    vehicle_state: {
      odometer: 10000,
      locked: true,
      sentry_mode: false,
      is_user_present: true,
      car_version: '2026.20.3 abcdef',
      tpms_pressure_fl: 2.9,
      tpms_pressure_fr: 2.9,
      tpms_pressure_rl: 3.0,
      tpms_pressure_rr: 3.0,
      timestamp: TS - 500,
      ...over.vehicle,
    },
  };
}

describe('Tesla vehicle_data mapping', () => {
  it('converts miles, mph and bar to the catalog units and takes the newest section timestamp', () => {
    const reading = readVehicleData(answer());
    expect(reading.message).toEqual({
      ts: TS,
      metrics: {
        battery_level_pct: 64,
        usable_battery_level_pct: 63,
        range_km: 321.869,
        ideal_range_km: 337.962,
        charge_limit_pct: 80,
        charger_power_kw: 0,
        charge_energy_added_kwh: 12.5,
        time_to_full_charge_min: 30,
        charge_port_open: false,
        charging_state: 'disconnected',
        gear: 'D',
        speed_kmh: 96.56,
        power_kw: 25,
        heading_deg: 181,
        odometer_km: 16093.44,
        locked: true,
        sentry_mode: false,
        software_version: '2026.20.3 abcdef',
        tyre_pressure_fl_kpa: 290,
        tyre_pressure_fr_kpa: 290,
        tyre_pressure_rl_kpa: 300,
        tyre_pressure_rr_kpa: 300,
        inside_temp_c: 21.5,
        outside_temp_c: 8,
        climate_target_temp_c: 21,
        climate_on: true,
      },
      position: { lat: 52.5, lon: 13.4, heading_deg: 181, speed_kmh: 96.56 },
      raw: { charging_state: 'Disconnected' },
    });
    expect(reading).toMatchObject({ driving: true, charging: false, busy: true });
    // Every metric is one the catalog takes, within its range.
    for (const [key, value] of Object.entries(reading.message!.metrics!))
      expect(checkMetric(key, value)).toBeNull();
  });

  it('reads a parked car (shift_state null) as P at 0 km/h, and Starting or Charging as charging', () => {
    const parked = readVehicleData(answer({ drive: { shift_state: null, speed: null } }));
    expect(parked.message?.metrics).toMatchObject({ gear: 'P', speed_kmh: 0 });
    expect(parked.driving).toBe(false);
    for (const state of ['Starting', 'Charging']) {
      const charging = readVehicleData(
        answer({ drive: { shift_state: null }, charge: { charging_state: state } }),
      );
      expect(charging).toMatchObject({
        charging: true,
        message: { metrics: { charging_state: 'charging' } },
      });
    }
    expect(
      readVehicleData(answer({ charge: { charging_state: 'NoPower' } })).message?.metrics?.charging_state,
    ).toBe('connected');
  });

  it('gives no message without any timestamp, and no position without location_data', () => {
    const bare = readVehicleData({ charge_state: { battery_level: 50 } });
    expect(bare.message).toBeNull();
    const noLocation = readVehicleData(answer({ drive: { latitude: undefined, longitude: undefined } }));
    expect(noLocation.message?.position).toBeUndefined();
  });
});

describe('Tesla settings', () => {
  const base = { TACHO_DATA_DIR: '/tmp/tacho-config-test' };

  it('picks the region’s Fleet API, or the URLs given, and keeps the client secret out of a dump', () => {
    const config = loadConfig({
      ...base,
      TACHO_TESLA_CLIENT_ID: 'abc',
      TACHO_TESLA_CLIENT_SECRET: 'ta-secret.very-secret-value',
      TACHO_TESLA_REGION: 'EU',
    });
    expect(config.tesla).toMatchObject({
      clientId: 'abc',
      region: 'eu',
      authorizeUrl: 'https://auth.tesla.com/oauth2/v3/authorize',
      tokenUrl: 'https://fleet-auth.prd.vn.cloud.tesla.com/oauth2/v3/token',
      apiUrl: 'https://fleet-api.prd.eu.vn.cloud.tesla.com',
      dailyRequests: 500,
    });
    expect(config.tesla?.clientSecret).toBe('ta-secret.very-secret-value');
    expect(JSON.stringify(config)).not.toContain('very-secret-value');
    const local = loadConfig({
      ...base,
      TACHO_TESLA_CLIENT_ID: 'abc',
      TACHO_TESLA_AUTH_URL: 'http://127.0.0.1:9999/oauth2/v3/',
      TACHO_TESLA_API_URL: 'http://127.0.0.1:9999',
      TACHO_TESLA_DAILY_REQUESTS: '40',
    });
    expect(local.tesla).toMatchObject({
      authorizeUrl: 'http://127.0.0.1:9999/oauth2/v3/authorize',
      tokenUrl: 'http://127.0.0.1:9999/oauth2/v3/token',
      apiUrl: 'http://127.0.0.1:9999',
      dailyRequests: 40,
    });
    expect(loadConfig(base).tesla).toBeUndefined();
  });

  it('names the bad variable', () => {
    const bad = (env: Record<string, string>) => () =>
      loadConfig({ ...base, TACHO_TESLA_CLIENT_ID: 'abc', ...env });
    expect(bad({ TACHO_TESLA_REGION: 'mars' })).toThrow(
      'TACHO_TESLA_REGION must be na, eu or cn, got "mars"',
    );
    expect(bad({ TACHO_TESLA_DAILY_REQUESTS: 'lots' })).toThrow('TACHO_TESLA_DAILY_REQUESTS must be');
    expect(bad({ TACHO_TESLA_API_URL: 'http://example.org' })).toThrow(
      'TACHO_TESLA_API_URL must be an https://',
    );
    expect(() => loadConfig({ ...base, TACHO_TESLA_CLIENT_SECRET: 'x' })).toThrow(
      'TACHO_TESLA_CLIENT_SECRET needs TACHO_TESLA_CLIENT_ID',
    );
  });
});
