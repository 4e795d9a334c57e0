import { sql } from 'kysely';
import type { Db, Storage } from './database.js';

/** Keys held in this process, per connection (SQLite: the only process on its file). */
const heldHere = new WeakMap<Db, Set<string>>();

/**
 * Runs `fn` while this instance alone holds `key`, or returns `{ held: false }` at once when another
 * holder has it. PostgreSQL: a transaction-scoped advisory lock (`pg_try_advisory_xact_lock`), so `fn`
 * runs inside that transaction and the lock ends with it — by commit, by rollback, or with the connection
 * of an instance that died. SQLite: one process owns the file, so an in-process lock suffices and `fn`
 * gets the plain connection (open short write transactions with `inTransaction`, so the writer thread's
 * commits never wait on a long read). Decision 0017.
 */
export async function exclusively<T>(
  storage: Pick<Storage, 'db' | 'engine'>,
  key: string,
  fn: (db: Db) => Promise<T>,
): Promise<{ held: true; value: T } | { held: false }> {
  if (storage.engine === 'postgres') {
    // REPEATABLE READ: every read of the round sees one snapshot (the processing runner relies on it).
    return storage.db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute(async (trx) => {
        const got = await sql<{
          ok: boolean;
        }>`select pg_try_advisory_xact_lock(hashtext('tacho'), hashtext(${key})) as ok`.execute(trx);
        if (!got.rows[0]?.ok) return { held: false as const };
        return { held: true as const, value: await fn(trx) };
      });
  }
  const held = heldHere.get(storage.db) ?? new Set<string>();
  heldHere.set(storage.db, held);
  if (held.has(key)) return { held: false };
  held.add(key);
  try {
    return { held: true, value: await fn(storage.db) };
  } finally {
    held.delete(key);
  }
}

/** Runs `fn` in a transaction: the one `db` already is, or a new one. */
export function inTransaction<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}

/**
 * Runs `fn` in one read snapshot. PostgreSQL: `db` is already a REPEATABLE READ transaction (see
 * `exclusively`). SQLite: a deferred transaction that only reads, so it never takes the write lock (the
 * dialect's own transactions begin IMMEDIATE, which would hold the telemetry writer thread off).
 */
export async function readSnapshot<T>(
  storage: Pick<Storage, 'engine'>,
  db: Db,
  fn: (db: Db) => Promise<T>,
): Promise<T> {
  if (storage.engine !== 'sqlite' || db.isTransaction) return fn(db);
  // Held for the whole snapshot: on a connection others share (in-memory SQLite, two runners in a test),
  // their statements wait instead of running inside this transaction or failing to begin their own.
  return db.connection().execute(async (conn) => {
    await sql`begin deferred`.execute(conn);
    try {
      const value = await fn(conn);
      await sql`commit`.execute(conn);
      return value;
    } catch (error) {
      await sql`rollback`.execute(conn).catch(() => {});
      throw error;
    }
  });
}
