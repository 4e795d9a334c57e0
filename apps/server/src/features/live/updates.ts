import type { MetricReading, PositionReading, UpdateMessage } from '@tacho/protocol';
import type { DomainEvents } from '../../lib/events.js';
import { connectivityOf } from '../readings/state.js';

type StoredEvent = DomainEvents['samples.stored'][0];

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
    const newest: Record<string, MetricReading> = {};
    for (const s of event.samples) {
      for (const key of USE_METRICS) {
        const value = s.metrics[key];
        if (value === undefined) continue;
        const current = newest[key];
        if (!current || current.ts_ms <= s.tsMs) newest[key] = { value, ts_ms: s.tsMs };
      }
    }
    this.remember(event.vehicleId, newest);
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
    const metrics: Record<string, MetricReading> = {};
    let position: PositionReading | undefined;
    let last = 0;
    // The newest reading of each metric wins. This runs for every committed sample, so it allocates only
    // what the update keeps.
    let newestPosition: (typeof event.samples)[number] | undefined;
    for (const s of event.samples) {
      if (s.tsMs > last) last = s.tsMs;
      for (const key in s.metrics) {
        const current = metrics[key];
        if (!current) metrics[key] = { value: s.metrics[key]!, ts_ms: s.tsMs };
        else if (current.ts_ms <= s.tsMs) {
          current.value = s.metrics[key]!;
          current.ts_ms = s.tsMs;
        }
      }
      if (s.position && (!newestPosition || newestPosition.tsMs <= s.tsMs)) newestPosition = s;
    }
    if (newestPosition?.position) position = { ...newestPosition.position, ts_ms: newestPosition.tsMs };
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
