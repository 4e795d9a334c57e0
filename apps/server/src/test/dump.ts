import { sql } from 'kysely';
import type { Storage } from '../db/index.js';

/**
 * The tables of this storage's own schema. On PostgreSQL not Kysely's introspection: it reads every
 * schema, and parallel test files drop theirs at any moment (`schema "t_…" does not exist`).
 */
export async function ownTables(storage: Storage): Promise<string[]> {
  if (storage.engine === 'postgres')
    return (
      await sql<{
        name: string;
      }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(
        storage.db,
      )
    ).rows.map((r) => r.name);
  return (await storage.db.introspection.getTables()).map((t) => t.name);
}

/** Every text value of every table: what a database dump would show. */
export async function dumpText(storage: Storage): Promise<string[]> {
  const values: string[] = [];
  for (const table of await ownTables(storage)) {
    const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(
      storage.db,
    );
    for (const row of rows)
      for (const value of Object.values(row))
        if (typeof value === 'string') values.push(value);
        else if (value instanceof Uint8Array) values.push(Buffer.from(value).toString('latin1'));
  }
  return values;
}
