import type { MetricValue } from '@tacho/protocol';
import { POSITION_FIELDS } from '../telemetry/batch-rows.js';
import { type Cursor, type MarkRead, type ProcessorSample, positionOf } from './runner.js';

/**
 * The samples the SQLite writer thread just committed, handed to the processing thread so its rounds
 * need not read them back (decision 0029). Reading a vehicle's newest samples back cost ~20 µs a row:
 * rows of many vehicles share each page, and SQLite drops a connection's page cache whenever another
 * connection has written, so nearly every row was a page read from the WAL.
 *
 * Only ever a shortcut: a round takes its samples from here when every mark it read (in its snapshot)
 * names a batch held here, and reads them from the database otherwise (a batch whose message has not
 * arrived yet, a thread started after it, a backlog, late data, a first round). Marks are written in the
 * batch's transaction and their ids never come back (AUTOINCREMENT), and a mark later batches were folded
 * into counts them (decision 0033), so "every batch of every mark held" means "every committed sample
 * after the cursor held" (see `LocalPasses.work`).
 */

/** One committed batch's samples, as the writer thread posts them (columns, as they crossed to it). */
export interface CommittedBatch {
  /** Per vehicle: the mark each processor got for this batch, and the index of every sample stored. */
  readonly vehicles: ReadonlyArray<{
    readonly vehicleId: string;
    /** `batch`: which of the batches folded into the mark this one is (1 for the first; decision 0033). */
    readonly marks: ReadonlyArray<readonly [processor: string, id: number, batch: number]>;
    /** Where each of its stored samples is: part, index, part, index, … */
    readonly samples: Uint32Array;
  }>;
  readonly parts: ReadonlyArray<{
    /** ts, seq, received, then the position's fields, `NUMBERS` per sample (packed-batch.ts). */
    readonly numbers: Float64Array;
    readonly metrics: string;
    readonly metricsEnd: Uint32Array;
  }>;
}

/** The broadcast channel a database file's committed batches go out on. */
export function committedChannelName(file: string): string {
  return `tacho:committed:${file}`;
}

const NUMBERS = 3 + POSITION_FIELDS.length;

interface Entry {
  /** Processor → its mark of this batch and which of the mark's batches it is, until consumed. */
  readonly marks: Map<string, { readonly id: number; readonly batch: number }>;
  /**
   * The batch's columns and where the vehicle's samples are in them: kept as they came (a few large
   * values, not thousands of small objects for the garbage collector to trace) and parsed when used.
   */
  readonly parts: CommittedBatch['parts'];
  readonly at: Uint32Array;
}

/** How many consumed marks the tail remembers (see `consumedBatches`); an older one forgotten costs a read. */
const REMEMBERED_MARKS = 100_000;

/** What the processing thread holds of committed batches, per vehicle, until every processor used them. */
export class CommittedTail {
  private readonly byVehicle = new Map<string, Entry[]>();
  /**
   * Per processor and mark: how many of its batches committed rounds consumed. A batch folded into a mark
   * after a round read it leaves the mark in place (decision 0033); the next round then needs only the
   * batches after these.
   */
  private readonly consumedBatches = new Map<string, number>();
  private held = 0;
  /** Rounds served from here, and rounds that read the database instead. */
  hits = 0;
  misses = 0;

  /**
   * `limit`: samples held at most (~0.4 KB each as they came; a pass under a flood takes tens of
   * thousands); past it each vehicle's older half goes, and their rounds read the database.
   */
  constructor(private readonly limit = 150_000) {}

  /** Samples held now (tests and metrics). */
  get size(): number {
    return this.held;
  }

  add(batch: CommittedBatch): void {
    for (const v of batch.vehicles) {
      if (v.samples.length === 0) continue;
      const marks: Entry['marks'] = new Map();
      for (const [processor, id, n] of v.marks) {
        // A round already consumed it (its message came after the round read the database instead).
        if (n > (this.consumedBatches.get(markKey(processor, id)) ?? 0))
          marks.set(processor, { id, batch: n });
      }
      if (marks.size === 0) continue;
      const entries = this.byVehicle.get(v.vehicleId) ?? [];
      entries.push({ marks, parts: batch.parts, at: v.samples });
      this.byVehicle.set(v.vehicleId, entries);
      this.held += v.samples.length / 2;
    }
    if (this.held > this.limit) this.shed();
  }

  /**
   * The samples of exactly the batches `marks` hold for `processor` (those not consumed yet), in
   * device-time order, if every one of them is held and they number at most `limit`; else null (the round
   * reads the database).
   */
  samplesFor(
    processor: string,
    vehicleId: string,
    marks: readonly MarkRead[],
    cursor: Cursor | null,
    limit: number,
  ): ProcessorSample[] | null {
    const found = this.find(processor, vehicleId, marks, cursor, limit);
    if (found) this.hits++;
    else this.misses++;
    return found;
  }

