import SQLite from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type SqliteDatabase,
  SqliteDialect,
  SqliteDriver,
} from 'kysely';

/** A worker thread's connection may wait this long for the write lock: it blocks nobody else. */
const THREAD_BUSY_TIMEOUT_MS = 5000;

/**
 * The main thread's connection waits less: better-sqlite3 waits synchronously, so the whole event loop
 * stands still meanwhile. The writer thread holds the lock for one commit at a time (milliseconds), so a
 * longer wait means another process holds it (a backup, a `sqlite3` shell in a transaction): the request
 * then fails with SQLITE_BUSY, answered 503 with Retry-After (transports/http/errors.ts).
 */
export const MAIN_BUSY_TIMEOUT_MS = 2000;

/**
 * Opens a SQLite database the way every connection of the server uses it: WAL (readers never wait for the
 * writer), synchronous=FULL (a commit is on disk before anything is acknowledged), a busy timeout (the
 * telemetry writer thread and the main thread are two connections to one file), foreign keys on, and a
 * larger WAL between automatic checkpoints.
 * Throws what better-sqlite3 throws; callers turn that into a start-up error.
 */
export function openSqliteFile(path: string, busyTimeoutMs = THREAD_BUSY_TIMEOUT_MS): SQLite.Database {
  const native = new SQLite(path);
  try {
    native.pragma('journal_mode = WAL');
    native.pragma('synchronous = FULL');
    native.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
    native.pragma('foreign_keys = ON');
    // SQLite's own checkpoint, inside the COMMIT that passes 64 MB of WAL, is the backstop: the ingest
    // writer's checkpointer thread (wal-checkpointer.worker.ts, decision 0011) copies pages back long
    // before, beside the writer. A connection without one (tools, tests) copies back once per 64 MB
    // rather than per 4 MB, so each vehicle's hot index leaves are copied back less often (decision 0006).
    native.pragma('wal_autocheckpoint = 16000');
  } catch (error) {
    native.close();
    throw error;
  }
  return native;
}

/**
 * Kysely's SQLite dialect, with two changes: prepared statements are cached (see `withStatementCache`),
 * and transactions begin IMMEDIATE. With two connections to one file, a deferred transaction that reads
 * and then writes fails at once (SQLITE_BUSY_SNAPSHOT) if the other connection committed in between;
 * an immediate one takes the write lock first, waiting for it under the busy timeout.
 */
export function sqliteDialect(native: SQLite.Database): SqliteDialect {
  const config = { database: withStatementCache(native) };
  return new (class extends SqliteDialect {
    override createDriver() {
      return new (class extends SqliteDriver {
        override async beginTransaction(connection: DatabaseConnection): Promise<void> {
          await connection.executeQuery(CompiledQuery.raw('begin immediate'));
        }
      })(config);
    }
  })(config);
}

const STATEMENT_CACHE_SIZE = 256;
/**
 * A prepared statement takes memory in proportion to its text (a 1,000-row insert, ~27k characters, holds
 * about 1 MB), so the cache is also bounded by the total length of the texts it keeps: about 20 MB.
 */
const STATEMENT_CACHE_CHARS = 500_000;

/**
 * Kysely's SQLite driver prepares every statement again on each run; for the ingest batch (inserts of up
 * to 1,000 rows × 12 parameters) preparing costs about as much as running. Statements are kept by SQL
 * text, least recently used dropped first. A statement still being iterated (a streamed query) is busy,
 * so a second one is prepared for that run instead of sharing it.
 */
function withStatementCache(native: SQLite.Database): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>();
  let chars = 0;
  return {
    close: () => {
      cache.clear();
      native.close();
    },
    prepare(sqlText: string) {
      const cached = cache.get(sqlText);
      if (cached && !cached.busy) {
        // Re-inserting keeps the map in least-recently-used order.
        cache.delete(sqlText);
        cache.set(sqlText, cached);
        return cached;
      }
      const statement = native.prepare(sqlText);
      if (!cached && sqlText.length <= STATEMENT_CACHE_CHARS) {
        cache.set(sqlText, statement);
        chars += sqlText.length;
        while (cache.size > STATEMENT_CACHE_SIZE || chars > STATEMENT_CACHE_CHARS) {
          const oldest = cache.keys().next().value as string;
          cache.delete(oldest);
          chars -= oldest.length;
        }
      }
      return statement;
    },
  };
}
