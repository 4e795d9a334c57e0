import type { MetricValue, Position } from '@tacho/protocol';
import type { Db } from '../../db/index.js';
import { writeSampleBatch } from '../telemetry/sample-batch.js';

export interface TestSample {
  tsMs: number;
  seq?: number;
  metrics?: Record<string, MetricValue>;
  position?: Position;
}

/**
 * Stores samples through the ingest transaction's own body (samples, latest state, rollups), without the
 * pipeline around it, for read tests that need a lot of history quickly. Route-level tests also go
 * through real ingestion.
 */
export async function storeSamples(db: Db, vehicleId: string, samples: readonly TestSample[]): Promise<void> {
  await db.transaction().execute((trx) =>
    writeSampleBatch(trx, {
      samples: samples.map((s) => ({
        vehicleId,
        tsMs: s.tsMs,
        seq: s.seq ?? 0,
        receivedMs: s.tsMs,
        source: 'test',
        metrics: s.metrics ?? {},
        ...(s.position ? { position: s.position } : {}),
      })),
      deadLetters: [],
    }),
  );
}
