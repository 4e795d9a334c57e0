import type { Config } from '../../config.js';
import type { Db } from '../../db/index.js';
import { StartupError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { loadVaultKey, wideKeyFile } from './master-key.js';
import { sampleSealed, sealPlaintexts } from './sealed-columns.js';
import { Vault, VaultError } from './vault.js';

export { loadVaultKey } from './master-key.js';
export { SEALED_COLUMNS, SIGNING_KEY_SETTING } from './sealed-columns.js';
export { isSealed, type SealedPlace, Vault, VaultError } from './vault.js';

/**
 * The vault for this start (decision 0026): loads the key (creating the default key file on a first
 * start), seals any secret still in clear, and checks the key opens what the database holds. A missing or
 * wrong key stops the start with one line naming the variable to fix; the key itself is never printed.
 */
export async function openVault(config: Config, db: Db, logger: Logger): Promise<Vault> {
  const loaded = loadVaultKey(config.encryption);
  if (loaded.created) {
    logger.warn(
      { path: loaded.created },
      'created a new encryption key file: back it up apart from the database; without it the stored secrets cannot be opened',
    );
  }
  const wide = wideKeyFile(config.encryption);
  if (wide !== null && config.encryption.kind === 'file') {
    const path = config.encryption.path;
    logger.warn(
      { path, mode: `0${wide.toString(8)}` },
      `the encryption key file ${path} can be read by other accounts: chmod 600 ${path}`,
    );
  }
  const vault = new Vault(db, loaded.key);
  for (const { value, place } of await sampleSealed(db)) {
    try {
      await vault.open(value, place);
    } catch (error) {
      if (!(error instanceof VaultError)) throw error;
      const variable =
        config.encryption.kind === 'env' ? 'TACHO_ENCRYPTION_KEY' : 'TACHO_ENCRYPTION_KEY_FILE';
      const where = config.encryption.kind === 'file' ? ` (${config.encryption.path})` : '';
      throw new StartupError(
        `the encryption key from ${variable}${where} does not open the secrets in the database (this key's id is ${vault.keyId}; ${error.message}): set ${variable} to the key they were sealed with`,
      );
    }
  }
  const sealed = await sealPlaintexts(db, vault);
  if (sealed > 0) logger.info({ sealed }, 'sealed secrets that were stored in clear');
  return vault;
}
