import { dirname } from 'node:path';
import type SQLite from 'better-sqlite3';
import {
  Kysely,
  type Migration,
  Migrator,
  PostgresDialect,
  type PostgresPool,
  type PostgresPoolClient,
  type PostgresQueryResult,
  sql,
} from 'kysely';
import pg from 'pg';
import type { Config } from '../config.js';
import { redactUrl } from '../config.js';
import { StartupError } from '../lib/errors.js';
import { createPrivateDatabaseFile } from './data-files.js';
import { migrations } from './migrations/index.js';
import { MAIN_BUSY_TIMEOUT_MS, openSqliteFile, sqliteDialect } from './sqlite.js';
import type { Database } from './tables.js';

export type Engine = 'sqlite' | 'postgres';
export type Db = Kysely<Database>;

/** The storage seam: features get `db` and never branch on `engine` (migrations are the exception). */
export interface Storage {
  readonly db: Db;
  readonly engine: Engine;
  /** PostgreSQL schema the tables live in when one was asked for (tests); undefined = the default. */
  readonly schema?: string;
  /**
   * A SQLite database's file, so that a writer thread can open a connection of its own (telemetry does);
   * null for PostgreSQL and for in-memory SQLite (tests), which only this connection can reach.
   */
  readonly file: string | null;
  /** Resolves when the database answers a trivial query; rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

// int8 (bigint) columns hold epoch milliseconds, which fit a JS number exactly; pg returns strings by
// default. numeric stays a string on purpose (not used by the schema).
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

export interface OpenOptions {
  /** PostgreSQL only: run in this schema (created if missing); tests give each run its own. */
  schema?: string;
  /** Pool size for PostgreSQL. */
  poolSize?: number;
}

/** Opens the database the config names and brings its schema up to date. */
export async function openStorage(database: Config['database'], options: OpenOptions = {}): Promise<Storage> {
  const storage =
    database.kind === 'sqlite' ? openSqlite(database.path) : await openPostgres(database.url, options);
  try {
    await migrate(storage);
  } catch (error) {
    await storage.close();
    throw error;
  }
  return storage;
}

function openSqlite(path: string): Storage {
  if (path !== ':memory:') {
    try {
      createPrivateDatabaseFile(path);
    } catch (error) {
      throw new StartupError(
        `cannot create the data directory ${dirname(path)} or the database in it (${(error as NodeJS.ErrnoException).code}): set TACHO_DATA_DIR to a writable directory`,
      );
    }
  }
  let native: SQLite.Database;
  try {
    native = openSqliteFile(path, MAIN_BUSY_TIMEOUT_MS);
  } catch (error) {
    throw new StartupError(
      `cannot open the SQLite database at ${path} (${(error as Error).message}): set TACHO_DATA_DIR to a writable directory`,
    );
  }
  const db = new Kysely<Database>({ dialect: sqliteDialect(native) });
  return {
    db,
    engine: 'sqlite',
    file: path === ':memory:' ? null : path,
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await db.destroy();
    },
  };
}

async function openPostgres(url: string, options: OpenOptions): Promise<Storage> {
  const schema = options.schema;
  if (schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(schema))
    throw new Error(`bad schema name ${schema}`);
  if (schema) {
    // Create the schema before any pooled connection exists: a connection whose search_path names a
    // schema that does not exist yet resolves to none, and Kysely then falls back to another schema.
    const admin = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    admin.on('error', () => {});
    try {
      await admin.connect();
      await admin.query(`create schema if not exists ${schema}`);
    } catch (error) {
      throw new StartupError(
        `cannot reach PostgreSQL at ${redactUrl(url)} (${(error as Error).message}): check TACHO_DATABASE_URL and that the server is running`,
      );
    } finally {
      await admin.end().catch(() => {});
    }
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    types: pgTypes,
    connectionTimeoutMillis: 5000,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  // An idle client losing its connection (server restart) must not crash the process.
  pool.on('error', () => {});
  // A connection that drops while checked out (a query in flight, or still connecting) emits 'error' on
  // its client, where nobody listens: that would crash the process. The query itself still fails and the
  // caller retries, so the event needs no handling here.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  try {
    const client = await pool.connect();
    try {
      await client.query('select 1');
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => {});
    throw new StartupError(
      `cannot reach PostgreSQL at ${redactUrl(url)} (${(error as Error).message}): check TACHO_DATABASE_URL and that the server is running`,
    );
  }
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: callbackQueries(pool) }) });
  return {
    db,
    engine: 'postgres',
    file: null,
    ...(schema ? { schema } : {}),
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await db.destroy();
    },
  };
}

