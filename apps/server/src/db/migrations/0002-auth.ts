import type { Kysely } from 'kysely';
import type { Engine } from '../database.js';

/**
 * Login throttling state, shared by every instance: one row per throttled key (`email:<address>` or
 * `ip:<address>`) with its recent failures. Rows are small and few; a success deletes the account's row.
 */
export async function up(db: Kysely<unknown>, _engine: Engine): Promise<void> {
  await db.schema
    .createTable('login_throttle')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('first_failure_ms', 'bigint', (c) => c.notNull())
    .addColumn('last_failure_ms', 'bigint', (c) => c.notNull())
    .execute();
}
