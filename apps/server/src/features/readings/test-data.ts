import type { MetricValue, Position } from '@tacho/protocol';
import type { Db } from '../../db/index.js';
import { writeRollups } from '../telemetry/rollups.js';

export interface TestSample {
  tsMs: number;
  seq?: number;
  metrics?: Record<string, MetricValue>;
  position?: Position;
}

/**
 * Stores samples the way the ingest pipeline's transaction does (samples, latest state, rollups), for
 * read tests that need a lot of history quickly. Route-level tests also go through real ingestion.
 */
export async function storeSamples(db: Db, vehicleId: string, samples: readonly TestSample[]): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < samples.length; i += 500) {
      const chunk = samples.slice(i, i + 500);
      await trx
        .insertInto('samples')
        .values(
          chunk.map((s) => ({
            vehicle_id: vehicleId,
            ts_ms: s.tsMs,
            seq: s.seq ?? 0,
            received_ms: s.tsMs,
            source: 'test',
            metrics: JSON.stringify(s.metrics ?? {}),
            lat: s.position?.lat ?? null,
            lon: s.position?.lon ?? null,
            alt_m: s.position?.alt_m ?? null,
            heading_deg: s.position?.heading_deg ?? null,
            speed_kmh: s.position?.speed_kmh ?? null,
            accuracy_m: s.position?.accuracy_m ?? null,
          })),
        )
        .execute();
    }
    const latest = new Map<string, { value: string; ts_ms: number }>();
    for (const s of samples) {
      const entries: Array<[string, unknown]> = Object.entries(s.metrics ?? {});
      if (s.position) entries.push(['position', s.position]);
      for (const [metric, value] of entries) {
        const current = latest.get(metric);
        if (!current || current.ts_ms <= s.tsMs)
          latest.set(metric, { value: JSON.stringify(value), ts_ms: s.tsMs });
      }
    }
    for (const [metric, { value, ts_ms }] of latest) {
      await trx
        .insertInto('vehicle_state')
        .values({ vehicle_id: vehicleId, metric, value, ts_ms })
        .onConflict((oc) => oc.columns(['vehicle_id', 'metric']).doUpdateSet({ value, ts_ms }))
        .execute();
    }
    await writeRollups(
      trx,
      samples.map((s) => ({ vehicleId, tsMs: s.tsMs, metrics: s.metrics ?? {} })),
    );
  });
}
