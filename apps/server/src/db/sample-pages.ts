import type { Db } from './database.js';

/** The columns a sample is read with for paging (what processors and exporters need). */
export const SAMPLE_PAGE_COLUMNS = [
  'ts_ms',
  'seq',
  'metrics',
  'lat',
  'lon',
  'alt_m',
  'heading_deg',
  'speed_kmh',
  'accuracy_m',
] as const;

export interface SamplePageRow {
  ts_ms: number;
  seq: number;
  metrics: string;
  lat: number | null;
  lon: number | null;
  alt_m: number | null;
  heading_deg: number | null;
  speed_kmh: number | null;
  accuracy_m: number | null;
}

const FIRST_WINDOW_MS = 3_600_000;
const MIN_WINDOW_MS = 60_000;
const MAX_WINDOW_MS = 366 * 86_400_000;

/**
 * A vehicle's samples from `fromMs` to `toMs` (inclusive) in (time, seq) order, `pageRows` at a time, so a
 * long span is never held whole. Each query is keyed after the last row of the page before AND bounded to a
 * time window: right after a bulk import PostgreSQL's statistics are stale (autovacuum has not analyzed
 * the table yet), and an unbounded `ORDER BY … LIMIT` was planned as a bitmap scan of everything after
 * the key, sorted — 0.5 s a page over a million samples instead of 1 ms. The window adapts: after a full
 * page, twice the time that page spanned; after a window that ran out, four times larger, starting at
 * the next sample (found with min(), an index lookup whatever the statistics).
 */
export async function* samplePages(
  db: Db,
  vehicleId: string,
  fromMs: number,
  toMs: number,
  pageRows: number,
): AsyncGenerator<SamplePageRow[]> {
  // The first sample at or after a time: min() is an index lookup on both engines, whatever the statistics.
  const nextTime = async (after: number, inclusive: boolean): Promise<number | null> => {
    const row = await db
      .selectFrom('samples')
      .select((eb) => eb.fn.min('ts_ms').as('t'))
      .where('vehicle_id', '=', vehicleId)
      .where('ts_ms', inclusive ? '>=' : '>', after)
      .where('ts_ms', '<=', toMs)
      .executeTakeFirst();
    return row?.t === null || row?.t === undefined ? null : Number(row.t);
  };
  let after: { tsMs: number; seq: number } | null = null;
  const start = await nextTime(fromMs, true);
  if (start === null) return;
  let lo = start;
  let windowMs = FIRST_WINDOW_MS;
  while (lo <= toMs) {
    const hi = Math.min(toMs, lo + windowMs - 1);
    let query = db
      .selectFrom('samples')
      .select(SAMPLE_PAGE_COLUMNS)
      .where('vehicle_id', '=', vehicleId)
      .where('ts_ms', '>=', lo)
      .where('ts_ms', '<=', hi);
    if (after) {
      const { tsMs, seq } = after;
      query = query.where((eb) => eb.or([eb('ts_ms', '>', tsMs), eb('seq', '>', seq)]));
    }
    const rows = (await query.orderBy('ts_ms').orderBy('seq').limit(pageRows).execute()) as SamplePageRow[];
    if (rows.length > 0) yield rows;
    if (rows.length === pageRows) {
      const last = rows[rows.length - 1]!;
      const spanMs = Number(last.ts_ms) - lo;
      after = { tsMs: Number(last.ts_ms), seq: Number(last.seq) };
      lo = after.tsMs;
      windowMs = Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, spanMs * 2));
    } else {
      // The window ran out: on from the next sample (a gap of months costs one lookup, not many windows).
      after = null;
      const next = hi >= toMs ? null : await nextTime(hi, false);
      if (next === null) return;
      lo = next;
      windowMs = Math.min(MAX_WINDOW_MS, windowMs * 4);
    }
  }
}
