import { describe, expect, it } from 'vitest';
import { decodeOverland } from './overland.js';

const NOW = 1_732_000_000_000;

/** A feature as Overland 2.x sends it (README of aaronpk/Overland-iOS). */
function fix(properties: Record<string, unknown>, coordinates: unknown = [-122.621, 45.535]) {
  return { type: 'Feature', geometry: { type: 'Point', coordinates }, properties };
}
const props = {
  timestamp: '2017-01-01T10:00:00-0700',
  altitude: 12,
  speed: 4,
  horizontal_accuracy: 30,
  vertical_accuracy: -1,
  motion: ['driving', 'stationary'],
  pauses: false,
  activity: 'other_navigation',
  battery_state: 'charging',
  battery_level: 0.89,
  device_id: 'iphone',
  wifi: '',
};

describe('Overland decoder', () => {
  it('decodes a location: position, speed from m/s, battery from a fraction, extras as raw keys', () => {
    const result = decodeOverland({ locations: [fix(props)] }, NOW);
    expect(result.deadLetters).toEqual([]);
    expect(result.messages).toEqual([
      {
        ts: Date.UTC(2017, 0, 1, 17, 0, 0),
        position: { lat: 45.535, lon: -122.621, speed_kmh: 14.4, alt_m: 12, accuracy_m: 30 },
        metrics: { device_battery_pct: 89 },
        raw: { battery_state: 'charging', motion: 'driving,stationary', device_id: 'iphone' },
      },
    ]);
  });

  it.each([
    ['2017-01-01T17:00:00Z', Date.UTC(2017, 0, 1, 17)],
    ['2017-01-01T10:00:00-0700', Date.UTC(2017, 0, 1, 17)],
    ['2017-01-01T19:00:00+02:00', Date.UTC(2017, 0, 1, 17)],
    ['2017-01-01T17:00:00.250Z', Date.UTC(2017, 0, 1, 17) + 250],
  ])('reads timestamp %s', (timestamp, ts) => {
    expect(decodeOverland({ locations: [fix({ timestamp })] }, NOW).messages[0]?.ts).toBe(ts);
  });

  it('treats speed, course and accuracy of −1 and a battery level of −1 as unknown', () => {
    const result = decodeOverland(
      {
        locations: [
          fix({
            timestamp: '2017-01-01T17:00:00Z',
            speed: -1,
            course: -1,
            horizontal_accuracy: -1,
            battery_level: -1,
          }),
        ],
      },
      NOW,
    );
    expect(result.messages).toEqual([
      { ts: Date.UTC(2017, 0, 1, 17), position: { lat: 45.535, lon: -122.621 } },
    ]);
  });

  it('records features without a position as events, never as errors', () => {
    const result = decodeOverland(
      {
        locations: [
          { type: 'Feature', properties: { action: 'will_terminate', timestamp: '2017-01-01T17:00:00Z' } },
          fix({ type: 'visit', arrival_date: '2017-01-01T16:00:00Z', timestamp: '2017-01-01T17:00:00Z' }),
          { type: 'Feature', geometry: null, properties: { type: 'trip', mode: 'car', distance: 1200 } },
          { type: 'Feature', properties: {} },
          fix(props),
        ],
        current: fix(props),
        trip: { mode: 'car', start: '2017-01-01T16:00:00Z' },
      },
      NOW,
    );
    expect(result.deadLetters).toEqual([]);
    expect(result.messages).toHaveLength(1);
    expect(result.events).toEqual([
      {
        type: 'overland.will_terminate',
        tsMs: Date.UTC(2017, 0, 1, 17),
        data: { action: 'will_terminate', timestamp: '2017-01-01T17:00:00Z' },
      },
      {
        type: 'overland.visit',
        tsMs: Date.UTC(2017, 0, 1, 17),
        data: { type: 'visit', arrival_date: '2017-01-01T16:00:00Z', timestamp: '2017-01-01T17:00:00Z' },
      },
      { type: 'overland.trip', tsMs: NOW, data: { type: 'trip', mode: 'car', distance: 1200 } },
    ]);
  });

  it('keeps the good features of a batch and dead-letters the bad ones by field', () => {
    const bad = [
      fix({ ...props, speed: 'fast' }),
      fix({ ...props, timestamp: 'noon' }),
      fix({ speed: 3 }),
      fix(props, ['a', 45]),
      fix(props, [-122, 95]),
      fix({ ...props, battery_level: 89 }),
      'nonsense',
    ];
    const result = decodeOverland({ locations: [fix(props), ...bad, fix(props)] }, NOW);
    expect(result.messages).toHaveLength(2);
    expect(result.deadLetters.map((d) => d.reason)).toEqual([
      'overland: properties.speed is not a number',
      'overland: properties.timestamp is not an ISO-8601 date',
      'overland: properties.timestamp is missing',
      'overland: geometry.coordinates[0] is not a longitude',
      'overland: geometry.coordinates[1] is not a latitude',
      'overland: properties.battery_level is not a fraction 0–1',
      'overland: location is not a GeoJSON feature',
    ]);
    expect(result.deadLetters[0]?.payload).toBe(JSON.stringify(bad[0]));
  });

  it.each([[null], [[]], [{}], [{ locations: 'x' }]])('dead-letters a body without locations: %j', (body) => {
    expect(decodeOverland(body, NOW).deadLetters.map((d) => d.reason)).toEqual([
      'overland: locations is not an array',
    ]);
  });

  it('accepts an empty batch', () => {
    expect(decodeOverland({ locations: [] }, NOW)).toEqual({ messages: [], events: [], deadLetters: [] });
  });
});
