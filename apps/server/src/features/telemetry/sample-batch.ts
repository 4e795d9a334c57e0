import type { Kysely } from 'kysely';
import type { Database } from '../../db/index.js';
import { markedProcessors } from '../processing/marks.js';
import { latestRawKeys, latestState, type RawKeyInfo, type StoredSample, toRow } from './batch-rows.js';
import { insertDeadLetters } from './dead-letters.repo.js';
import { writeRollups } from './rollups.js';
import {
  type DeadLetterRow,
  existingVehicleIds,
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

/** What one transaction writes, as plain samples (packed-batch.ts packs it for the SQLite writer thread). */
export interface SampleBatch {
  readonly samples: readonly BatchSample[];
  readonly deadLetters: readonly DeadLetterRow[];
}

/**
 * The body of the ingest transaction: `storeSamples`, then the latest state and the rollups of the
 * samples actually inserted. Returns, per sample in order, whether it was inserted (false = already
 * stored: a duplicate). The caller runs it inside a transaction. PostgreSQL and in-memory SQLite write
 * this way; the SQLite writer thread inserts its packed batches itself and defers the derived rows
 * (sample-writer.worker.ts, derived-buffer.ts).
 */
export async function writeSampleBatch(
  trx: Kysely<Database>,
  batch: SampleBatch,
  processors: readonly string[] = [],
): Promise<boolean[]> {
  const { inserted, stored } = await storeSamples(trx, batch);
  await writeDerived(trx, stored);
  if (processors.length > 0 && stored.length > 0) {
    const lows = new Map<string, number>();
    for (const s of stored) {
      const low = lows.get(s.vehicleId);
      if (low === undefined || s.tsMs < low) lows.set(s.vehicleId, s.tsMs);
    }
    await insertProcessingMarks(trx, lows, processors);
  }
  return inserted;
}

/**
 * The after-commit path's marks (decision 0017): per processor that wants them (processing/marks.ts) and
 * vehicle, the oldest device time among the samples this transaction stored. One small insert per batch;
 * processors find their work by them.
 */
export async function insertProcessingMarks(
  trx: Kysely<Database>,
  lows: ReadonlyMap<string, number>,
  processors: readonly string[],
): Promise<void> {
  if (lows.size === 0 || processors.length === 0) return;
  const rows: Array<{ processor: string; vehicle_id: string; low_ts_ms: number; marked_ms: number }> = [];
  const now = Date.now();
  for (const processor of await markedProcessors(trx, processors))
    for (const [vehicleId, low] of lows)
      rows.push({ processor, vehicle_id: vehicleId, low_ts_ms: low, marked_ms: now });
  if (rows.length > 0) await trx.insertInto('processing_marks').values(rows).execute();
}

/**
 * Inserts the samples (skipping those stored before) with multi-row statements that report the new rows,
 * then what goes with them (`storeBesideSamples`). Returns the per-sample flags and the samples inserted.
 */
export async function storeSamples(
  trx: Kysely<Database>,
  batch: SampleBatch,
): Promise<{ inserted: boolean[]; stored: BatchSample[] }> {
  const { samples } = batch;
  await requireVehicles(trx, new Set(samples.map((s) => s.vehicleId)));
  // A key repeated within the batch is written once, for its first sample; the others are duplicates.
  const keys = samples.map((s) => sampleKey(s.vehicleId, s.tsMs, s.seq));
  const first: boolean[] = [];
  const rows: SampleRow[] = [];
  const seen = new Set<string>();
  for (const [i, key] of keys.entries()) {
    first.push(!seen.has(key));
    if (!first[i]) continue;
    seen.add(key);
    rows.push(toRow(samples[i]!));
  }
  const added = rows.length > 0 ? await insertSamples(trx, rows) : new Set<string>();
  const inserted = keys.map((key, i) => first[i]! && added.has(key));
  const stored = samples.filter((_, i) => inserted[i]);
  await storeBesideSamples(trx, stored, batch);
  return { inserted, stored };
}

/** What a batch writes beside its samples: the deep scan's raw keys of those inserted, the dead letters. */
export async function storeBesideSamples(
  trx: Kysely<Database>,
  stored: readonly BatchSample[],
  batch: Pick<SampleBatch, 'deadLetters'>,
): Promise<void> {
  const rawRows = latestRawKeys(stored);
  if (rawRows.length > 0) await upsertRawKeys(trx, rawRows);
  await insertDeadLetters(trx, batch.deadLetters);
}

/** The code of the error `storeSamples` raises for a sample of a vehicle that does not exist (any more). */
export const VEHICLE_MISSING = 'VEHICLE_MISSING';

/**
 * Fails the batch when one of its vehicles was deleted after its messages were accepted: their samples
 * must not outlive it (`samples` has no foreign key; the pipeline isolates and dead-letters the message).
 */
export async function requireVehicles(trx: Kysely<Database>, ids: ReadonlySet<string>): Promise<void> {
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
