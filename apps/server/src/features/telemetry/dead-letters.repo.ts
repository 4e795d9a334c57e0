import type { DeadLetterRow, Trx } from './telemetry.repo.js';

/** How long and how much refused telemetry is kept (TACHO_DEAD_LETTER_MAX_AGE_DAYS, _MAX_MB). */
export interface DeadLetterLimits {
  readonly maxAgeMs: number;
  readonly maxBytes: number;
}

/** What one pruning step did. */
export interface PruneResult {
  /** Dead letters dropped for being older than the age limit… */
  readonly age: number;
  /** …and, oldest first, to bring the total under the size limit. */
  readonly size: number;
  /** Their total weight after the step. */
  readonly keptBytes: number;
  /** The step stopped at its row limit with more to drop: run another. */
  readonly more: boolean;
}

/** A row's weight beyond its text: ids, times and the engines' own bookkeeping, roughly. */
const ROW_OVERHEAD_BYTES = 64;

/**
 * The running total is split over this many rows, each batch adding to one at random: with several
 * instances on PostgreSQL, two batches with dead letters then rarely wait for the same row lock.
 */
const USAGE_SHARDS = 8;

/** Rows per statement (7 columns): well below both engines' limit on bound parameters. */
const INSERT_CHUNK_ROWS = 1000;

/** Dead letters one pruning step reads and deletes at most, so it never holds the writer for long. */
export const PRUNE_STEP_ROWS = 500;

export function deadLetterBytes(row: DeadLetterRow): number {
  return (
    Buffer.byteLength(row.payload) +
    Buffer.byteLength(row.reason) +
    Buffer.byteLength(row.topic) +
    Buffer.byteLength(row.source) +
    ROW_OVERHEAD_BYTES
  );
}

/**
 * Appends dead letters in the batch transaction, with what goes with them: their weight added to the
 * running total, and one row per vehicle counting its refusals. Nothing is deleted here; `pruneDeadLetters`
 * does that apart from the batches.
 */
export async function insertDeadLetters(trx: Trx, rows: readonly DeadLetterRow[]): Promise<void> {
  if (rows.length === 0) return;
  let total = 0;
  const values = rows.map((row) => {
    const bytes = deadLetterBytes(row);
    total += bytes;
    return { ...row, bytes };
  });
  for (let i = 0; i < values.length; i += INSERT_CHUNK_ROWS) {
    await trx
      .insertInto('dead_letters')
      .values(values.slice(i, i + INSERT_CHUNK_ROWS))
      .execute();
  }
  await addUsage(trx, Math.floor(Math.random() * USAGE_SHARDS), total);
  await countRefusals(trx, rows);
}

async function addUsage(trx: Trx, shard: number, bytes: number): Promise<void> {
  await trx
    .insertInto('dead_letter_usage')
    .values({ shard, bytes })
    .onConflict((oc) =>
      oc.column('shard').doUpdateSet((eb) => ({
        bytes: eb('dead_letter_usage.bytes', '+', eb.ref('excluded.bytes')),
      })),
    )
    .execute();
}

/** The refusals of one batch per vehicle: how many, the first time, and the latest one's time and reason. */
function refusalsByVehicle(rows: readonly DeadLetterRow[]) {
  const byVehicle = new Map<
    string,
    { vehicle_id: string; refused: number; first_ms: number; last_ms: number; last_reason: string }
  >();
  for (const row of rows) {
    if (row.vehicle_id === null) continue;
    const seen = byVehicle.get(row.vehicle_id);
    if (!seen) {
      byVehicle.set(row.vehicle_id, {
        vehicle_id: row.vehicle_id,
        refused: 1,
        first_ms: row.received_ms,
        last_ms: row.received_ms,
        last_reason: row.reason,
      });
      continue;
    }
    seen.refused++;
    seen.first_ms = Math.min(seen.first_ms, row.received_ms);
    // A tie goes to the later row: the batch keeps the order the messages came in.
    if (row.received_ms >= seen.last_ms) {
      seen.last_ms = row.received_ms;
      seen.last_reason = row.reason;
    }
  }
  return [...byVehicle.values()];
}

