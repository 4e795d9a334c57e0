import type { Db } from '../../db/index.js';
import { resealBatch, SEALED_COLUMNS } from './sealed-columns.js';
import { CURRENT_KEY_SETTING, keyIdOf, Vault, VaultError, WRAPPED_KEY_SETTING } from './vault.js';

export interface RotateOptions {
  /** The database, opened as the server opens it. */
  readonly db: Db;
  /** The key the server is configured with now (`TACHO_ENCRYPTION_KEY` or its file). */
  readonly currentKey: Uint8Array;
  /** The key to seal everything under. */
  readonly newKey: Uint8Array;
  /** Values re-sealed per batch (each value is its own small update; a stop loses nothing). */
  readonly batch?: number;
  /** Drops the old key from the database once no value needs it (after every instance uses the new key). */
  readonly finish?: boolean;
  readonly now?: () => number;
  /** Progress, one line per batch. */
  readonly report?: (line: string) => void;
}

export interface RotateResult {
  readonly newKeyId: string;
  readonly resealed: number;
  readonly finished: boolean;
}

/**
 * Re-seals every secret at rest under a new key (decision 0026), in batches, resumable: running it again
 * with the same new key carries on where it stopped. Running servers keep working throughout: the new key
 * is stored wrapped by the old one (and the old by the new), so every instance opens values of both keys
 * and seals new ones under the new key, which `vault.current_key_id` names.
 *
 * `finish` (run once every instance was restarted with the new key) re-seals any straggler and removes
 * the wrapped keys: from then on only the new key opens anything, and a copy of the old key opens nothing
 * in this database.
 */
export async function rotateVault(options: RotateOptions): Promise<RotateResult> {
  const { db, currentKey, newKey } = options;
  const batch = options.batch ?? 100;
  const now = options.now ?? Date.now;
  const report = options.report ?? (() => {});
  const currentId = keyIdOf(currentKey);
  const newId = keyIdOf(newKey);
  const vault = new Vault(db, currentKey);
  vault.addKey(newKey);
  if (options.finish && currentId !== newId)
    throw new VaultError(
      'finish the rotation with the new key configured (TACHO_ENCRYPTION_KEY_FILE pointing at the new key file) on every instance',
    );
  if (currentId !== newId) {
    // Both wrappings first, then the switch: an instance that sees the new id can always load its key.
    const rows = [Vault.wrap(newKey, currentKey), Vault.wrap(currentKey, newKey)];
    await db.transaction().execute(async (trx) => {
      for (const row of rows) {
        await trx
          .insertInto('settings')
          .values({ key: row.setting, value: row.value, updated_ms: now() })
          .onConflict((oc) => oc.column('key').doUpdateSet({ value: row.value, updated_ms: now() }))
          .execute();
      }
      await trx
        .insertInto('settings')
        .values({ key: CURRENT_KEY_SETTING, value: newId, updated_ms: now() })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value: newId, updated_ms: now() }))
        .execute();
    });
    report(`new values are sealed under key ${newId}; re-sealing the stored ones`);
  }
  let resealed = 0;
  // Until a whole pass finds nothing: a server may have sealed a value under the old key just before it
  // saw the switch.
  for (let pass = 0; ; pass++) {
    let thisPass = 0;
    for (const column of SEALED_COLUMNS) {
      for (;;) {
        const n = await resealBatch(db, vault, column, newKey, newId, batch);
        thisPass += n;
        if (n > 0) report(`${column.table}.${column.column}: ${n} re-sealed`);
        if (n < batch) break;
      }
    }
    resealed += thisPass;
    if (thisPass === 0 || pass > 10) break;
  }
  if (options.finish) {
    await db.transaction().execute(async (trx) => {
      await trx.deleteFrom('settings').where('key', 'like', `${WRAPPED_KEY_SETTING}%`).execute();
      await trx.deleteFrom('settings').where('key', '=', CURRENT_KEY_SETTING).execute();
    });
    report(`done: only key ${newId} opens the secrets now`);
  } else {
    report(
      `all secrets are sealed under key ${newId}: point TACHO_ENCRYPTION_KEY_FILE at the new key on every instance, restart them, then run this again with --finish`,
    );
  }
  return { newKeyId: newId, resealed, finished: options.finish === true };
}
