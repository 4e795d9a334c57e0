import type { Kysely } from 'kysely';
import type { Engine } from '../database.js';

/**
 * `vehicle_state.seq`: the seq of the sample each newest reading came from, so a batch that brings a
 * reading at the same device time as the stored one applies the same rule as within a batch (the higher
 * seq wins; on a tie the later message). Existing rows get 0: a later reading at their time then wins, as
 * it did before.
 */
export async function up(db: Kysely<unknown>, _engine: Engine): Promise<void> {
  await db.schema
    .alterTable('vehicle_state')
    .addColumn('seq', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}
