import { describe, expect, it } from 'vitest';
import { decodeOsmandFields, decodeOsmandJson } from './osmand.js';

const NOW = 1_732_000_000_000;

describe('OsmAnd / Traccar Client form fields', () => {
  it.each([
    ['epoch seconds', '1732000000', 1_732_000_000_000],
    ['epoch milliseconds', '1732000000123', 1_732_000_000_123],
    ['ISO-8601 with Z', '2024-11-19T07:06:40Z', 1_732_000_000_000],
    ['ISO-8601 with offset', '2024-11-19T00:06:40-07:00', 1_732_000_000_000],
    ['ISO-8601 with compact offset', '2024-11-19T00:06:40-0700', 1_732_000_000_000],
    ['yyyy-MM-dd HH:mm:ss (UTC)', '2024-11-19 07:06:40', 1_732_000_000_000],
  ])('reads the timestamp as %s', (_label, timestamp, ts) => {
    const result = decodeOsmandFields({ id: 'phone1', lat: '52.1', lon: '7.6', timestamp }, NOW);
    expect(result.deadLetters).toEqual([]);
    expect(result.messages[0]?.ts).toBe(ts);
  });

  it('maps every known field, speed from knots, and keeps the others as raw keys', () => {
    const result = decodeOsmandFields(
      {
        deviceid: 'phone1',
        lat: '52.195913',
        lon: '-7.688245',
        timestamp: '1732000000',
        speed: '10',
        bearing: '370',
        altitude: '42.5',
        accuracy: '4',
        hdop: '0.9',
        batt: '81',
        charge: 'true',
        driverUniqueId: 'D-7',
      },
      NOW,
    );
    expect(result.deviceId).toBe('phone1');
    expect(result.messages).toEqual([
      {
        ts: 1_732_000_000_000,
        position: {
          lat: 52.195913,
          lon: -7.688245,
          speed_kmh: 18.52,
          heading_deg: 10,
          alt_m: 42.5,
          accuracy_m: 4,
        },
        metrics: { device_battery_pct: 81 },
        raw: { hdop: 0.9, charge: true, driverUniqueId: 'D-7' },
      },
    ]);
  });

  it('takes `location=lat,lon`, `heading`, and the receive time when no timestamp comes', () => {
    const result = decodeOsmandFields({ id: 'x', location: '48.5,9.25', heading: '90' }, NOW);
    expect(result.messages).toEqual([{ ts: NOW, position: { lat: 48.5, lon: 9.25, heading_deg: 90 } }]);
  });

  it('treats a negative speed or bearing as unknown', () => {
    const result = decodeOsmandFields({ id: 'x', lat: '1', lon: '2', speed: '-1', bearing: '-1' }, NOW);
    expect(result.messages[0]?.position).toEqual({ lat: 1, lon: 2 });
  });

  it.each([
    [{ lat: '1', lon: '2' }, 'osmand: id is missing', null],
    [{ id: '  ', lat: '1', lon: '2' }, 'osmand: id is missing', null],
    [{ id: 'a', lon: '2' }, 'osmand: lat is missing', 'a'],
    [{ id: 'a', lat: '1' }, 'osmand: lon is missing', 'a'],
    [{ id: 'a', lat: 'north', lon: '2' }, 'osmand: lat is not a latitude', 'a'],
    [{ id: 'a', lat: '91', lon: '2' }, 'osmand: lat is not a latitude', 'a'],
    [{ id: 'a', lat: '1', lon: '181' }, 'osmand: lon is not a longitude', 'a'],
    [{ id: 'a', lat: '1', lon: '2', speed: 'fast' }, 'osmand: speed is not a number', 'a'],
    [{ id: 'a', lat: '1', lon: '2', altitude: '1O0' }, 'osmand: altitude is not a number', 'a'],
    [{ id: 'a', lat: '1', lon: '2', batt: '101' }, 'osmand: batt is not a percentage', 'a'],
    [
      { id: 'a', lat: '1', lon: '2', timestamp: 'yesterday' },
      'osmand: timestamp is not epoch seconds, epoch ms or a date',
      'a',
    ],
  ])('dead-letters %j: %s', (fields, reason, deviceId) => {
    const result = decodeOsmandFields(fields, NOW);
    expect(result.messages).toEqual([]);
    expect(result.deviceId).toBe(deviceId);
    expect(result.deadLetters).toEqual([{ reason, payload: JSON.stringify(fields) }]);
  });

  it('reads the last value of a repeated field', () => {
    const result = decodeOsmandFields({ id: 'a', lat: ['1', '3'], lon: '2' }, NOW);
    expect(result.messages[0]?.position).toEqual({ lat: 3, lon: 2 });
  });
});

