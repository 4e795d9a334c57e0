import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe } from 'vitest';
import { type Engine, openStorage, type Storage } from '../db/index.js';

/** The PostgreSQL server the tests use (the machine's service; trust auth, database `test`). */
export const TEST_PG_URL = process.env.TACHO_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function probePostgres(): Promise<string | null> {
  const client = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return null;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

const pgProblem = await probePostgres();
if (pgProblem && process.env.CI === 'true') {
  throw new Error(`PostgreSQL at ${TEST_PG_URL} is required under CI but unreachable: ${pgProblem}`);
}
if (pgProblem) {
  console.warn(`[tests] skipping PostgreSQL runs: ${TEST_PG_URL} unreachable (${pgProblem})`);
}

/** The engines this run covers: SQLite always; PostgreSQL when reachable (always under CI). */
export const engines: readonly Engine[] = pgProblem ? ['sqlite'] : ['sqlite', 'postgres'];

/** Opens a fresh, migrated, empty database on the engine; `drop` removes it again. */
export async function freshStorage(engine: Engine): Promise<Storage & { drop(): Promise<void> }> {
  if (engine === 'sqlite') {
    // A file, as in production: the ingest pipeline then writes through its own thread and connection.
    const dir = mkdtempSync(join(tmpdir(), 'tacho-test-db-'));
    const storage = await openStorage({ kind: 'sqlite', path: join(dir, 'tacho.db') });
    return Object.assign(storage, {
      async drop() {
        await storage.close();
        rmSync(dir, { recursive: true, force: true });
      },
    });
  }
  const schema = `t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const storage = await openStorage({ kind: 'postgres', url: TEST_PG_URL }, { schema, poolSize: 5 });
  return Object.assign(storage, {
    async drop() {
      await storage.close();
      const client = new pg.Client({ connectionString: TEST_PG_URL });
      await client.connect();
      try {
        await client.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await client.end();
      }
    },
  });
}

/**
 * Runs the same suite once per engine, each test on a fresh empty database:
 *
 *     describeEngines('vehicles repo', (ctx) => { it('…', async () => { ctx.storage.db … }) })
 */
export function describeEngines(
  title: string,
  suite: (ctx: { readonly storage: Storage; readonly engine: Engine }) => void,
): void {
  for (const engine of engines) {
    describe(`${title} [${engine}]`, () => {
      let current: (Storage & { drop(): Promise<void> }) | null = null;
      const ctx = {
        engine,
        get storage(): Storage {
          if (!current) throw new Error('storage is only available inside a test');
          return current;
        },
      };
      beforeEach(async () => {
        current = await freshStorage(engine);
      });
      afterEach(async () => {
        await current?.drop();
        current = null;
      });
      suite(ctx);
    });
  }
}
