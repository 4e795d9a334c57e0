/**
 * What the SQLite writer thread owes `vehicle_state` and the rollups, kept in memory between flushes.
 *
 * Per batch, the state of every metric of every vehicle in it and a minute and an hour bucket per numeric
 * metric cost more than the samples themselves (100 vehicles: ~1,100 state and ~1,600 rollup upserts
 * for a few hundred samples). Folded in memory and written once the writer is idle for 100 ms, at the
 * latest a second later, and before anyone reads those tables, they cost that once per flush.
 * Decision record: docs/decisions/0007-deferred-derived-writes.md.
 *
 * Crash safety: the batch transaction that inserts samples whose derived rows are still owed also
 * records, in `settings`, the smallest `samples` rowid among them; the flush transaction removes it. A
 * new writer thread starts by folding every sample from that rowid up again. Rowids only grow (SQLite
 * gives a new row the largest rowid + 1, and the batch lowers the mark should one ever come out lower),
 * and only this thread inserts samples, so those are exactly the samples the tables lack. (VACUUM may
 * renumber the rowids of a table without an INTEGER PRIMARY KEY: never run it while a mark is set.)
 */
import { type Kysely, sql } from 'kysely';
import type { Database, RollupsTable } from '../../db/index.js';
import { latestState, POSITION_FIELDS, type StoredSample } from './batch-rows.js';
import { aggregate, mergeBucket, type RollupPeriod, writeBuckets } from './rollups.js';
import {
  existingVehicleIds,
  SAMPLE_COLUMNS,
  type SampleRow,
  type StateRow,
  upsertVehicleState,
} from './telemetry.repo.js';

/** The `settings` key holding the smallest rowid of the samples whose derived rows are not written yet. */
export const DERIVED_MARK_KEY = 'telemetry.derived_from_rowid';

export class DerivedBuffer {
  private readonly state = new Map<string, StateRow>();
  private readonly buckets: Record<RollupPeriod, Map<string, RollupsTable>> = {
    minute: new Map(),
    hour: new Map(),
  };
  /** The mark as the database has it (null: nothing owed). */
  private mark: number | null = null;

  /** Pending rows (state and buckets): the writer flushes early when this grows large. */
  get size(): number {
    return this.state.size + this.buckets.minute.size + this.buckets.hour.size;
  }

  /**
   * Reads the mark a previous writer left and folds the samples it covers back in; returns how many.
   * Call once, before the first batch (every sample from the mark up is then one the tables lack).
   */
  async recover(db: Kysely<Database>): Promise<number> {
    const found = await db
      .selectFrom('settings')
      .select('value')
      .where('key', '=', DERIVED_MARK_KEY)
      .executeTakeFirst();
    if (!found) return 0;
    this.mark = Number(found.value);
    const columns = sql.join(SAMPLE_COLUMNS.map((c) => sql.ref(c)));
    const rows =
      await sql<SampleRow>`select ${columns} from samples where rowid >= ${this.mark} order by rowid`.execute(
        db,
      );
    this.add(foldSamples(rows.rows.map(storedOf)));
    return rows.rows.length;
  }

  /**
   * Records, inside the batch's transaction, that samples from `minRowid` up are owed derived rows.
   * Writes only when the mark is new or lower.
   */
  async markOwed(trx: Kysely<Database>, minRowid: number): Promise<number | null> {
    if (this.mark !== null && this.mark <= minRowid) return null;
    const value = String(minRowid);
    await trx
      .insertInto('settings')
      .values({ key: DERIVED_MARK_KEY, value, updated_ms: Date.now() })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_ms: Date.now() }))
      .execute();
    return minRowid;
  }

  /**
   * After the batch committed: the mark `markOwed` wrote, if any, and what `foldSamples` made of the
   * samples it inserted (not its duplicates), in the order they came.
   */
  committed(folds: readonly FoldedSamples[], mark: number | null): void {
    if (mark !== null) this.mark = mark;
    for (const folded of folds) this.add(folded);
  }

  /**
   * Writes everything owed and removes the mark, inside `trx`. Vehicles deleted meanwhile are skipped
   * (their samples went with them). Call `flushed()` once `trx` committed.
   */
  async write(trx: Kysely<Database>): Promise<void> {
    if (this.mark === null && this.size === 0) return;
    const vehicles = new Set<string>();
    for (const row of this.state.values()) vehicles.add(row.vehicle_id);
    for (const period of ['minute', 'hour'] as const)
      for (const b of this.buckets[period].values()) vehicles.add(b.vehicle_id);
    const existing = await existingVehicleIds(trx, vehicles);
    const alive = <T extends { vehicle_id: string }>(rows: Iterable<T>) =>
      [...rows].filter((r) => existing.has(r.vehicle_id));
    const state = alive(this.state.values());
    if (state.length > 0) await upsertVehicleState(trx, state);
    await writeBuckets(trx, {
      minute: alive(this.buckets.minute.values()),
      hour: alive(this.buckets.hour.values()),
    });
    await trx.deleteFrom('settings').where('key', '=', DERIVED_MARK_KEY).execute();
  }

  /** After the flush transaction committed. */
  flushed(): void {
    this.state.clear();
    this.buckets.minute.clear();
    this.buckets.hour.clear();
    this.mark = null;
  }

  private add(folded: FoldedSamples): void {
    for (const row of folded.state) {
      const key = `${row.vehicle_id}\u0000${row.metric}`;
      const current = this.state.get(key);
      // Later batches win ties, as the upsert's `ts_ms <= excluded.ts_ms` does.
      if (!current || row.ts_ms >= current.ts_ms) this.state.set(key, row);
    }
    for (const period of ['minute', 'hour'] as const) {
      const pending = this.buckets[period];
      for (const b of folded[period]) {
        const key = `${b.vehicle_id}\u0000${b.metric}\u0000${b.bucket_ms}`;
        const current = pending.get(key);
        if (current) mergeBucket(current, b);
        else pending.set(key, b);
      }
    }
  }
}

/** What a batch of samples adds to the derived tables: each metric's newest value, and its buckets. */
export interface FoldedSamples extends Record<RollupPeriod, RollupsTable[]> {
  readonly state: StateRow[];
}

export function foldSamples(samples: readonly StoredSample[]): FoldedSamples {
  return { state: latestState(samples), ...aggregate(samples) };
}

/** A stored sample as read back from its row (what state and rollups need of it). */
function storedOf(row: SampleRow): StoredSample {
  const sample: StoredSample = {
    vehicleId: row.vehicle_id,
    tsMs: Number(row.ts_ms),
    seq: Number(row.seq),
    receivedMs: Number(row.received_ms),
    source: row.source,
    metrics: parseMetrics(row.metrics),
  };
  if (row.lat === null || row.lon === null) return sample;
  const position: Record<string, number> = {};
  for (const key of POSITION_FIELDS) {
    const value = row[key];
    if (value !== null) position[key] = value;
  }
  return { ...sample, position: position as unknown as StoredSample['position'] };
}

/** The writer stores JSON; should a row have been altered by hand, it must not stop every later start. */
function parseMetrics(text: string): StoredSample['metrics'] {
  try {
    const value: unknown = JSON.parse(text);
    if (value !== null && typeof value === 'object' && !Array.isArray(value))
      return value as StoredSample['metrics'];
  } catch {}
  return {};
}
