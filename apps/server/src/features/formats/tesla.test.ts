import { checkMetric } from '@tacho/protocol';
import { describe, expect, it } from 'vitest';
import { EXTREME_NUMBERS_JSON } from '../telemetry/extreme-numbers.js';
import { TESLA_FIELDS } from './tesla/fields.js';
import { decodeTeslaEvent, decodeTeslaFields, parseTeslaTopic, readFieldPayload } from './tesla.js';

const T = Date.UTC(2026, 0, 15, 12, 0, 0);

/** Decodes one field as fleet-telemetry publishes it (the JSON text of the value). */
function one(field: string, json: string) {
  const read = readFieldPayload(field, Buffer.from(json));
  if ('deadLetter' in read) return { deadLetter: read.deadLetter.reason };
  const decoded = decodeTeslaFields(new Map([[field, read.value]]), T, 1);
  const message = decoded.messages[0];
  return {
    metrics: message?.metrics ?? {},
    position: message?.position,
    raw: message?.raw ?? {},
    deadLetters: decoded.deadLetters.map((d) => d.reason),
  };
}

describe('Tesla fleet-telemetry fields', () => {
  it.each([
    ['BatteryLevel', '80.5', { battery_level_pct: 80.5 }],
    ['BatteryLevel', '"80.5"', { battery_level_pct: 80.5 }],
    ['Soc', '79', { battery_level_pct: 79 }],
    ['VehicleSpeed', '62.1371', { speed_kmh: 100 }],
    ['VehicleSpeed', '"62.1371"', { speed_kmh: 100 }],
    ['Odometer', '1000', { odometer_km: 1609.344 }],
    ['RatedRange', '200', { range_km: 321.8688 }],
    ['EstBatteryRange', '"150.5"', { range_km: 242.2063 }],
    ['IdealBatteryRange', '210', { ideal_range_km: 337.9622 }],
    ['Gear', '"ShiftStateD"', { gear: 'D' }],
    ['Gear', '"ShiftStateP"', { gear: 'P' }],
    ['Gear', '"R"', { gear: 'R' }],
    ['Gear', '"ShiftStateSNA"', {}],
    ['Gear', '"ShiftStateInvalid"', {}],
    ['DetailedChargeState', '"DetailedChargeStateCharging"', { charging_state: 'charging' }],
    ['DetailedChargeState', '"DetailedChargeStateStarting"', { charging_state: 'charging' }],
    ['DetailedChargeState', '"DetailedChargeStateComplete"', { charging_state: 'complete' }],
    ['DetailedChargeState', '"DetailedChargeStateDisconnected"', { charging_state: 'disconnected' }],
    ['DetailedChargeState', '"DetailedChargeStateNoPower"', { charging_state: 'connected' }],
    ['DetailedChargeState', '"DetailedChargeStateUnknown"', {}],
    ['ChargeState', '"ChargeStateStopped"', { charging_state: 'stopped' }],
    ['ACChargingPower', '11.2', { charger_power_kw: 11.2 }],
    ['DCChargingPower', '"150"', { charger_power_kw: 150 }],
    ['ACChargingEnergyIn', '12.5', { charge_energy_added_kwh: 12.5 }],
    ['ChargerVoltage', '230', { charger_voltage_v: 230 }],
    ['ChargeAmps', '16', { charger_current_a: 16 }],
    ['ChargeLimitSoc', '90', { charge_limit_pct: 90 }],
    ['TimeToFullCharge', '1.5', { time_to_full_charge_min: 90 }],
    ['PackVoltage', '396.5', { battery_voltage_v: 396.5 }],
    ['PackCurrent', '-12.5', { battery_current_a: -12.5 }],
    ['InsideTemp', '21.5', { inside_temp_c: 21.5 }],
    ['OutsideTemp', '"-3"', { outside_temp_c: -3 }],
    ['TpmsPressureFl', '2.9', { tyre_pressure_fl_kpa: 290 }],
    ['TpmsPressureRr', '"2.875"', { tyre_pressure_rr_kpa: 287.5 }],
    ['Locked', 'true', { locked: true }],
    ['Locked', '"false"', { locked: false }],
    ['SentryMode', '"SentryModeStateArmed"', { sentry_mode: true }],
    ['SentryMode', '"SentryModeStateOff"', { sentry_mode: false }],
    ['SentryMode', 'false', { sentry_mode: false }],
    ['ChargePortDoorOpen', 'true', { charge_port_open: true }],
    ['Version', '"2024.26.3"', { software_version: '2024.26.3' }],
    ['LifetimeEnergyUsed', '12345.6', { energy_used_kwh: 12345.6 }],
    ['EnergyRemaining', '55.2', {}],
    ['SomeFutureField', '"whatever"', {}],
  ])('%s %s → %j', (field, json, metrics) => {
    const decoded = one(field, json);
    expect(decoded).toMatchObject({ metrics, deadLetters: [] });
    // Every readable field is kept raw, numeric text as a number.
    expect(Object.keys(decoded.raw ?? {})).toEqual([field]);
  });

  it('keeps numbers sent as text as numbers in raw, and versions as text', () => {
    expect(one('VehicleSpeed', '"12.3"').raw).toEqual({ VehicleSpeed: 12.3 });
    expect(one('VehicleSpeed', '12.3').raw).toEqual({ VehicleSpeed: 12.3 });
    expect(one('Version', '"2024"').raw).toEqual({ Version: '2024' });
  });

  it('skips null (invalid) values: no metric, no raw key, no dead letter', () => {
    expect(one('VehicleSpeed', 'null')).toEqual({
      metrics: {},
      position: undefined,
      raw: {},
      deadLetters: [],
    });
  });

  it('reads a location into the position, and keeps it raw as JSON', () => {
    const decoded = one('Location', '{"latitude":48.137154,"longitude":11.576124}');
    expect(decoded.position).toEqual({ lat: 48.137154, lon: 11.576124 });
    expect(decoded.raw).toEqual({ Location: '{"latitude":48.137154,"longitude":11.576124}' });
  });

  it('refuses a location out of range or of another shape, keeping it raw', () => {
    expect(one('Location', '{"latitude":123,"longitude":11}')).toMatchObject({
      position: undefined,
      deadLetters: ['tesla: Location is not a {latitude, longitude} location'],
    });
    expect(one('Location', '"48,11"')).toMatchObject({ deadLetters: [expect.any(String)] });
  });

  it('refuses implausible values as dead letters, keeping them raw', () => {
    const decoded = one('BatteryLevel', '180');
    expect(decoded.metrics).toEqual({});
    expect(decoded.raw).toEqual({ BatteryLevel: 180 });
    expect(decoded.deadLetters?.[0]).toMatch(/^tesla: BatteryLevel → battery_level_pct: 180 is above/);
    expect(one('VehicleSpeed', '"fast"')).toMatchObject({ metrics: {}, raw: { VehicleSpeed: 'fast' } });
  });

  it('dead-letters a payload that is not JSON', () => {
    expect(one('Soc', '{oops')).toEqual({ deadLetter: 'tesla: Soc is not JSON' });
  });

  it('prefers BatteryLevel over Soc and RatedRange over EstBatteryRange in one sample', () => {
    const decoded = decodeTeslaFields(
      new Map<string, unknown>([
        ['Soc', 78],
        ['BatteryLevel', 80],
        ['EstBatteryRange', 100],
        ['RatedRange', 200],
        ['Location', { latitude: 48, longitude: 11 }],
        ['GpsHeading', 90],
      ]),
      T,
      7,
    );
    expect(decoded.messages).toEqual([
      {
        ts: T,
        seq: 7,
        metrics: { battery_level_pct: 80, range_km: 321.8688, heading_deg: 90 },
        position: { lat: 48, lon: 11, heading_deg: 90 },
        raw: {
          Soc: 78,
          BatteryLevel: 80,
          EstBatteryRange: 100,
          RatedRange: 200,
          Location: '{"latitude":48,"longitude":11}',
          GpsHeading: 90,
        },
      },
    ]);
    expect(decoded.deadLetters).toEqual([]);
  });
});

