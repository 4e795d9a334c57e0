import type { MetricValue, Position } from '@tacho/protocol';
import type { StoredEvent } from '../../lib/events.js';
import { replacesNewest, type StoredSample } from './batch-rows.js';
import type { FoldedSamples } from './derived-buffer.js';
import { type PackedSamples, tsAt, unpackSamples } from './packed-batch.js';

interface VehicleEvent {
  readonly newest: StoredEvent['newest'];
  /** The seq of each newest reading (and of the position), for the one newest-reading rule. */
  readonly seqs: Map<string, number>;
  /** The newest position seen, made a reading once, when the event is built. */
  position: { readonly tsMs: number; readonly seq: number; readonly position?: Position } | null;
  /** Where its samples are: lists of objects, or functions that read them back from a packed part. */
  readonly lists: Array<readonly StoredSample[] | (() => readonly StoredSample[])>;
}

/**
 * Gathers a committed batch into one `samples.stored` event per vehicle. Each event carries the newest
 * value of each metric, which is all the live view needs; the samples themselves are built only when a
 * listener reads them, so a packed HTTP batch is not turned back into a thousand objects for nothing.
 */
export class StoredEvents {
  private readonly byVehicle = new Map<string, VehicleEvent>();

  /** Committed samples held as objects. */
  addSamples(samples: readonly StoredSample[]): void {
    let start = 0;
    // Samples of one vehicle come in runs: one lookup per run.
    while (start < samples.length) {
      const vehicleId = samples[start]!.vehicleId;
      let end = start + 1;
      while (end < samples.length && samples[end]!.vehicleId === vehicleId) end++;
      const run = start === 0 && end === samples.length ? samples : samples.slice(start, end);
      const event = this.of(vehicleId);
      event.lists.push(run);
      for (const s of run) {
        for (const key in s.metrics) take(event, key, s.metrics[key]!, s.tsMs, s.seq);
        if (s.position) offerPosition(event, s);
        if (s.tsMs > event.newest.lastTsMs) event.newest.lastTsMs = s.tsMs;
      }
      start = end;
    }
  }

  /**
   * Committed samples packed on arrival, all of them inserted, with their fold: its state rows say what
   * is newest; `samples` reads them back from the columns should a listener ask.
   */
  addPacked(part: PackedSamples, folded: FoldedSamples): void {
    let read: readonly StoredSample[] | undefined;
    const samples = () => {
      read ??= unpackSamples(part);
      return read;
    };
    // Every vehicle gets its event, even one whose samples held only raw values (no state rows).
    const events = part.vehicles.map((id) => this.of(id, samples));
    for (let i = 0; i < part.count; i++) {
      const newest = events[part.vehicle[i]!]!.newest;
      const tsMs = tsAt(part, i);
      if (tsMs > newest.lastTsMs) newest.lastTsMs = tsMs;
    }
    for (const row of folded.state) {
      const event = this.of(row.vehicle_id);
      const value = JSON.parse(row.value) as unknown;
      // The fold chose by the rule within the part. Across folds the later one wins a tie on time, as the
      // state's upsert does: this reading takes a tie now (seq above any) and yields one later (seq -1).
      if (row.metric !== 'position') {
        if (take(event, row.metric, value as MetricValue, row.ts_ms, Number.MAX_SAFE_INTEGER))
          event.seqs.set(row.metric, -1);
      } else if (
        offerPosition(event, { tsMs: row.ts_ms, seq: Number.MAX_SAFE_INTEGER, position: value as Position })
      ) {
        event.position = { ...event.position!, seq: -1 };
      }
    }
  }

  /** The events, one per vehicle. */
  events(): StoredEvent[] {
    const events: StoredEvent[] = [];
    for (const [vehicleId, { newest, position, lists }] of this.byVehicle) {
      if (position?.position) newest.position = { ...position.position, ts_ms: position.tsMs };
      let samples: readonly StoredSample[] | undefined;
      events.push({
        vehicleId,
        newest,
        get samples() {
          samples ??= samplesOf(vehicleId, lists);
          return samples;
        },
      });
    }
    return events;
  }

  private of(vehicleId: string, reader?: () => readonly StoredSample[]): VehicleEvent {
    let event = this.byVehicle.get(vehicleId);
    if (!event) {
      event = { newest: { metrics: {}, lastTsMs: 0 }, seqs: new Map(), position: null, lists: [] };
      this.byVehicle.set(vehicleId, event);
    }
    if (reader && !event.lists.includes(reader)) event.lists.push(reader);
    return event;
  }
}

/**
 * The one newest-reading rule (`replacesNewest`: later device time, then higher seq, a full tie to the
 * later message), as `vehicle_state` applies it within a batch, so the event and the stored state agree.
 */
function take(event: VehicleEvent, key: string, value: MetricValue, tsMs: number, seq: number): boolean {
  const current = event.newest.metrics[key];
  if (!current) event.newest.metrics[key] = { value, ts_ms: tsMs };
  else if (replacesNewest(tsMs, seq, current.ts_ms, event.seqs.get(key) ?? 0)) {
    current.value = value;
    current.ts_ms = tsMs;
  } else return false;
  event.seqs.set(key, seq);
  return true;
}

/** Keeps the newest position by the same rule (a sample itself where there is one: no reading per sample). */
function offerPosition(event: VehicleEvent, candidate: NonNullable<VehicleEvent['position']>): boolean {
  const current = event.position;
  if (current && !replacesNewest(candidate.tsMs, candidate.seq, current.tsMs, current.seq)) return false;
  event.position = candidate;
  return true;
}

function samplesOf(vehicleId: string, lists: VehicleEvent['lists']): readonly StoredSample[] {
  const all: StoredSample[] = [];
  for (const list of lists) {
    for (const s of typeof list === 'function' ? list() : list) if (s.vehicleId === vehicleId) all.push(s);
  }
  return all.sort((a, b) => a.tsMs - b.tsMs || a.seq - b.seq);
}
