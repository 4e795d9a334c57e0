import { sql } from 'kysely';
import type { Storage } from '../db/index.js';

/** Every text value of every table: what a database dump would show. */
export async function dumpText(storage: Storage): Promise<string[]> {
  const values: string[] = [];
  for (const table of await storage.db.introspection.getTables()) {
    const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(table.name)}`.execute(
      storage.db,
    );
    for (const row of rows)
      for (const value of Object.values(row))
        if (typeof value === 'string') values.push(value);
        else if (value instanceof Uint8Array) values.push(Buffer.from(value).toString('latin1'));
  }
  return values;
}
