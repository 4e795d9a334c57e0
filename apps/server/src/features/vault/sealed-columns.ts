import { sql } from 'kysely';
import type { Db } from '../../db/index.js';
import { isSealed, openWith, SEALED_PREFIX, type SealedPlace, sealWith, type Vault } from './vault.js';

/** A column that holds secrets sealed by the vault, and how its rows are named in the sealed values. */
export interface SealedColumn {
  readonly table:
    | 'alert_rules'
    | 'device_bindings'
    | 'settings'
    | 'connector_accounts'
    | 'connector_attempts';
  readonly column: string;
  /** Columns whose values, joined with `/`, are the row id in the additional authenticated data. */
  readonly idColumns: readonly string[];
  /** Only rows whose first id column is one of these (settings: the keys that hold secrets). */
  readonly only?: readonly string[];
}

/** The access tokens' signing key (`features/auth/access-token.ts`). */
export const SIGNING_KEY_SETTING = 'auth.jwt_signing_key';

/** Every secret at rest. A new one is added here, and its reads and writes go through the vault. */
export const SEALED_COLUMNS: readonly SealedColumn[] = [
  { table: 'alert_rules', column: 'secret', idColumns: ['id'] },
  { table: 'device_bindings', column: 'secret', idColumns: ['kind', 'device_id'] },
  { table: 'settings', column: 'value', idColumns: ['key'], only: [SIGNING_KEY_SETTING] },
  { table: 'connector_accounts', column: 'access_token', idColumns: ['id'] },
  { table: 'connector_accounts', column: 'refresh_token', idColumns: ['id'] },
  { table: 'connector_accounts', column: 'id_token', idColumns: ['id'] },
  { table: 'connector_accounts', column: 'pending_refresh_token', idColumns: ['id'] },
  { table: 'connector_attempts', column: 'code_verifier', idColumns: ['state'] },
];

/** Where a row's value of `column` lives, for the vault. */
export function placeOf(column: SealedColumn, row: Record<string, unknown>): SealedPlace {
  return {
    table: column.table,
    column: column.column,
    rowId: column.idColumns.map((c) => String(row[c])).join('/'),
  };
}

interface Row {
  value: string;
  ids: Record<string, unknown>;
}

/** Up to `limit` rows of the column whose value matches `filter`, oldest id first. */
async function rows(
  db: Db,
  column: SealedColumn,
  filter: (value: ReturnType<typeof sql.ref>) => ReturnType<typeof sql>,
  limit: number,
): Promise<Row[]> {
  const value = sql.ref(column.column);
  const ids = sql.join(column.idColumns.map((c) => sql.ref(c)));
  const only = column.only
    ? sql`and ${sql.ref(column.idColumns[0] as string)} in (${sql.join(column.only.map((v) => sql.lit(v)))})`
    : sql``;
  const result = await sql<Record<string, unknown>>`
    select ${ids}, ${value} as sealed_value from ${sql.table(column.table)}
    where ${value} is not null and ${filter(value)} ${only}
    order by ${ids} limit ${sql.lit(limit)}`.execute(db);
  return result.rows.map((r) => {
    const { sealed_value, ...rest } = r;
    return { value: String(sealed_value), ids: rest };
  });
}

/** Replaces a row's value only if it is still `before` (a concurrent edit wins; the next pass sees it). */
async function replace(db: Db, column: SealedColumn, row: Row, before: string, after: string): Promise<void> {
  const where = sql.join(
    column.idColumns.map((c) => sql`${sql.ref(c)} = ${row.ids[c]}`),
    sql` and `,
  );
  await sql`update ${sql.table(column.table)} set ${sql.ref(column.column)} = ${after}
    where ${where} and ${sql.ref(column.column)} = ${before}`.execute(db);
}

// substr, not like: SQLite's like ignores case, and a typed secret may start with "TV1:".
const startsWith = (value: ReturnType<typeof sql.ref>, prefix: string) =>
  sql`substr(${value}, 1, ${sql.lit(prefix.length)}) = ${prefix}`;
const notSealed = (value: ReturnType<typeof sql.ref>) => sql`not ${startsWith(value, SEALED_PREFIX)}`;

/**
 * Seals every value still in clear (a database from before the vault). Idempotent: sealed values are
 * told by their prefix, so a start that stopped half way finishes at the next. Returns how many it sealed.
 */
export async function sealPlaintexts(db: Db, vault: Vault, batch = 200): Promise<number> {
  let sealed = 0;
  for (const column of SEALED_COLUMNS) {
    for (;;) {
      const found = await rows(db, column, notSealed, batch);
      for (const row of found) {
        const place = placeOf(column, row.ids);
        await replace(db, column, row, row.value, await vault.seal(row.value, place));
      }
      sealed += found.length;
      if (found.length < batch) break;
    }
  }
  return sealed;
}

/** The first sealed value of each column (start-up checks the key opens them). */
export async function sampleSealed(db: Db): Promise<Array<{ value: string; place: SealedPlace }>> {
  const out: Array<{ value: string; place: SealedPlace }> = [];
  for (const column of SEALED_COLUMNS) {
    const [row] = await rows(db, column, (v) => startsWith(v, SEALED_PREFIX), 1);
    if (row) out.push({ value: row.value, place: placeOf(column, row.ids) });
  }
  return out;
}

/**
 * One batch of the rotation: up to `batch` values of one column not yet under `target` are opened (with
 * the vault, which knows the old key) and sealed again under `target`. Returns how many it re-sealed.
 */
export async function resealBatch(
  db: Db,
  vault: Vault,
  column: SealedColumn,
  target: Uint8Array,
  targetId: string,
  batch: number,
): Promise<number> {
  const found = await rows(
    db,
    column,
    (v) => sql`${startsWith(v, SEALED_PREFIX)} and not ${startsWith(v, `${SEALED_PREFIX}${targetId}:`)}`,
    batch,
  );
  for (const row of found) {
    const place = placeOf(column, row.ids);
    const plain = await vault.open(row.value, place);
    await replace(db, column, row, row.value, sealWith(target, plain, place));
  }
  return found.length;
}

export { isSealed, openWith };
