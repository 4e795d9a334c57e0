import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { decodeVaultKey, loadConfig } from '../../config.js';
import { openStorage } from '../../db/index.js';
import { StartupError } from '../../lib/errors.js';
import { createKeyFile, loadVaultKey } from './master-key.js';
import { rotateVault } from './rotate.js';
import { VaultError } from './vault.js';

export interface VaultRotateCommand {
  readonly newKeyFile: string;
  readonly finish?: boolean;
  readonly batch?: number;
}

/**
 * `tacho vault rotate --new-key-file FILE [--finish]`: opens the database the server's settings name (the
 * same `TACHO_*` environment and `.env`), with the key they name, and re-seals every secret under the key
 * in FILE (created, mode 0600, when it does not exist). Prints progress and the next step; never a key.
 * Returns the exit code.
 */
export async function runVaultRotate(
  command: VaultRotateCommand,
  env: Readonly<Record<string, string | undefined>> = process.env,
  out: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<number> {
  try {
    const config = loadConfig(env);
    const current = loadVaultKey(config.encryption, { create: false }).key;
    const path = resolve(command.newKeyFile);
    let newKey: Uint8Array;
    if (existsSync(path)) {
      const decoded = decodeVaultKey(readFileSync(path, 'utf8'));
      if (!decoded) throw new StartupError(`--new-key-file ${path} does not hold 32 bytes in base64`);
      newKey = new Uint8Array(decoded);
    } else {
      newKey = createKeyFile(path);
      out(`created a new key file at ${path} (mode 0600): back it up apart from the database`);
    }
    const storage = await openStorage(config.database);
    try {
      const result = await rotateVault({
        db: storage.db,
        currentKey: current,
        newKey,
        ...(command.batch !== undefined ? { batch: command.batch } : {}),
        ...(command.finish ? { finish: true } : {}),
        report: out,
      });
      out(`${result.resealed} value(s) re-sealed under key ${result.newKeyId}`);
    } finally {
      await storage.close();
    }
    return 0;
  } catch (error) {
    if (error instanceof StartupError || error instanceof VaultError) {
      process.stderr.write(`tacho: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