describe('Tesla fleet-telemetry topics and events', () => {
  it.each([
    ['tesla/5YJ3E1EA7KF000001/v/Soc', { vin: '5YJ3E1EA7KF000001', kind: 'field', field: 'Soc' }],
    ['tesla/5YJ3E1EA7KF000001/connectivity', { vin: '5YJ3E1EA7KF000001', kind: 'connectivity' }],
    [
      'tesla/5YJ3E1EA7KF000001/alerts/ChargePortFault/current',
      { vin: '5YJ3E1EA7KF000001', kind: 'alert', name: 'ChargePortFault', which: 'current' },
    ],
    [
      'tesla/5YJ3E1EA7KF000001/errors/SomeError',
      { vin: '5YJ3E1EA7KF000001', kind: 'error', name: 'SomeError' },
    ],
    ['tesla/5YJ3E1EA7KF000001/v/Soc/extra', { vin: '5YJ3E1EA7KF000001', kind: 'other' }],
    ['other/5YJ3E1EA7KF000001/v/Soc', null],
    ['tesla', null],
    ['tesla//v/Soc', null],
  ])('%s', (topic, expected) => {
    expect(parseTeslaTopic('tesla', topic)).toEqual(expected);
  });

  it('reads a multi-level topic base', () => {
    expect(parseTeslaTopic('fleet/tesla', 'fleet/tesla/VIN1/v/Gear')).toEqual({
      vin: 'VIN1',
      kind: 'field',
      field: 'Gear',
    });
  });

  it('keeps connectivity, alerts and errors as events at their own time', () => {
    const at = '2026-01-15T12:00:00Z';
    const connectivity = decodeTeslaEvent(
      { vin: 'V', kind: 'connectivity' },
      JSON.stringify({ ConnectionId: 'c1', Status: 'CONNECTED', CreatedAt: at }),
      0,
    );
    expect(connectivity.events).toEqual([
      {
        type: 'tesla.connectivity',
        tsMs: T,
        data: { ConnectionId: 'c1', Status: 'CONNECTED', CreatedAt: at },
      },
    ]);
    const history = decodeTeslaEvent(
      { vin: 'V', kind: 'alert', name: 'Fault', which: 'history' },
      JSON.stringify([
        { StartedAt: at, Audiences: ['Customer'] },
        { StartedAt: at, EndedAt: '2026-01-15T12:01:00Z', Audiences: null },
      ]),
      0,
    );
    expect(history.events.map((e) => [e.type, e.tsMs])).toEqual([
      ['tesla.alert.Fault', T],
      ['tesla.alert.Fault', T + 60_000],
    ]);
    const error = decodeTeslaEvent(
      { vin: 'V', kind: 'error', name: 'E' },
      JSON.stringify({ Body: 'b', Tags: { a: 'b' } }),
      T + 5,
    );
    expect(error.events).toEqual([
      { type: 'tesla.error.E', tsMs: T + 5, data: { Body: 'b', Tags: { a: 'b' } } },
    ]);
    expect(decodeTeslaEvent({ vin: 'V', kind: 'connectivity' }, 'nope', 0).deadLetters).toEqual([
      { reason: 'tesla: connectivity message is not JSON', payload: 'nope' },
    ]);
    expect(decodeTeslaEvent({ vin: 'V', kind: 'error', name: 'E' }, '42', 0).deadLetters).toHaveLength(1);
  });
});

describe('Tesla fleet-telemetry fields with extreme values (issue 24.1)', () => {
  const odd = [
    ...EXTREME_NUMBERS_JSON,
    '"1e400"',
    '"NaN"',
    '[]',
    '[1,2]',
    '{}',
    '{"latitude":"x"}',
    'true',
    '"ShiftStateZ"',
    `"${'x'.repeat(5000)}"`,
  ];
  it.each([...TESLA_FIELDS.keys(), 'Unmapped'])(
    '%s never throws and never stores an implausible metric',
    (field) => {
      for (const json of odd) {
        const read = readFieldPayload(field, json);
        if ('deadLetter' in read) continue;
        const decoded = decodeTeslaFields(new Map([[field, read.value]]), T, 1);
        for (const message of decoded.messages) {
          for (const [key, value] of Object.entries(message.metrics ?? {}))
            expect(checkMetric(key, value)).toBeNull();
          for (const value of Object.values(message.raw ?? {}))
            expect(typeof value === 'string' ? value.length : 0).toBeLessThanOrEqual(1024);
        }
      }
    },
  );
});
