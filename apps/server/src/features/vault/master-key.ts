import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { decodeVaultKey, type EncryptionKeySource } from '../../config.js';
import { StartupError } from '../../lib/errors.js';

export interface LoadedKey {
  readonly key: Uint8Array;
  /** The key file this start created (its path is printed, never the key), or null. */
  readonly created: string | null;
}

/**
 * The vault key from `TACHO_ENCRYPTION_KEY` or its key file. The default file
 * (`$TACHO_DATA_DIR/secret.key`) is created with mode 0600 when it does not exist; a file named in
 * `TACHO_ENCRYPTION_KEY_FILE` must exist. Anything wrong stops the start with a line naming the variable
 * and never the key's bytes (fail closed: nothing is ever stored in clear instead).
 */
export function loadVaultKey(source: EncryptionKeySource, options: { create?: boolean } = {}): LoadedKey {
  if (source.kind === 'env') {
    const key = decodeVaultKey(source.key);
    if (!key)
      throw new StartupError('TACHO_ENCRYPTION_KEY must be 32 bytes in base64 (openssl rand -base64 32)');
    return { key: new Uint8Array(key), created: null };
  }
  const variable = source.explicit ? 'TACHO_ENCRYPTION_KEY_FILE' : 'TACHO_ENCRYPTION_KEY_FILE (default)';
  let text: string;
  try {
    text = readFileSync(source.path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !source.explicit && options.create !== false)
      return { key: createKeyFile(source.path), created: source.path };
    throw new StartupError(
      `cannot read the encryption key file ${source.path} named by ${variable} (${code}): restore it, or point TACHO_ENCRYPTION_KEY_FILE at the key the secrets were sealed with`,
    );
  }
  const key = decodeVaultKey(text);
  if (!key)
    throw new StartupError(
      `the encryption key file ${source.path} named by ${variable} does not hold 32 bytes in base64: restore the key the secrets were sealed with`,
    );
  return { key: new Uint8Array(key), created: null };
}

/**
 * A new random key in a file only its owner may read. It is written whole to a temporary name and then
 * linked into place, which fails if the file exists: a parallel start never reads a half-written key and
 * never overwrites one another start wrote (it uses that one).
 */
export function createKeyFile(path: string): Uint8Array {
  const key = randomBytes(32);
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(temporary, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    linkSync(temporary, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      const existing = decodeVaultKey(readFileSync(path, 'utf8'));
      if (existing) return new Uint8Array(existing);
    }
    throw new StartupError(
      `cannot create the encryption key file ${path} (${code}): set TACHO_DATA_DIR to a writable directory or TACHO_ENCRYPTION_KEY_FILE to a key file`,
    );
  } finally {
    rmSync(temporary, { force: true });
  }
  return new Uint8Array(key);
}

/** The key file's mode when other accounts may read or write it (a start warns, with the chmod), else null. */
export function wideKeyFile(source: EncryptionKeySource): number | null {
  if (source.kind !== 'file') return null;
  try {
    const mode = statSync(source.path).mode & 0o777;
    return mode & 0o077 ? mode : null;
  } catch {
    return null;
  }
}
