import type { Kysely } from 'kysely';
import type { Engine } from '../database.js';

/**
 * Maker-cloud connectors (issues 21 and 22), the storage every connector shares:
 * - `connector_accounts`: one signed-in maker account of a Tacho user; its tokens are sealed by the vault
 *   (decision 0026); a refresh lock and a runtime lease, both rows' columns, so they hold across instances.
 * - `connector_vehicles`: which maker vehicles of an account are Tacho vehicles, with the poller's state.
 * - `connector_attempts`: an OAuth sign-in between its start and its callback (single use, minutes-lived).
 */
export async function up(db: Kysely<unknown>, _engine: Engine): Promise<void> {
  const ms = 'bigint';
  await db.schema
    .createTable('connector_accounts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('external_id', 'text', (c) => c.notNull())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('region', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('state_reason', 'text')
    .addColumn('access_token', 'text')
    .addColumn('refresh_token', 'text')
    .addColumn('id_token', 'text')
    .addColumn('pending_refresh_token', 'text')
    .addColumn('access_expires_ms', ms)
    .addColumn('refresh_expires_ms', ms)
    .addColumn('refresh_lock_owner', 'text')
    .addColumn('refresh_lock_until_ms', ms)
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until_ms', ms)
    .addColumn('budget_day', 'text')
    .addColumn('budget_used', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('data', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addColumn('updated_ms', ms, (c) => c.notNull())
    .addUniqueConstraint('connector_accounts_external', ['kind', 'owner_id', 'external_id'])
    .execute();
  await db.schema
    .createIndex('connector_accounts_owner')
    .on('connector_accounts')
    .columns(['owner_id'])
    .execute();
  await db.schema
    .createIndex('connector_accounts_kind')
    .on('connector_accounts')
    .columns(['kind', 'lease_until_ms'])
    .execute();

  await db.schema
    .createTable('connector_vehicles')
    .addColumn('account_id', 'text', (c) =>
      c.notNull().references('connector_accounts.id').onDelete('cascade'),
    )
    .addColumn('vehicle_id', 'text', (c) => c.notNull().references('vehicles.id').onDelete('cascade'))
    .addColumn('external_id', 'text', (c) => c.notNull())
    .addColumn('state', 'text')
    .addColumn('data', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('next_poll_ms', ms)
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addColumn('updated_ms', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('connector_vehicles_pk', ['account_id', 'vehicle_id'])
    .execute();
  await db.schema
    .createIndex('connector_vehicles_vehicle')
    .on('connector_vehicles')
    .columns(['vehicle_id'])
    .execute();

  await db.schema
    .createTable('connector_attempts')
    .addColumn('state', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('code_verifier', 'text', (c) => c.notNull())
    .addColumn('region', 'text')
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addColumn('expires_ms', ms, (c) => c.notNull())
    .execute();
}
