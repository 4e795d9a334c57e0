import type { Kysely } from 'kysely';
import type { Database } from '../../db/index.js';
import { latestRawKeys, latestState, type RawKeyInfo, type StoredSample, toRow } from './batch-rows.js';
import { writeRollups } from './rollups.js';
import {
  type DeadLetterRow,
  insertDeadLetters,
  insertSamples,
  type SampleRow,
  sampleKey,
  upsertRawKeys,
  upsertVehicleState,
} from './telemetry.repo.js';

/** A sample on its way to the database, with what its source format said about its raw keys. */
export interface BatchSample extends StoredSample {
  readonly rawInfo?: Readonly<Record<string, RawKeyInfo>>;
}

/**
 * What one transaction writes. Plain data (no functions), so it can cross to the SQLite writer thread.
 * Samples are unique on (vehicle, ts, seq) within a batch; the pipeline removes repeats first.
 */
export interface SampleBatch {
  readonly samples: readonly BatchSample[];
  readonly deadLetters: readonly DeadLetterRow[];
  /** Dead letters kept in all; the oldest beyond are dropped. */
  readonly deadLetterKeep: number;
}

/** Inserts rows, skipping those stored before; says per row whether it was inserted. */
export type InsertSamples = (trx: Kysely<Database>, rows: readonly SampleRow[]) => Promise<boolean[]>;

/** The portable insert (multi-row statements reporting the new rows; see `insertSamples`). */
const insertPortable: InsertSamples = async (trx, rows) => {
  const inserted = await insertSamples(trx, rows);
  return rows.map((r) => inserted.has(sampleKey(r.vehicle_id, r.ts_ms, r.seq)));
};

/**
 * The body of the ingest transaction: inserts the samples (skipping those stored before), then, for the
 * ones actually inserted, the latest state, the deep scan's raw keys and the rollups, then the dead
 * letters. Returns, per sample in order, whether it was inserted (false = already stored: a duplicate).
 * The caller runs it inside a transaction; on either engine, in-process or in the SQLite writer thread
 * (which brings its own faster `insert`).
 */
export async function writeSampleBatch(
  trx: Kysely<Database>,
  batch: SampleBatch,
  insert: InsertSamples = insertPortable,
): Promise<boolean[]> {
  const { samples } = batch;
  const inserted = samples.length > 0 ? await insert(trx, samples.map(toRow)) : [];
  const stored = samples.filter((_, i) => inserted[i]);
  if (stored.length > 0) {
    await upsertVehicleState(trx, latestState(stored));
    const rawRows = latestRawKeys(stored);
    if (rawRows.length > 0) await upsertRawKeys(trx, rawRows);
    await writeRollups(trx, stored);
  }
  await insertDeadLetters(trx, batch.deadLetters, batch.deadLetterKeep);
  return inserted;
}
