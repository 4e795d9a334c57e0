import type { Db } from '../../db/index.js';

/**
 * What the after-commit path derived in a database: sessions, each vehicle's progress, and how many marks
 * are left. Tests that run the same batches two ways compare these.
 */
export async function derivedOutput(db: Db) {
  const sessions = await db
    .selectFrom('sessions')
    .select(['id', 'kind', 'start_ms', 'end_ms', 'stats'])
    .orderBy('id')
    .execute();
  const state = await db
    .selectFrom('processing_state')
    .select(['vehicle_id', 'cursor_ts_ms', 'cursor_seq', 'state'])
    .orderBy('vehicle_id')
    .execute();
  const marks = await db.selectFrom('processing_marks').select('id').execute();
  return { sessions, state, marks: marks.length };
}

/** Gives `db`'s vehicles the ids `ids` (in order), so two databases derive sessions with the same ids. */
export async function renameVehicles(
  db: Db,
  current: readonly string[],
  ids: readonly string[],
): Promise<void> {
  for (const [i, id] of current.entries())
    await db
      .updateTable('vehicles')
      .set({ id: ids[i] as string })
      .where('id', '=', id)
      .execute();
}
