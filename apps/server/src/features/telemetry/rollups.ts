/**
 * The minute and hour rollups, written by the ingest batch in the transaction that stores the samples
 * (features/readings reads them to answer long ranges fast).
 */
import { type Kysely, sql } from 'kysely';
import { ChunkedStatement } from '../../db/chunked-statement.js';
import type { Database, RollupsTable } from '../../db/index.js';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

export type RollupPeriod = 'minute' | 'hour';
export const rollupTables = { minute: 'rollups_minute', hour: 'rollups_hour' } as const;
export const rollupWidths = { minute: MINUTE_MS, hour: HOUR_MS } as const;

/** A sample as the rollups need it: only rows actually inserted (not duplicates) may be passed in. */
export interface RollupSample {
  readonly vehicleId: string;
  readonly tsMs: number;
  /** Canonical metrics, as an object or as the JSON text stored in `samples.metrics`. */
  readonly metrics: Readonly<Record<string, unknown>> | string;
}

type Bucket = RollupsTable;

/** Numbers count as themselves, booleans as 0/1; strings (enums, text) have no aggregate. */
export function numeric(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return null;
}

/** The buckets of one (vehicle, period start): metric → running aggregate. */
type Group = Map<string, Bucket>;

/** One string key per sample and period, not per metric: each metric's bucket is then a small-map lookup. */
function groupOf(groups: Map<string, Group>, vehicleId: string, bucketMs: number): Group {
  const key = `${vehicleId}\u0000${bucketMs}`;
  let group = groups.get(key);
  if (!group) {
    group = new Map();
    groups.set(key, group);
  }
  return group;
}

/**
 * Folds value `v` of `metric`, measured at `tsMs`, into its bucket in `group` (created if missing: then
 * returns true). Ties keep the first minimum and maximum met and the last value met, as the upsert does.
 */
export function foldValue(
  group: Map<string, Bucket>,
  vehicleId: string,
  bucketMs: number,
  tsMs: number,
  metric: string,
  v: number,
): boolean {
  const b = group.get(metric);
  if (!b) {
    group.set(metric, {
      vehicle_id: vehicleId,
      metric,
      bucket_ms: bucketMs,
      count: 1,
      sum: v,
      min_value: v,
      min_ts_ms: tsMs,
      max_value: v,
      max_ts_ms: tsMs,
      first_value: v,
      first_ts_ms: tsMs,
      last_value: v,
      last_ts_ms: tsMs,
    });
    return true;
  }
  b.count += 1;
  b.sum += v;
  if (v < b.min_value) {
    b.min_value = v;
    b.min_ts_ms = tsMs;
  }
  if (v > b.max_value) {
    b.max_value = v;
    b.max_ts_ms = tsMs;
  }
  if (tsMs < b.first_ts_ms) {
    b.first_value = v;
    b.first_ts_ms = tsMs;
  }
  if (tsMs >= b.last_ts_ms) {
    b.last_value = v;
    b.last_ts_ms = tsMs;
  }
  return false;
}

function rowsOf(groups: Map<string, Group>): Bucket[] {
  const rows: Bucket[] = [];
  for (const group of groups.values()) for (const b of group.values()) rows.push(b);
  return rows;
}

/**
 * Folds samples one at a time into one row per (vehicle, metric, bucket) for each period: `sample` names
 * the vehicle and time, `add` folds each of its numeric values. Consecutive samples mostly share a vehicle
 * and a minute (an HTTP batch is one vehicle's run): their groups are then the previous sample's, found
 * without building a key.
 */
export class RollupFolder {
  private readonly minute = new Map<string, Group>();
  private readonly hour = new Map<string, Group>();
  private minuteGroup: Group | undefined;
  private hourGroup: Group | undefined;
  private groupsOf: { vehicleId: string; minuteMs: number } | undefined;
  private vehicleId = '';
  private tsMs = 0;
  private minuteMs = 0;
  private hourMs = 0;

  sample(vehicleId: string, tsMs: number): void {
    this.vehicleId = vehicleId;
    this.tsMs = tsMs;
    this.minuteMs = Math.floor(tsMs / MINUTE_MS) * MINUTE_MS;
    this.hourMs = Math.floor(tsMs / HOUR_MS) * HOUR_MS;
    if (this.groupsOf?.vehicleId !== vehicleId || this.groupsOf.minuteMs !== this.minuteMs) {
      this.minuteGroup = this.hourGroup = this.groupsOf = undefined;
    }
  }

  /** Folds a value of the current sample: numbers as themselves, booleans as 0/1, anything else not. */
  add(metric: string, value: unknown): void {
    const v = numeric(value);
    if (v === null) return;
    if (!this.minuteGroup || !this.hourGroup) {
      this.minuteGroup = groupOf(this.minute, this.vehicleId, this.minuteMs);
      this.hourGroup = groupOf(this.hour, this.vehicleId, this.hourMs);
      this.groupsOf = { vehicleId: this.vehicleId, minuteMs: this.minuteMs };
    }
    foldValue(this.minuteGroup, this.vehicleId, this.minuteMs, this.tsMs, metric, v);
    foldValue(this.hourGroup, this.vehicleId, this.hourMs, this.tsMs, metric, v);
  }

