import type { MetricValue } from '@tacho/protocol';
import type { Db } from '../../db/index.js';
import { samplePages as rows } from '../../db/sample-pages.js';

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

/** Rows read per query: a short pause of the event loop on SQLite (1,000 went as fast as 2,000 in bench:export). */
export const PAGE_ROWS = 1000;

/**
 * A vehicle's samples from `fromMs` to `toMs` (inclusive) in (time, seq) order, a page at a time (keyset
 * pages, db/sample-pages.ts): memory holds one page whatever the range, and the first page leaves at once.
 */
export async function* samplePages(
  db: Db,
  vehicleId: string,
  fromMs: number,
  toMs: number,
  pageRows = PAGE_ROWS,
): AsyncGenerator<ExportSample[]> {
  for await (const page of rows(db, vehicleId, fromMs, toMs, pageRows)) {
    yield page.map(
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
  }
}
