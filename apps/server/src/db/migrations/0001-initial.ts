import { type Kysely, sql } from 'kysely';
import type { Engine } from '../database.js';

/** The tables the first wave needs: people and their logins, vehicles, telemetry, dead letters. */
export async function up(db: Kysely<unknown>, engine: Engine): Promise<void> {
  // Epoch milliseconds need 64 bits; `bigint` is INTEGER affinity on SQLite and int8 on PostgreSQL.
  const ms = 'bigint' as const;

  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text')
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('viewer', 'operator', 'admin')`))
    .addColumn('disabled_ms', ms)
    .addColumn('tokens_valid_after_ms', ms, (c) => c.notNull())
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addColumn('updated_ms', ms, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('logins')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('device', 'text', (c) => c.notNull())
    .addColumn('ip', 'text')
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addColumn('last_used_ms', ms, (c) => c.notNull())
    .addColumn('expires_ms', ms, (c) => c.notNull())
    .addColumn('revoked_ms', ms)
    .addColumn('revoked_reason', 'text')
    .execute();
  await db.schema.createIndex('logins_user').on('logins').column('user_id').execute();

  await db.schema
    .createTable('refresh_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('login_id', 'text', (c) => c.notNull().references('logins.id').onDelete('cascade'))
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addColumn('used_ms', ms)
    .addColumn('successor_id', 'text')
    .execute();
  await db.schema.createIndex('refresh_tokens_login').on('refresh_tokens').column('login_id').execute();

  await db.schema
    .createTable('vehicles')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('vin', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('make', 'text')
    .addColumn('model', 'text')
    .addColumn('year', 'integer')
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addColumn('updated_ms', ms, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('vehicles_owner').on('vehicles').column('owner_id').execute();

  await db.schema
    .createTable('vehicle_access')
    .addColumn('vehicle_id', 'text', (c) => c.notNull().references('vehicles.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('viewer', 'operator')`))
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('vehicle_access_pk', ['vehicle_id', 'user_id'])
    .execute();
  await db.schema.createIndex('vehicle_access_user').on('vehicle_access').column('user_id').execute();

  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('vehicle_id', 'text', (c) => c.references('vehicles.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('prefix', 'text', (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('vehicle_ids', 'text')
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addColumn('expires_ms', ms)
    .addColumn('last_used_ms', ms)
    .addColumn('revoked_ms', ms)
    .execute();
  await db.schema.createIndex('api_tokens_user').on('api_tokens').column('user_id').execute();
  await db.schema.createIndex('api_tokens_vehicle').on('api_tokens').column('vehicle_id').execute();

  // The hot table. Its primary key is the de-duplication key. (SQLite first stored it WITHOUT ROWID;
  // migration 0006 made it a rowid table.)
  let samples = db.schema
    .createTable('samples')
    .addColumn('vehicle_id', 'text', (c) => c.notNull())
    .addColumn('ts_ms', ms, (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('received_ms', ms, (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('metrics', 'text', (c) => c.notNull())
    .addColumn('lat', 'double precision')
    .addColumn('lon', 'double precision')
    .addColumn('alt_m', 'double precision')
    .addColumn('heading_deg', 'double precision')
    .addColumn('speed_kmh', 'double precision')
    .addColumn('accuracy_m', 'double precision')
    .addPrimaryKeyConstraint('samples_pk', ['vehicle_id', 'ts_ms', 'seq']);
  if (engine === 'sqlite') samples = samples.modifyEnd(sql`without rowid`);
  await samples.execute();

  await db.schema
    .createTable('vehicle_state')
    .addColumn('vehicle_id', 'text', (c) => c.notNull().references('vehicles.id').onDelete('cascade'))
    .addColumn('metric', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('ts_ms', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('vehicle_state_pk', ['vehicle_id', 'metric'])
    .execute();

  await db.schema
    .createTable('raw_keys')
    .addColumn('vehicle_id', 'text', (c) => c.notNull().references('vehicles.id').onDelete('cascade'))
    .addColumn('device_key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('first_seen_ms', ms, (c) => c.notNull())
    .addColumn('last_seen_ms', ms, (c) => c.notNull())
    .addColumn('canonical_key', 'text')
    .addColumn('unit', 'text')
    .addPrimaryKeyConstraint('raw_keys_pk', ['vehicle_id', 'device_key'])
    .execute();

  await db.schema
    .createTable('dead_letters')
    .addColumn('id', engine === 'sqlite' ? 'integer' : 'bigserial', (c) =>
      engine === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
    )
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('topic', 'text', (c) => c.notNull())
    .addColumn('vehicle_id', 'text')
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('received_ms', ms, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('settings')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_ms', ms, (c) => c.notNull())
    .execute();
}
