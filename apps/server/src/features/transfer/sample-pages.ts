import type { MetricValue } from '@tacho/protocol';
import type { Db } from '../../db/index.js';

/** A stored sample as the exporters write it. */
export interface ExportSample {
  tsMs: number;
  seq: number;
  metrics: Record<string, MetricValue>;
  lat: number | null;
  lon: number | null;
  alt_m: number | null;
  heading_deg: number | null;
  speed_kmh: number | null;
  accuracy_m: number | null;
}

/** Rows read per query: small enough for a short pause of the event loop on SQLite, large enough to go fast. */
export const PAGE_ROWS = 2000;

/**
 * A vehicle's samples from `fromMs` to `toMs` (inclusive) in (time, seq) order, a page at a time: each
 * page is one query keyed on the primary key after the last row of the page before (keyset paging), so
 * memory holds one page whatever the range, and the first page leaves at once.
 */
export async function* samplePages(
  db: Db,
  vehicleId: string,
  fromMs: number,
  toMs: number,
  pageRows = PAGE_ROWS,
): AsyncGenerator<ExportSample[]> {
  let after: { tsMs: number; seq: number } | null = null;
  for (;;) {
    let query = db
      .selectFrom('samples')
      .select(['ts_ms', 'seq', 'metrics', 'lat', 'lon', 'alt_m', 'heading_deg', 'speed_kmh', 'accuracy_m'])
      .where('vehicle_id', '=', vehicleId)
      .where('ts_ms', '<=', toMs);
    if (after) {
      const { tsMs, seq } = after;
      query = query.where((eb) =>
        eb.or([eb('ts_ms', '>', tsMs), eb.and([eb('ts_ms', '=', tsMs), eb('seq', '>', seq)])]),
      );
    } else query = query.where('ts_ms', '>=', fromMs);
    const rows = await query.orderBy('ts_ms').orderBy('seq').limit(pageRows).execute();
    if (rows.length === 0) return;
    const page = rows.map(
      (r): ExportSample => ({
        tsMs: Number(r.ts_ms),
        seq: Number(r.seq),
        metrics: JSON.parse(r.metrics) as Record<string, MetricValue>,
        lat: r.lat,
        lon: r.lon,
        alt_m: r.alt_m,
        heading_deg: r.heading_deg,
        speed_kmh: r.speed_kmh,
        accuracy_m: r.accuracy_m,
      }),
    );
    const last = page[page.length - 1]!;
    after = { tsMs: last.tsMs, seq: last.seq };
    yield page;
    if (rows.length < pageRows) return;
  }
}