/**
 * The pool as Kysely sees it, each client's queries going through pg's callback API instead of its
 * promise API. Reading pages with pg's own promises, ~240 bytes of every row read survived two
 * scavenges and went to the old generation (garbage there, kept until the next full collection): a
 * 1 M-sample export grew the server by +56 MB RSS, and a loop of 500-row queries promoted 46 MB per
 * 500 k rows against none through the callback API, which was also a third faster (issue 19).
 */
function callbackQueries(pool: pg.Pool): PostgresPool {
  // One wrapper per pg client, for as long as it lives: Kysely keys its connections by the client.
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => ({
    query: ((text: unknown, parameters?: ReadonlyArray<unknown>) => {
      if (typeof text !== 'string') return client.query(text as never);
      return new Promise<PostgresQueryResult<unknown>>((resolve, reject) =>
        client.query(text, parameters as unknown[], (error: Error | null, result: pg.QueryResult) =>
          error ? reject(error) : resolve(result as PostgresQueryResult<unknown>),
        ),
      );
    }) as PostgresPoolClient['query'],
    release: () => client.release(),
  });
  return {
    async connect() {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        wrapper = wrap(client);
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}

/** Applies every migration not yet recorded, in order, each in its own transaction. */
export async function migrate(storage: Storage): Promise<string[]> {
  const { db, engine } = storage;
  const provider = {
    async getMigrations(): Promise<Record<string, Migration>> {
      return Object.fromEntries(
        migrations.map(([name, m]) => [name, { up: (k: Kysely<unknown>) => m.up(k, engine) }] as const),
      );
    },
  };
  // Kysely looks for its own tables in every schema unless told which one: with several schemas in one
  // database (parallel tests), another schema's kysely_migration_lock would be taken for ours.
  const migrationTableSchema =
    engine === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema
      : undefined;
  // Migration numbers are reserved per feature and land in any order (0005 before 0004): a database that
  // already ran 0005 must still run 0004 when it arrives, instead of refusing to start.
  const migrator = new Migrator({
    db,
    provider,
    allowUnorderedMigrations: true,
    ...(migrationTableSchema ? { migrationTableSchema } : {}),
  });
  let { error, results } = await migrator.migrateToLatest();
  // Kysely's introspection reads every schema's tables; another schema dropped at that moment (parallel
  // test runs sharing one database) fails it. Nothing was applied (each migration runs in a
  // transaction), so trying again is safe.
  for (
    let attempt = 1;
    error && attempt < 5 && isOtherSchemaDropped(error, migrationTableSchema);
    attempt++
  ) {
    await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    ({ error, results } = await migrator.migrateToLatest());
  }
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new StartupError(
      `database migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? String(error)}`,
    );
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * Errors Kysely's whole-database introspection hits when another schema's tables vanish under it:
 * undefined schema, table or column (the other schema's, never ours: our migrations have not run yet).
 */
function isOtherSchemaDropped(error: unknown, ownSchema: string | undefined): boolean {
  const e = error as { code?: string; message?: string };
  if (ownSchema === undefined) return false;
  if (e?.code === '3F000') return !String(e.message).includes(`"${ownSchema}"`);
  return e?.code === '42P01' || e?.code === '42703';
}
