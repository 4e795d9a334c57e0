import type { MetricValue } from '@tacho/protocol';
import type { Db } from '../../db/index.js';
import { samplePages as rows, type SamplePageRow } from '../../db/sample-pages.js';

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

/**
 * Rows read per query, and so per chunk of text: a short pause of the event loop on SQLite. Small enough
 * that a page's text stays under V8's large-object size (128 kB; a GPX point with speed and battery is
 * ~205 bytes): a larger string is allocated where the scavenge that its own allocation triggers promotes
 * it, and 1,000-row GPX pages grew the server by +35-65 MB RSS over 1 M samples, 500-row ones by +2-3 MB,
 * and faster (issue 19).
 */
export const PAGE_ROWS = 500;

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
    yield page.map((r) => new StoredSample(r));
  }
}

/**
 * A class, not an object literal: V8 tracks an allocation site per literal and, when a scavenge finds
 * most of a site's objects alive (it often catches a page of samples in flight), allocates all its
 * later objects straight in the old generation. In some runs that happened, and a 1 M-sample export
 * grew the old generation by ~180 kB a page of garbage (+70 MB RSS) instead of nothing.
 */
class StoredSample implements ExportSample {
  readonly tsMs: number;
  readonly seq: number;
  readonly metrics: Record<string, MetricValue>;
  readonly lat: number | null;
  readonly lon: number | null;
  readonly alt_m: number | null;
  readonly heading_deg: number | null;
  readonly speed_kmh: number | null;
  readonly accuracy_m: number | null;

  constructor(r: SamplePageRow) {
    this.tsMs = Number(r.ts_ms);
    this.seq = Number(r.seq);
    this.metrics = JSON.parse(r.metrics) as Record<string, MetricValue>;
    this.lat = r.lat;
    this.lon = r.lon;
    this.alt_m = r.alt_m;
    this.heading_deg = r.heading_deg;
    this.speed_kmh = r.speed_kmh;
    this.accuracy_m = r.accuracy_m;
  }
}
