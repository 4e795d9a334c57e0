import type { Kysely } from 'kysely';
import type { Engine } from '../database.js';

/**
 * `processing_marks.batches` and `high_ts_ms` (decision 0033): on a SQLite file the writer thread folds a
 * vehicle's later batches into its newest mark while that mark is unconsumed and they lie wholly after
 * every sample stored for the vehicle; `batches` counts the batches a mark holds (a round deletes it only
 * if none came since it read it) and `high_ts_ms` is the newest device time among them. Existing marks and
 * PostgreSQL's (one per batch) hold one batch.
 */
export async function up(db: Kysely<unknown>, _engine: Engine): Promise<void> {
  await db.schema
    .alterTable('processing_marks')
    .addColumn('batches', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema.alterTable('processing_marks').addColumn('high_ts_ms', 'bigint').execute();
}
