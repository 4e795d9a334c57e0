import { type Kysely, sql } from 'kysely';
import type { Engine } from '../database.js';

/**
 * The shared alias registry (device key → canonical metric, per make/model/year) and the binding of phone
 * and tracker ids (OwnTracks user/device, Traccar Client id) to vehicles.
 */
export async function up(db: Kysely<unknown>, _engine: Engine): Promise<void> {
  const ms = 'bigint' as const;

  // One row per distinct proposal. "Any model" and "any year" are '' and 0, not NULL: a unique constraint
  // treats NULLs as distinct on both engines, which would let concurrent posts duplicate an entry.
  await db.schema
    .createTable('aliases')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('make', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('year', 'integer', (c) => c.notNull())
    .addColumn('device_key', 'text', (c) => c.notNull())
    .addColumn('canonical_key', 'text', (c) => c.notNull())
    .addColumn('unit', 'text', (c) => c.notNull())
    .addColumn('scale', 'double precision', (c) => c.notNull())
    .addColumn('contributor_id', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addColumn('updated_ms', ms, (c) => c.notNull())
    .addUniqueConstraint('aliases_entry', [
      'make',
      'model',
      'year',
      'device_key',
      'canonical_key',
      'unit',
      'scale',
    ])
    .execute();
  await db.schema.createIndex('aliases_model').on('aliases').columns(['make', 'model', 'year']).execute();

  await db.schema
    .createTable('alias_confirmations')
    .addColumn('alias_id', 'text', (c) => c.notNull().references('aliases.id').onDelete('cascade'))
    .addColumn('vehicle_id', 'text', (c) => c.notNull().references('vehicles.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('alias_confirmations_pk', ['alias_id', 'vehicle_id'])
    .execute();

  await db.schema
    .createTable('device_bindings')
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('owntracks', 'osmand')`))
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('vehicle_id', 'text', (c) => c.notNull().references('vehicles.id').onDelete('cascade'))
    .addColumn('secret', 'text')
    .addColumn('created_by', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('device_bindings_pk', ['kind', 'device_id'])
    .execute();
  await db.schema.createIndex('device_bindings_vehicle').on('device_bindings').column('vehicle_id').execute();
}
