import { type Kysely, sql } from 'kysely';
import type { Engine } from '../database.js';

/**
 * Per-minute and per-hour aggregates of every numeric metric, kept up to date inside the ingest
 * transaction, so a history chart over months reads thousands of rows instead of millions. Each bucket
 * keeps where its minimum and maximum happened, so downsampled charts keep their peaks at the right time.
 */
export async function up(db: Kysely<unknown>, engine: Engine): Promise<void> {
  for (const table of ['rollups_minute', 'rollups_hour']) {
    let create = db.schema
      .createTable(table)
      .addColumn('vehicle_id', 'text', (c) => c.notNull())
      .addColumn('metric', 'text', (c) => c.notNull())
      .addColumn('bucket_ms', 'bigint', (c) => c.notNull())
      .addColumn('count', 'bigint', (c) => c.notNull())
      .addColumn('sum', 'double precision', (c) => c.notNull())
      .addColumn('min_value', 'double precision', (c) => c.notNull())
      .addColumn('min_ts_ms', 'bigint', (c) => c.notNull())
      .addColumn('max_value', 'double precision', (c) => c.notNull())
      .addColumn('max_ts_ms', 'bigint', (c) => c.notNull())
      .addColumn('first_value', 'double precision', (c) => c.notNull())
      .addColumn('first_ts_ms', 'bigint', (c) => c.notNull())
      .addColumn('last_value', 'double precision', (c) => c.notNull())
      .addColumn('last_ts_ms', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint(`${table}_pk`, ['vehicle_id', 'metric', 'bucket_ms']);
    if (engine === 'sqlite') create = create.modifyEnd(sql`without rowid`);
    await create.execute();
  }
}
