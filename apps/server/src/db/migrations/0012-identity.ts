import { type Kysely, sql } from 'kysely';
import type { Engine } from '../database.js';

/**
 * Identity (issue 20):
 * - `vehicles.kind` (car, motorcycle, truck, phone, tracker, other; existing rows are cars) and a VIN
 *   that may be missing (still unique when given). Both engines drop the NOT NULL in place (the SQLite that
 *   better-sqlite3 12 bundles, 3.53, has `ALTER COLUMN … DROP NOT NULL`), so no table is rebuilt: a
 *   rebuild would drop `vehicles`, and with foreign keys on that deletes every row hanging off it.
 * - `user_identities`: a user's sign-ins at OpenID providers, unique on (issuer, subject).
 * - `users.provider_only_ms`: set when an admin requires provider sign-in only (password refused).
 * - `logins.method`: which way a login began (password, oidc, setup, signup); existing ones: password.
 * - `oidc_attempts`: a sign-in sent to the provider and not yet back (PKCE verifier, nonce), used once.
 * - `cli_logins`: `tacho login` attempts waiting for a browser's confirmation; `api_tokens.cli_host`
 *   marks the tokens they made (Settings lists them as CLI logins).
 */
export async function up(db: Kysely<unknown>, _engine: Engine): Promise<void> {
  const ms = 'bigint';
  await db.schema
    .alterTable('vehicles')
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('car'))
    .execute();
  await db.schema
    .alterTable('vehicles')
    .alterColumn('vin', (c) => c.dropNotNull())
    .execute();

  await db.schema.alterTable('users').addColumn('provider_only_ms', ms).execute();
  await db.schema
    .alterTable('logins')
    .addColumn('method', 'text', (c) => c.notNull().defaultTo('password'))
    .execute();
  await db.schema.alterTable('api_tokens').addColumn('cli_host', 'text').execute();

  await db.schema
    .createTable('user_identities')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('email', 'text')
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addColumn('last_used_ms', ms)
    .addUniqueConstraint('user_identities_issuer_subject', ['issuer', 'subject'])
    .execute();
  await db.schema.createIndex('user_identities_user').on('user_identities').column('user_id').execute();

  await db.schema
    .createTable('oidc_attempts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('state_hash', 'text', (c) => c.notNull())
    .addColumn('nonce', 'text', (c) => c.notNull())
    .addColumn('code_verifier', 'text', (c) => c.notNull())
    .addColumn('next', 'text', (c) => c.notNull())
    .addColumn('link_user_id', 'text')
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addColumn('expires_ms', ms, (c) => c.notNull())
    .addColumn('used_ms', ms)
    .execute();
  await db.schema.createIndex('oidc_attempts_expires').on('oidc_attempts').column('expires_ms').execute();

  await db.schema
    .createTable('cli_logins')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('connection_hash', 'text', (c) => c.notNull().unique())
    .addColumn('resume_hash', 'text', (c) => c.notNull())
    .addColumn('user_code', 'text', (c) => c.notNull())
    .addColumn('client', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('pending', 'confirmed', 'denied', 'collected', 'ended')`),
    )
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('token_id', 'text')
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addColumn('expires_ms', ms, (c) => c.notNull())
    .addColumn('decided_ms', ms)
    .addColumn('last_poll_ms', ms)
    .addColumn('poll_interval_s', 'integer', (c) => c.notNull().defaultTo(5))
    .execute();
  await db.schema.createIndex('cli_logins_expires').on('cli_logins').column('expires_ms').execute();
}
