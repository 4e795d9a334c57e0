import { type Kysely, sql } from 'kysely';
import type { Engine } from '../database.js';

/**
 * SQLite only: `samples` and the rollups become ordinary rowid tables, their primary key a separate
 * unique index (PostgreSQL already stores them that way). Stored WITHOUT ROWID, each ingest commit
 * rewrote a page per vehicle of samples (~400-byte rows kept in key order) and a page per vehicle and
 * metric of rollups, since each one's newest bucket sits at the end of its own key range. As rowid
 * tables, new rows append to the same few pages and only the small index entries scatter: a commit
 * writes half the pages. Decision record: docs/decisions/0006-sqlite-writer-thread.md.
 */
export async function up(db: Kysely<unknown>, engine: Engine): Promise<void> {
  if (engine !== 'sqlite') return;
  for (const table of ['samples', 'rollups_minute', 'rollups_hour']) {
    const found = await sql<{
      sql: string;
    }>`select sql from sqlite_master where type = 'table' and name = ${table}`.execute(db);
    const ddl = found.rows[0]?.sql;
    if (!ddl) throw new Error(`table ${table} is missing`);
    const rebuilt = `${table}_0006`;
    const create = ddl
      .replace(`CREATE TABLE "${table}"`, `CREATE TABLE "${rebuilt}"`)
      .replace(/\s+without rowid\s*$/i, '');
    if (create === ddl || /without rowid/i.test(create)) throw new Error(`unexpected definition of ${table}`);
    await sql.raw(create).execute(db);
    await sql.raw(`insert into "${rebuilt}" select * from "${table}"`).execute(db);
    await sql.raw(`drop table "${table}"`).execute(db);
    await sql.raw(`alter table "${rebuilt}" rename to "${table}"`).execute(db);
  }
}