describe('Traccar Client JSON mode', () => {
  const location = {
    timestamp: '2024-11-19T07:06:40.000Z',
    coords: { latitude: 52.1, longitude: 7.6, speed: 10, heading: 180, accuracy: 5, altitude: 60 },
    battery: { level: 0.76, is_charging: true },
    is_moving: true,
    odometer: 1234.5,
  };

  it('decodes a location, speed from m/s, battery from a fraction', () => {
    const result = decodeOsmandJson({ device_id: 'phone1', location }, NOW);
    expect(result.deadLetters).toEqual([]);
    expect(result.deviceId).toBe('phone1');
    expect(result.messages).toEqual([
      {
        ts: 1_732_000_000_000,
        position: { lat: 52.1, lon: 7.6, speed_kmh: 36, heading_deg: 180, accuracy_m: 5, alt_m: 60 },
        metrics: { device_battery_pct: 76 },
        raw: { is_charging: true, is_moving: true, odometer_m: 1234.5 },
      },
    ]);
  });

  it('treats negative speed and heading and a battery level of −1 as unknown', () => {
    const result = decodeOsmandJson(
      {
        device_id: 'p',
        location: {
          timestamp: 1_732_000_000_000,
          coords: { latitude: 1, longitude: 2, speed: -1, heading: -1 },
          battery: { level: -1, is_charging: false },
        },
      },
      NOW,
    );
    expect(result.messages).toEqual([
      { ts: 1_732_000_000_000, position: { lat: 1, lon: 2 }, raw: { is_charging: false } },
    ]);
  });

  it('keeps the good locations of a batch and dead-letters the bad one by field', () => {
    const bad = { ...location, coords: { ...location.coords, speed: 'fast' } };
    const result = decodeOsmandJson({ device_id: 'p', location: [location, bad, location] }, NOW);
    expect(result.messages).toHaveLength(2);
    expect(result.deadLetters).toEqual([
      { reason: 'osmand: coords.speed is not a number', payload: JSON.stringify(bad) },
    ]);
  });

  it.each([
    [[1, 2], 'osmand: body is not a JSON object'],
    [{ location }, 'osmand: device_id is missing'],
    [{ device_id: 'p' }, 'osmand: location is not an object'],
    [{ device_id: 'p', location: { timestamp: 1 } }, 'osmand: location.coords is missing'],
    [
      { device_id: 'p', location: { coords: { latitude: 'x', longitude: 1 } } },
      'osmand: coords.latitude is not a latitude',
    ],
    [
      { device_id: 'p', location: { coords: { latitude: 1, longitude: 200 } } },
      'osmand: coords.longitude is not a longitude',
    ],
    [
      { device_id: 'p', location: { ...location, battery: { level: 76 } } },
      'osmand: battery.level is not a fraction 0–1',
    ],
    [
      { device_id: 'p', location: { ...location, timestamp: 'soon' } },
      'osmand: location.timestamp is not a date',
    ],
  ])('dead-letters %j: %s', (body, reason) => {
    const result = decodeOsmandJson(body, NOW);
    expect(result.messages).toEqual([]);
    expect(result.deadLetters.map((d) => d.reason)).toEqual([reason]);
  });
});
