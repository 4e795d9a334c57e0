import { type Kysely, sql } from 'kysely';
import type { Engine } from '../database.js';

/**
 * The after-commit processing path (decision 0017) and its first output, recorded sessions.
 * - `processing_marks`: one row per processor and vehicle per ingest batch that stored samples, with the
 *   oldest device time among them; inserted in the batch transaction, deleted by the processor that
 *   consumed it.
 * - `processing_state`: per processor and vehicle, the cursor, the processor's state
 *   (JSON) and failure bookkeeping; committed with the processor's output.
 * - `sessions`: drives, charges (found by the sessions processor) and manual recordings; stats as JSON.
 */
export async function up(db: Kysely<unknown>, engine: Engine): Promise<void> {
  const ms = 'bigint';
  await db.schema
    .createTable('processing_marks')
    .addColumn('id', engine === 'sqlite' ? 'integer' : 'bigserial', (c) =>
      engine === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
    )
    .addColumn('processor', 'text', (c) => c.notNull())
    .addColumn('vehicle_id', 'text', (c) => c.notNull())
    .addColumn('low_ts_ms', ms, (c) => c.notNull())
    .addColumn('marked_ms', ms, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('processing_marks_vehicle')
    .on('processing_marks')
    .columns(['processor', 'vehicle_id', 'id'])
    .execute();

  let state = db.schema
    .createTable('processing_state')
    .addColumn('processor', 'text', (c) => c.notNull())
    .addColumn('vehicle_id', 'text', (c) => c.notNull().references('vehicles.id').onDelete('cascade'))
    .addColumn('cursor_ts_ms', ms)
    .addColumn('cursor_seq', 'integer')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('pending', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('tick_at_ms', ms)
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('retry_at_ms', ms)
    .addColumn('failed_reason', 'text')
    .addColumn('failed_ms', ms)
    .addColumn('updated_ms', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('processing_state_pk', ['processor', 'vehicle_id']);
  if (engine === 'sqlite') state = state.modifyEnd(sql`without rowid`);
  await state.execute();

  await db.schema
    .createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('vehicle_id', 'text', (c) => c.notNull().references('vehicles.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('name', 'text')
    .addColumn('start_ms', ms, (c) => c.notNull())
    .addColumn('end_ms', ms)
    .addColumn('stats', 'text', (c) => c.notNull())
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addColumn('updated_ms', ms, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('sessions_vehicle_start')
    .on('sessions')
    .columns(['vehicle_id', 'start_ms'])
    .execute();
  // A vehicle's own drive and charge detection settings (JSON over the defaults; null: the defaults).
  await db.schema.alterTable('vehicles').addColumn('session_settings', 'text').execute();
  await db.schema.createIndex('sessions_start').on('sessions').columns(['start_ms', 'id']).execute();
}
