import type { Position } from '@tacho/protocol';
import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../lib/events.js';
import { StoredEvents } from '../telemetry/stored-event.js';
import { UpdateBuilder } from './updates.js';

const NOW = Date.UTC(2026, 0, 1, 12);
/** The event the ingest pipeline emits for these samples of vehicle v1. */
function event(
  samples: Array<{ tsMs: number; metrics: Record<string, number | string | boolean>; position?: Position }>,
): StoredEvent {
  const events = new StoredEvents();
  events.addSamples(samples.map((s) => ({ vehicleId: 'v1', seq: 0, receivedMs: NOW, source: 'test', ...s })));
  const [only] = events.events();
  return only!;
}

describe('live updates', () => {
  it('sends the newest value of each metric in a batch, and the newest position', () => {
    const update = new UpdateBuilder(600).build(
      event([
        { tsMs: NOW - 2000, metrics: { speed_kmh: 40, battery_level_pct: 80 }, position: { lat: 1, lon: 2 } },
        { tsMs: NOW - 1000, metrics: { speed_kmh: 45 }, position: { lat: 3, lon: 4 } },
      ]),
      NOW,
    );
    expect(update).toMatchObject({
      type: 'update',
      vehicleId: 'v1',
      metrics: {
        speed_kmh: { value: 45, ts_ms: NOW - 1000 },
        battery_level_pct: { value: 80, ts_ms: NOW - 2000 },
      },
      position: { lat: 3, lon: 4, ts_ms: NOW - 1000 },
      connectivity: 'online',
    });
  });

  it('keeps a driving car online through batches that only carry other metrics, built or not', () => {
    // Whether the batch that said "driving" was turned into an update (someone listening) or only
    // observed (nobody listening yet), a later battery-only batch must not make the car look asleep.
    for (const seen of ['built', 'observed'] as const) {
      const builder = new UpdateBuilder(600);
      const driving = event([{ tsMs: NOW - 5000, metrics: { ignition: true, speed_kmh: 60 } }]);
      if (seen === 'built') builder.build(driving, NOW);
      else builder.observe(driving);
      const later = builder.build(event([{ tsMs: NOW - 1000, metrics: { battery_level_pct: 70 } }]), NOW);
      expect(later?.connectivity, seen).toBe('online');
    }
    // Without that history the same batch says asleep.
    const fresh = new UpdateBuilder(600).build(
      event([{ tsMs: NOW - 1000, metrics: { battery_level_pct: 70 } }]),
      NOW,
    );
    expect(fresh?.connectivity).toBe('asleep');
  });

  it('lets a newer "parked" reading end the in-use state, even when only observed', () => {
    const builder = new UpdateBuilder(600);
    builder.observe(event([{ tsMs: NOW - 5000, metrics: { ignition: true, speed_kmh: 60 } }]));
    builder.observe(event([{ tsMs: NOW - 3000, metrics: { ignition: false, speed_kmh: 0 } }]));
    const later = builder.build(event([{ tsMs: NOW - 1000, metrics: { battery_level_pct: 70 } }]), NOW);
    expect(later?.connectivity).toBe('asleep');
  });
});