  rows(): Record<RollupPeriod, Bucket[]> {
    return { minute: rowsOf(this.minute), hour: rowsOf(this.hour) };
  }
}

/** Aggregates samples in memory into one row per (vehicle, metric, bucket) for each period. */
export function aggregate(samples: readonly RollupSample[]): Record<RollupPeriod, Bucket[]> {
  const folder = new RollupFolder();
  for (const s of samples) {
    const metrics =
      typeof s.metrics === 'string' ? (JSON.parse(s.metrics) as Record<string, unknown>) : s.metrics;
    folder.sample(s.vehicleId, s.tsMs);
    for (const metric in metrics) folder.add(metric, metrics[metric]);
  }
  return folder.rows();
}

const COLUMNS = [
  'vehicle_id',
  'metric',
  'bucket_ms',
  'count',
  'sum',
  'min_value',
  'min_ts_ms',
  'max_value',
  'max_ts_ms',
  'first_value',
  'first_ts_ms',
  'last_value',
  'last_ts_ms',
] as const satisfies ReadonlyArray<keyof Bucket>;

/** The upsert merging a batch's buckets into one period's table. */
function rollupUpsert(period: RollupPeriod): ChunkedStatement<Bucket> {
  const table = rollupTables[period];
  const t = (column: string) => sql.ref(`${table}.${column}`);
  const x = (column: string) => sql.ref(`excluded.${column}`);
  const placeholder = Object.fromEntries(
    COLUMNS.map((c) => [c, c === 'vehicle_id' || c === 'metric' ? '' : 0]),
  ) as unknown as Bucket;
  return new ChunkedStatement<Bucket>(`${period} rollups upsert`, COLUMNS, (db, rows) =>
    db
      .insertInto(table)
      .values(Array.from({ length: rows }, () => placeholder))
      .onConflict((oc) =>
        oc.columns(['vehicle_id', 'metric', 'bucket_ms']).doUpdateSet({
          count: sql`${t('count')} + ${x('count')}`,
          sum: sql`${t('sum')} + ${x('sum')}`,
          min_value: sql`case when ${x('min_value')} < ${t('min_value')} then ${x('min_value')} else ${t('min_value')} end`,
          min_ts_ms: sql`case when ${x('min_value')} < ${t('min_value')} then ${x('min_ts_ms')} else ${t('min_ts_ms')} end`,
          max_value: sql`case when ${x('max_value')} > ${t('max_value')} then ${x('max_value')} else ${t('max_value')} end`,
          max_ts_ms: sql`case when ${x('max_value')} > ${t('max_value')} then ${x('max_ts_ms')} else ${t('max_ts_ms')} end`,
          first_value: sql`case when ${x('first_ts_ms')} < ${t('first_ts_ms')} then ${x('first_value')} else ${t('first_value')} end`,
          first_ts_ms: sql`case when ${x('first_ts_ms')} < ${t('first_ts_ms')} then ${x('first_ts_ms')} else ${t('first_ts_ms')} end`,
          last_value: sql`case when ${x('last_ts_ms')} >= ${t('last_ts_ms')} then ${x('last_value')} else ${t('last_value')} end`,
          last_ts_ms: sql`case when ${x('last_ts_ms')} >= ${t('last_ts_ms')} then ${x('last_ts_ms')} else ${t('last_ts_ms')} end`,
        }),
      ),
  );
}

const rollupUpserts = { minute: rollupUpsert('minute'), hour: rollupUpsert('hour') };

/**
 * Merges the samples into the minute and hour rollups. Call it inside the transaction that inserted the
 * samples, with only the rows the insert reported as new, so a redelivered message counts once. The merge
 * is written with CASE, not least()/greatest() or min()/max(), so one statement serves both engines.
 */
export async function writeRollups(db: Kysely<Database>, samples: readonly RollupSample[]): Promise<void> {
  if (samples.length === 0) return;
  await writeBuckets(db, aggregate(samples));
}

/** Merges aggregated buckets (one per key and period) into the rollup tables. */
export async function writeBuckets(
  db: Kysely<Database>,
  buckets: Record<RollupPeriod, Bucket[]>,
): Promise<void> {
  if (buckets.minute.length > 0) await rollupUpserts.minute.run(db, buckets.minute);
  if (buckets.hour.length > 0) await rollupUpserts.hour.run(db, buckets.hour);
}

/** Folds bucket `from` into `into` (same key): what the upsert does in the database, done in memory. */
export function mergeBucket(into: Bucket, from: Bucket): void {
  into.count += from.count;
  into.sum += from.sum;
  if (from.min_value < into.min_value) {
    into.min_value = from.min_value;
    into.min_ts_ms = from.min_ts_ms;
  }
  if (from.max_value > into.max_value) {
    into.max_value = from.max_value;
    into.max_ts_ms = from.max_ts_ms;
  }
  if (from.first_ts_ms < into.first_ts_ms) {
    into.first_value = from.first_value;
    into.first_ts_ms = from.first_ts_ms;
  }
  if (from.last_ts_ms >= into.last_ts_ms) {
    into.last_value = from.last_value;
    into.last_ts_ms = from.last_ts_ms;
  }
}