/** One upsert per batch: each vehicle's count grows, and its last reason is the latest one. */
async function countRefusals(trx: Trx, rows: readonly DeadLetterRow[]): Promise<void> {
  const values = refusalsByVehicle(rows);
  for (let i = 0; i < values.length; i += INSERT_CHUNK_ROWS) {
    await trx
      .insertInto('vehicle_refusals')
      .values(values.slice(i, i + INSERT_CHUNK_ROWS))
      .onConflict((oc) =>
        oc.column('vehicle_id').doUpdateSet((eb) => {
          const newer = eb('excluded.last_ms', '>=', eb.ref('vehicle_refusals.last_ms'));
          return {
            refused: eb('vehicle_refusals.refused', '+', eb.ref('excluded.refused')),
            first_ms: eb
              .case()
              .when('excluded.first_ms', '<', eb.ref('vehicle_refusals.first_ms'))
              .then(eb.ref('excluded.first_ms'))
              .else(eb.ref('vehicle_refusals.first_ms'))
              .end(),
            last_ms: eb
              .case()
              .when(newer)
              .then(eb.ref('excluded.last_ms'))
              .else(eb.ref('vehicle_refusals.last_ms'))
              .end(),
            last_reason: eb
              .case()
              .when(newer)
              .then(eb.ref('excluded.last_reason'))
              .else(eb.ref('vehicle_refusals.last_reason'))
              .end(),
          };
        }),
      )
      .execute();
  }
}

/** The weight of every dead letter kept. */
export async function deadLetterUsage(trx: Trx): Promise<number> {
  const row = await trx
    .selectFrom('dead_letter_usage')
    .select((eb) => eb.fn.sum<number | string | null>('bytes').as('total'))
    .executeTakeFirst();
  // PostgreSQL sums bigint as numeric, which arrives as a string.
  return Number(row?.total ?? 0);
}

/**
 * One bounded pruning step, in the caller's transaction: drops, oldest first, the dead letters older
 * than `maxAgeMs`, then as many more as bring the total under `maxBytes`; at most `PRUNE_STEP_ROWS`.
 * When nothing is due it reads the small usage table and one index range that holds nothing. Counts
 * only what its own delete removed, so two instances pruning at once count each row once.
 */
export async function pruneDeadLetters(
  trx: Trx,
  limits: DeadLetterLimits,
  nowMs: number,
): Promise<PruneResult> {
  const total = await deadLetterUsage(trx);
  const cutoffMs = nowMs - limits.maxAgeMs;
  let oldest = trx
    .selectFrom('dead_letters')
    .select(['id', 'received_ms', 'bytes'])
    .orderBy('received_ms')
    .orderBy('id')
    .limit(PRUNE_STEP_ROWS);
  if (total <= limits.maxBytes) oldest = oldest.where('received_ms', '<', cutoffMs);
  const rows = await oldest.execute();

  const why = new Map<number, 'age' | 'size'>();
  let remaining = total;
  for (const row of rows) {
    if (Number(row.received_ms) < cutoffMs) why.set(Number(row.id), 'age');
    else if (remaining > limits.maxBytes) why.set(Number(row.id), 'size');
    else break;
    remaining -= Number(row.bytes);
  }
  if (why.size === 0) return { age: 0, size: 0, keptBytes: total, more: false };

  const deleted = await trx
    .deleteFrom('dead_letters')
    .where('id', 'in', [...why.keys()])
    .returning(['id', 'bytes'])
    .execute();
  let freed = 0;
  let age = 0;
  for (const row of deleted) {
    freed += Number(row.bytes);
    if (why.get(Number(row.id)) === 'age') age++;
  }
  if (freed > 0) await addUsage(trx, 0, -freed);
  return {
    age,
    size: deleted.length - age,
    keptBytes: total - freed,
    more: why.size === PRUNE_STEP_ROWS,
  };
}
