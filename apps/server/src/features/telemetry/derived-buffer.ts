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
import type { MetricValue, Position } from '@tacho/protocol';
import { type Kysely, sql } from 'kysely';
import type { Database, RollupsTable } from '../../db/index.js';
import { latestState, POSITION_FIELDS, replacesNewest, type StoredSample } from './batch-rows.js';
import {
  aggregate,
  foldValue,
  HOUR_MS,
  MINUTE_MS,
  mergeBucket,
  numeric,
  type RollupPeriod,
  writeBuckets,
} from './rollups.js';
import {
  existingVehicleIds,
  SAMPLE_COLUMNS,
  type SampleRow,
  type StateRow,
  upsertVehicleState,
} from './telemetry.repo.js';

/** The `settings` key holding the smallest rowid of the samples whose derived rows are not written yet. */
export const DERIVED_MARK_KEY = 'telemetry.derived_from_rowid';

/** A metric's newest value owed to `vehicle_state`, and the sample's time and seq it came from. */
interface StateEntry {
  tsMs: number;
  seq: number;
  /** The value, or (`encoded`) its JSON text as a fold made on the main thread carries it. */
  value: unknown;
  encoded: boolean;
}

/** Bucket start → metric → running aggregate. */
type Buckets = Map<number, Map<string, RollupsTable>>;

/** What one vehicle owes: each metric's newest reading, and its minute and hour buckets. */
interface VehicleOwed {
  readonly state: Map<string, StateEntry>;
  readonly minute: Buckets;
  readonly hour: Buckets;
}

export class DerivedBuffer {
  private readonly vehicles = new Map<string, VehicleOwed>();
  /** State entries and buckets pending. */
  private rows = 0;
  /** The mark as the database has it (null: nothing owed). */
  private mark: number | null = null;

