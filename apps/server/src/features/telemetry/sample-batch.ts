import type { Kysely } from 'kysely';
import type { Database } from '../../db/index.js';
import { latestRawKeys, latestState, type RawKeyInfo, type StoredSample, toRow } from './batch-rows.js';
import { writeRollups } from './rollups.js';
import {
  type DeadLetterRow,
  existingVehicleIds,
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
 * The body of the ingest transaction: `storeSamples`, then the latest state and the rollups of the
 * samples actually inserted. Returns, per sample in order, whether it was inserted (false = already
 * stored: a duplicate). The caller runs it inside a transaction. PostgreSQL and in-memory SQLite write
 * this way; the SQLite writer thread runs `storeSamples` per batch and defers the rest (derived-buffer.ts).
 */
export async function writeSampleBatch(
  trx: Kysely<Database>,
  batch: SampleBatch,
  insert: InsertSamples = insertPortable,
): Promise<boolean[]> {
  const { inserted, stored } = await storeSamples(trx, batch, insert);
  await writeDerived(trx, stored);
  return inserted;
}

/**
 * Inserts the samples (skipping those stored before), the deep scan's raw keys of the ones actually
 * inserted, and the dead letters. Returns the per-sample flags and the samples inserted.
 */
export async function storeSamples(
  trx: Kysely<Database>,
  batch: SampleBatch,
  insert: InsertSamples = insertPortable,
): Promise<{ inserted: boolean[]; stored: BatchSample[] }> {
  const { samples } = batch;
  await requireVehicles(trx, samples);
  const inserted = samples.length > 0 ? await insert(trx, samples.map(toRow)) : [];
  const stored = samples.filter((_, i) => inserted[i]);
  const rawRows = latestRawKeys(stored);
  if (rawRows.length > 0) await upsertRawKeys(trx, rawRows);
  await insertDeadLetters(trx, batch.deadLetters, batch.deadLetterKeep);
  return { inserted, stored };
}

/** The code of the error `storeSamples` raises for a sample of a vehicle that does not exist (any more). */
export const VEHICLE_MISSING = 'VEHICLE_MISSING';

/**
 * Fails the batch when one of its vehicles was deleted after its messages were accepted: their samples
 * must not outlive it (`samples` has no foreign key; the pipeline isolates and dead-letters the message).
 */
async function requireVehicles(trx: Kysely<Database>, samples: readonly StoredSample[]): Promise<void> {
  const ids = new Set<string>();
  for (const s of samples) ids.add(s.vehicleId);
  if (ids.size === 0) return;
  const existing = await existingVehicleIds(trx, ids);
  for (const id of ids) {
    if (!existing.has(id)) throw Object.assign(new Error(`no vehicle ${id}`), { code: VEHICLE_MISSING });
  }
}

/** What newly inserted samples imply: each metric's latest value and the minute and hour rollups. */
export async function writeDerived(trx: Kysely<Database>, stored: readonly StoredSample[]): Promise<void> {
  if (stored.length === 0) return;
  await upsertVehicleState(trx, latestState(stored));
  await writeRollups(trx, stored);
}