  private find(
    processor: string,
    vehicleId: string,
    marks: readonly MarkRead[],
    cursor: Cursor | null,
    limit: number,
  ): ProcessorSample[] | null {
    const entries = this.byVehicle.get(vehicleId);
    if (!entries || marks.length === 0) return null;
    // Each mark's entries, in commit order (which is the order of their batch numbers).
    const byMark = new Map<number, Entry[]>();
    for (const e of entries) {
      const mark = e.marks.get(processor);
      if (!mark) continue;
      const list = byMark.get(mark.id);
      if (list) list.push(e);
      else byMark.set(mark.id, [e]);
    }
    const out: ProcessorSample[] = [];
    for (const mark of marks) {
      const held = byMark.get(mark.id);
      if (!held) return null;
      // Every batch of the mark from the first not consumed to the last the round read must be here;
      // batches folded in since may be too (committed, so theirs to take).
      let next = (this.consumedBatches.get(markKey(processor, mark.id)) ?? 0) + 1;
      for (const e of held) if (e.marks.get(processor)!.batch === next) next++;
      if (next <= mark.batches) return null;
      for (const entry of held) {
        if (out.length + entry.at.length / 2 > limit) return null;
        for (let k = 0; k < entry.at.length; k += 2) {
          const s = toSample(entry.parts[entry.at[k]!]!, entry.at[k + 1]!);
          if (after(s, cursor)) out.push(s);
        }
      }
    }
    // Batches usually come in device-time order: sorting is needed only when they overlap.
    if (!inOrder(out)) out.sort(byTime);
    return out;
  }

  /** `processor` consumed these marks of the vehicle, as far as it read them (its round committed). */
  consumed(processor: string, vehicleId: string, marks: readonly MarkRead[]): void {
    const upTo = new Map<number, number>();
    for (const mark of marks) {
      upTo.set(mark.id, mark.batches);
      const key = markKey(processor, mark.id);
      this.consumedBatches.delete(key);
      this.consumedBatches.set(key, mark.batches);
    }
    if (this.consumedBatches.size > REMEMBERED_MARKS) {
      for (const key of [...this.consumedBatches.keys()].slice(0, REMEMBERED_MARKS / 10))
        this.consumedBatches.delete(key);
    }
    this.drop(vehicleId, (m) => m.batch <= (upTo.get(m.id) ?? 0), processor);
  }

  /** Every mark of `processor` was dropped (it has nothing to do anywhere). */
  droppedAll(processor: string): void {
    for (const vehicleId of [...this.byVehicle.keys()]) this.drop(vehicleId, () => true, processor);
  }

  /** Takes `processor`'s marks that `gone` picks off the vehicle's entries; entries left with none go. */
  private drop(
    vehicleId: string,
    gone: (mark: { readonly id: number; readonly batch: number }) => boolean,
    processor: string,
  ): void {
    const entries = this.byVehicle.get(vehicleId);
    if (!entries) return;
    const kept = entries.filter((e) => {
      const mark = e.marks.get(processor);
      if (mark && gone(mark)) e.marks.delete(processor);
      if (e.marks.size > 0) return true;
      this.held -= e.at.length / 2;
      return false;
    });
    if (kept.length > 0) this.byVehicle.set(vehicleId, kept);
    else this.byVehicle.delete(vehicleId);
  }

  /** Drops the oldest half of what is held (processing is far behind: its rounds read the database). */
  private shed(): void {
    // Per vehicle the entries are in commit order: each vehicle's older half goes.
    for (const [vehicleId, entries] of this.byVehicle) {
      const drop = Math.ceil(entries.length / 2);
      for (const e of entries.slice(0, drop)) this.held -= e.at.length / 2;
      const kept = entries.slice(drop);
      if (kept.length > 0) this.byVehicle.set(vehicleId, kept);
      else this.byVehicle.delete(vehicleId);
    }
  }
}

function markKey(processor: string, id: number): string {
  return `${processor}:${id}`;
}

const byTime = (a: ProcessorSample, b: ProcessorSample) => a.tsMs - b.tsMs || a.seq - b.seq;

function inOrder(samples: readonly ProcessorSample[]): boolean {
  for (let i = 1; i < samples.length; i++) if (byTime(samples[i - 1]!, samples[i]!) > 0) return false;
  return true;
}

function after(s: ProcessorSample, cursor: Cursor | null): boolean {
  return cursor === null || s.tsMs > cursor.tsMs || (s.tsMs === cursor.tsMs && s.seq > cursor.seq);
}

/** Sample `i` of a part as a processor sees it: the same values a read of its row gives. */
function toSample(part: CommittedBatch['parts'][number], i: number): ProcessorSample {
  const at = i * NUMBERS;
  const n = part.numbers;
  const text = part.metrics.slice(i === 0 ? 0 : part.metricsEnd[i - 1], part.metricsEnd[i]);
  const metrics = JSON.parse(text) as Record<string, MetricValue>;
  const position = positionOf(n[at + 3]!, n[at + 4]!, n[at + 5]!, n[at + 6]!, n[at + 7]!, n[at + 8]!);
  return position
    ? { tsMs: n[at]!, seq: n[at + 1]!, metrics, position }
    : { tsMs: n[at]!, seq: n[at + 1]!, metrics };
}