  /** Pending rows (state and buckets): the writer flushes early when this grows large. */
  get size(): number {
    return this.rows;
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
    for (const row of rows.rows) {
      this.addSample(
        row.vehicle_id,
        Number(row.ts_ms),
        Number(row.seq),
        parseMetrics(row.metrics),
        positionOf(row),
      );
    }
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

  /** After a batch committed: the mark `markOwed` wrote, if any. Then add what it inserted. */
  committed(mark: number | null): void {
    if (mark !== null) this.mark = mark;
  }

  /** Adds what the main thread folded of samples that were all inserted (a fold of its own). */
  addFolded(folded: FoldedSamples): void {
    for (const row of folded.state)
      this.offerState(this.owedBy(row.vehicle_id).state, row.metric, row.value, row.ts_ms, row.seq, true);
    for (const period of ['minute', 'hour'] as const) {
      for (const b of folded[period]) {
        const group = this.groupOf(this.owedBy(b.vehicle_id)[period], b.bucket_ms);
        const current = group.get(b.metric);
        if (current) mergeBucket(current, b);
        else {
          this.rows++;
          group.set(b.metric, b);
        }
      }
    }
  }

  /** Adds an inserted sample: its metrics' newest values (and its position's) and their buckets. */
  addSample(
    vehicleId: string,
    tsMs: number,
    seq: number,
    metrics: Readonly<Record<string, MetricValue>>,
    position: Position | undefined,
  ): void {
    const owed = this.owedBy(vehicleId);
    const minuteMs = Math.floor(tsMs / MINUTE_MS) * MINUTE_MS;
    const hourMs = Math.floor(tsMs / HOUR_MS) * HOUR_MS;
    const minute = this.groupOf(owed.minute, minuteMs);
    const hour = this.groupOf(owed.hour, hourMs);
    for (const metric in metrics) {
      const value = metrics[metric]!;
      this.offerState(owed.state, metric, value, tsMs, seq);
      const v = numeric(value);
      if (v === null) continue;
      if (foldValue(minute, vehicleId, minuteMs, tsMs, metric, v)) this.rows++;
      if (foldValue(hour, vehicleId, hourMs, tsMs, metric, v)) this.rows++;
    }
    // The position is kept as one more metric (a metric of that name would have taken the place).
    if (position && !('position' in metrics)) this.offerState(owed.state, 'position', position, tsMs, seq);
  }

  /**
   * Writes everything owed and removes the mark, inside `trx`. Vehicles deleted meanwhile are skipped
   * (their samples went with them). Call `flushed()` once `trx` committed.
   */
  async write(trx: Kysely<Database>): Promise<void> {
    if (this.mark === null && this.rows === 0) return;
    const existing = await existingVehicleIds(trx, new Set(this.vehicles.keys()));
    const { state, minute, hour } = this.owed((vehicleId) => existing.has(vehicleId));
    if (state.length > 0) await upsertVehicleState(trx, state);
    await writeBuckets(trx, { minute, hour });
    await trx.deleteFrom('settings').where('key', '=', DERIVED_MARK_KEY).execute();
  }

  /** The rows owed, of the vehicles `keep` keeps, as `write` writes them. */
  owed(keep: (vehicleId: string) => boolean = () => true): FoldedSamples {
    const owed: FoldedSamples = { state: [], minute: [], hour: [] };
    for (const [vehicleId, by] of this.vehicles) {
      if (!keep(vehicleId)) continue;
      for (const [metric, e] of by.state) {
        const value = e.encoded ? (e.value as string) : JSON.stringify(e.value);
        owed.state.push({ vehicle_id: vehicleId, metric, value, ts_ms: e.tsMs, seq: e.seq });
      }
      for (const period of ['minute', 'hour'] as const)
        for (const group of by[period].values()) for (const b of group.values()) owed[period].push(b);
    }
    return owed;
  }

  /** After the flush transaction committed. */
  flushed(): void {
    this.vehicles.clear();
    this.rows = 0;
    this.mark = null;
  }

  private owedBy(vehicleId: string): VehicleOwed {
    let owed = this.vehicles.get(vehicleId);
    if (!owed) {
      owed = { state: new Map(), minute: new Map(), hour: new Map() };
      this.vehicles.set(vehicleId, owed);
    }
    return owed;
  }

  private groupOf(buckets: Buckets, bucketMs: number): Map<string, RollupsTable> {
    let group = buckets.get(bucketMs);
    if (!group) {
      group = new Map();
      buckets.set(bucketMs, group);
    }
    return group;
  }

  /** A reading of `metric`; `encoded` when `value` is its JSON text already. */
  private offerState(
    state: Map<string, StateEntry>,
    metric: string,
    value: unknown,
    tsMs: number,
    seq: number,
    encoded = false,
  ): void {
    const current = state.get(metric);
    if (!current) {
      this.rows++;
      state.set(metric, { tsMs, seq, value, encoded });
      return;
    }
    // Readings come in the order their messages were committed: a full tie goes to the later one.
    if (!replacesNewest(tsMs, seq, current.tsMs, current.seq)) return;
    current.tsMs = tsMs;
    current.seq = seq;
    current.value = value;
    current.encoded = encoded;
  }
}

/** What a batch of samples adds to the derived tables: each metric's newest value, and its buckets. */
export interface FoldedSamples extends Record<RollupPeriod, RollupsTable[]> {
  readonly state: StateRow[];
}

export function foldSamples(samples: readonly StoredSample[]): FoldedSamples {
  return { state: latestState(samples), ...aggregate(samples) };
}

/** A stored sample's position as read back from its row. */
function positionOf(row: SampleRow): Position | undefined {
  if (row.lat === null || row.lon === null) return undefined;
  const position: Record<string, number> = {};
  for (const key of POSITION_FIELDS) {
    const value = row[key];
    if (value !== null) position[key] = value;
  }
  return position as unknown as Position;
}

/** The writer stores JSON; should a row have been altered by hand, it must not stop every later start. */
function parseMetrics(text: string): Record<string, MetricValue> {
  try {
    const value: unknown = JSON.parse(text);
    if (value !== null && typeof value === 'object' && !Array.isArray(value))
      return value as Record<string, MetricValue>;
  } catch {}
  return {};
}
