import { type Kysely, sql } from 'kysely';
import type { Database, RollupsTable } from '../../db/index.js';
import {
  HOUR_MS,
  type RollupPeriod,
  rollupTables as tables,
  rollupWidths as widths,
} from '../telemetry/rollups.js';

type Bucket = RollupsTable;

/** Rollup rows of one metric in [from, to), oldest first. */
export async function readRollups(
  db: Kysely<Database>,
  period: RollupPeriod,
  vehicleId: string,
  metric: string,
  fromMs: number,
  toMs: number,
): Promise<Bucket[]> {
  const width = widths[period];
  return db
    .selectFrom(tables[period])
    .selectAll()
    .where('vehicle_id', '=', vehicleId)
    .where('metric', '=', metric)
    .where('bucket_ms', '>=', Math.floor(fromMs / width) * width)
    .where('bucket_ms', '<', toMs)
    .orderBy('bucket_ms')
    .execute();
}

/**
 * About how many raw samples carry the metric in [from, to), from the hour rollups (no raw scan, a few
 * hundred rows for a month): the whole hours touching the range count, which is enough to choose a source.
 */
export async function countRaw(
  db: Kysely<Database>,
  vehicleId: string,
  metric: string,
  fromMs: number,
  toMs: number,
): Promise<number> {
  const row = await db
    .selectFrom('rollups_hour')
    .select((eb) => eb.fn.sum<number | string | null>('count').as('n'))
    .where('vehicle_id', '=', vehicleId)
    .where('metric', '=', metric)
    .where('bucket_ms', '>=', Math.floor(fromMs / HOUR_MS) * HOUR_MS)
    .where('bucket_ms', '<', toMs)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/**
 * Rollup rows of one metric merged, inside the database, into groups `groupMs` wide (a whole number of
 * buckets): one row per group with its minimum and maximum. Used when a range holds far more buckets
 * than a chart has points, so only about `maxPoints` rows ever reach JavaScript. The group's start time
 * stands for when its extremes happened (off by less than one chart pixel).
 */
export async function readRollupGroups(
  db: Kysely<Database>,
  period: RollupPeriod,
  vehicleId: string,
  metric: string,
  fromMs: number,
  toMs: number,
  groupMs: number,
): Promise<Array<{ start_ms: number; lo: number; hi: number }>> {
  const width = widths[period];
  const base = Math.floor(fromMs / width) * width;
  const group = Math.max(width, Math.ceil(groupMs / width) * width);
  // Integer arithmetic on both engines: the offset is a bigint, the cast truncates a non-negative quotient.
  const g = sql<number>`cast((${sql.ref('bucket_ms')} - ${base}) / ${group} as bigint)`;
  const rows = await db
    .selectFrom(tables[period])
    .select((eb) => [
      g.as('g'),
      eb.fn.min<number>('min_value').as('lo'),
      eb.fn.max<number>('max_value').as('hi'),
    ])
    .where('vehicle_id', '=', vehicleId)
    .where('metric', '=', metric)
    .where('bucket_ms', '>=', base)
    .where('bucket_ms', '<', toMs)
    .groupBy(sql`g`)
    .orderBy(sql`g`)
    .execute();
  return rows.map((r) => ({ start_ms: base + Number(r.g) * group, lo: Number(r.lo), hi: Number(r.hi) }));
}
