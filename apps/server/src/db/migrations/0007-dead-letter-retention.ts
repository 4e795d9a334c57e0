import { type Kysely, sql } from 'kysely';
import type { Engine } from '../database.js';

/**
 * Dead letters are kept by age and total size instead of by count (issue 24.10):
 * - `dead_letters.bytes`: what each one weighs, and an index by arrival to find the oldest;
 * - `dead_letter_usage`: their running total, kept in the transaction that inserts or deletes them, so the
 *   size limit is checked without summing the table (shards: see dead-letters.repo.ts);
 * - `vehicle_refusals`: per vehicle, how many of its messages were refused and the last reason, for the
 *   dashboard. No foreign key, like `samples`: a vehicle deleted while its messages were in flight must
 *   not fail their batch; vehicle deletion clears it by hand.
 * Existing rows are counted in, so nothing starts from zero.
 */
export async function up(db: Kysely<unknown>, engine: Engine): Promise<void> {
  await db.schema
    .alterTable('dead_letters')
    .addColumn('bytes', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  const octets = (column: string) =>
    engine === 'sqlite' ? `length(cast(${column} as blob))` : `octet_length(${column})`;
  await sql
    .raw(
      `update dead_letters set bytes = ${octets('payload')} + ${octets('reason')} + ${octets('topic')} + ${octets('source')} + 64`,
    )
    .execute(db);
  await db.schema
    .createIndex('dead_letters_received')
    .on('dead_letters')
    .columns(['received_ms', 'id'])
    .execute();

  await db.schema
    .createTable('dead_letter_usage')
    .addColumn('shard', 'integer', (c) => c.primaryKey())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .execute();
  await sql`insert into dead_letter_usage (shard, bytes) select 0, coalesce(sum(bytes), 0) from dead_letters`.execute(
    db,
  );

  await db.schema
    .createTable('vehicle_refusals')
    .addColumn('vehicle_id', 'text', (c) => c.primaryKey())
    .addColumn('refused', 'bigint', (c) => c.notNull())
    .addColumn('first_ms', 'bigint', (c) => c.notNull())
    .addColumn('last_ms', 'bigint', (c) => c.notNull())
    .addColumn('last_reason', 'text', (c) => c.notNull())
    .execute();
  await sql`
    insert into vehicle_refusals (vehicle_id, refused, first_ms, last_ms, last_reason)
    select d.vehicle_id, count(*), min(d.received_ms), max(d.received_ms),
      (select x.reason from dead_letters x where x.vehicle_id = d.vehicle_id
        order by x.received_ms desc, x.id desc limit 1)
    from dead_letters d
    where d.vehicle_id in (select id from vehicles)
    group by d.vehicle_id`.execute(db);
}
