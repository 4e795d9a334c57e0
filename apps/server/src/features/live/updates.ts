import type { MetricReading, UpdateMessage } from '@tacho/protocol';
import type { StoredEvent } from '../../lib/events.js';
import { connectivityOf } from '../readings/state.js';

/** The metrics that decide online vs asleep, remembered per vehicle between batches. */
const USE_METRICS = ['ignition', 'speed_kmh', 'charging_state'] as const;

/**
 * Turns committed samples into the update clients get: the newest value of each metric in the batch and
 * the newest position. Connectivity uses what this batch says plus the last known ignition/speed/charging
 * of the vehicle (kept here, bounded by the number of vehicles), so a batch with only a battery level does
 * not make a driving car look asleep.
 */
export class UpdateBuilder {
  private readonly inUse = new Map<string, Record<string, MetricReading>>();
  constructor(private readonly offlineAfterS: number) {}

  /**
   * Keeps only what later updates need (the newest ignition, speed and charging state) when nobody is
   * listening for this vehicle, without building an update.
   */
  observe(event: StoredEvent): void {
    this.remember(event.vehicleId, event.newest.metrics);
  }

  private remember(
    vehicleId: string,
    readings: Record<string, MetricReading>,
  ): Record<string, MetricReading> {
    const known = this.inUse.get(vehicleId) ?? {};
    for (const key of USE_METRICS) {
      const reading = readings[key];
      if (reading && (!known[key] || known[key].ts_ms <= reading.ts_ms)) known[key] = { ...reading };
    }
    this.inUse.set(vehicleId, known);
    return known;
  }

  build(event: StoredEvent, nowMs: number): UpdateMessage | null {
    // The batch's newest reading of each metric, made once by the ingest pipeline (stored-event.ts).
    const { metrics, position, lastTsMs: last } = event.newest;
    if (last === 0) return null;
    const known = this.remember(event.vehicleId, metrics);
    const connectivity = connectivityOf(
      last,
      { ...known, ...metrics },
      position ?? null,
      nowMs,
      this.offlineAfterS,
    );
    return {
      type: 'update',
      vehicleId: event.vehicleId,
      metrics,
      ...(position ? { position } : {}),
      // Old samples arriving late (a device catching up) say nothing about whether the car is on now.
      ...(connectivity === 'offline' ? {} : { connectivity }),
      publishedMs: nowMs,
    };
  }
}

/** Merges a later update into an earlier one of the same vehicle (newest value per metric wins). */
export function mergeUpdates(into: UpdateMessage, next: UpdateMessage): UpdateMessage {
  const metrics = { ...into.metrics };
  for (const [key, reading] of Object.entries(next.metrics)) {
    const current = metrics[key];
    if (!current || current.ts_ms <= reading.ts_ms) metrics[key] = reading;
  }
  const position =
    next.position && (!into.position || into.position.ts_ms <= next.position.ts_ms)
      ? next.position
      : into.position;
  const connectivity = next.connectivity ?? into.connectivity;
  return {
    type: 'update',
    vehicleId: into.vehicleId,
    metrics,
    ...(position ? { position } : {}),
    ...(connectivity ? { connectivity } : {}),
    publishedMs: next.publishedMs,
    coalesced: true,
  };
}
