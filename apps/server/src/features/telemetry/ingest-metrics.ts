import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type IngestMetrics = ReturnType<typeof createIngestMetrics>;

/** The pipeline's figures in `/metrics`; dead letters are counted by a short reason code. */
export function createIngestMetrics(registry: Registry, queuedRows: () => number) {
  const registers = [registry];
  new Gauge({
    name: 'tacho_ingest_queue_rows',
    help: 'Rows waiting to be written',
    registers,
    collect() {
      this.set(queuedRows());
    },
  });
  return {
    messages: new Counter({
      name: 'tacho_ingest_messages_total',
      help: 'Telemetry messages committed, by outcome (stored, duplicate)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    deadLetters: new Counter({
      name: 'tacho_ingest_dead_letters_total',
      help: 'Telemetry messages refused and kept as dead letters, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    batch: new Histogram({
      name: 'tacho_ingest_batch_seconds',
      help: 'Time to write one batch transaction',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    commitWait: new Histogram({
      name: 'tacho_ingest_commit_wait_seconds',
      help: 'Time from a payload entering the pipeline to its commit (what a device waits for its PUBACK)',
      buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    failures: new Counter({
      name: 'tacho_ingest_write_failures_total',
      help: 'Batch transactions that failed and were retried',
      registers,
    }),
  };
}
