import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Db } from '../../db/index.js';

/**
 * Secrets at rest (issue 21.1, decision 0026): AES-256-GCM with a random 96-bit IV per value, the key's id
 * in the sealed value, and where the value lives (table, column, row id) as additional authenticated data,
 * so a value copied into another row, column or table does not open.
 *
 * A sealed value is text: `tv1:<key id>:<base64url of IV ‖ ciphertext ‖ 16-byte tag>`. The key id is the
 * first 12 hex digits of SHA-256("tacho-vault-key-id" ‖ key): it names a key without revealing it.
 */
export const SEALED_PREFIX = 'tv1:';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID_PREFIX = 'tacho-vault-key-id';

/** Settings rows of the rotation: a key wrapped (sealed) by another one, and the key new values use. */
export const WRAPPED_KEY_SETTING = 'vault.key.';
export const CURRENT_KEY_SETTING = 'vault.current_key_id';

/** Where a sealed value lives: its additional authenticated data. */
export interface SealedPlace {
  readonly table: string;
  readonly column: string;
  /** The row's id; for a composite key, its parts joined with `/`. */
  readonly rowId: string;
}

/** A value that does not open: tampered, moved, or sealed under a key this server does not have. */
export class VaultError extends Error {
  override name = 'VaultError';
}

/** The id a key is known by inside sealed values. */
export function keyIdOf(key: Uint8Array): string {
  return createHash('sha256').update(KEY_ID_PREFIX).update(key).digest('hex').slice(0, 12);
}

/** Whether a stored value is sealed (the startup step seals those that are not). */
export function isSealed(value: string): boolean {
  return value.startsWith(SEALED_PREFIX);
}

/** The key id a sealed value names, or null when it is not a sealed value. */
export function sealedKeyId(value: string): string | null {
  if (!isSealed(value)) return null;
  const end = value.indexOf(':', SEALED_PREFIX.length);
  return end < 0 ? null : value.slice(SEALED_PREFIX.length, end);
}

function aad(place: SealedPlace, keyId: string): Buffer {
  // NUL separators: no table, column or id contains one, so two places never give the same bytes.
  return Buffer.from(`tacho-vault-v1\0${keyId}\0${place.table}\0${place.column}\0${place.rowId}`, 'utf8');
}

/** Seals `plaintext` with `key` for `place` (pure; the Vault picks the key). */
export function sealWith(key: Uint8Array, plaintext: string, place: SealedPlace): string {
  if (key.length !== 32) throw new VaultError('a vault key is 32 bytes');
  const keyId = keyIdOf(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad(place, keyId));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return `${SEALED_PREFIX}${keyId}:${Buffer.concat([iv, body, tag]).toString('base64url')}`;
}

/** Opens a value sealed with `key` for `place`; throws VaultError for anything else. */
export function openWith(key: Uint8Array, sealed: string, place: SealedPlace): string {
  const keyId = sealedKeyId(sealed);
  if (keyId === null) throw new VaultError(`${describe(place)} is not a sealed value`);
  const bytes = Buffer.from(sealed.slice(SEALED_PREFIX.length + keyId.length + 1), 'base64url');
  if (bytes.length < IV_BYTES + TAG_BYTES) throw new VaultError(`${describe(place)} is cut short`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(aad(place, keyId));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    const body = decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES));
    return Buffer.concat([body, decipher.final()]).toString('utf8');
  } catch {
    throw new VaultError(`${describe(place)} does not open: changed, moved from another row, or another key`);
  }
}

function describe(place: SealedPlace): string {
  return `the sealed ${place.table}.${place.column} of row ${place.rowId}`;
}

function wrappedPlace(keyId: string): SealedPlace {
  return { table: 'settings', column: 'value', rowId: `${WRAPPED_KEY_SETTING}${keyId}` };
}

/**
 * The server's keyring. It starts with the configured key; during a rotation (`tacho vault rotate`) the
 * new key is in `settings`, wrapped by the old one (and the old one by the new one), so every instance
 * opens values of both keys and seals under the one `vault.current_key_id` names, without a restart.
 */
export class Vault {
  private readonly keys = new Map<string, Uint8Array>();
  private readonly configuredId: string;

  constructor(
    private readonly db: Db,
    key: Uint8Array,
  ) {
    this.configuredId = keyIdOf(key);
    this.keys.set(this.configuredId, key);
  }

  /** The id of the configured key (never the key). */
  get keyId(): string {
    return this.configuredId;
  }

  /** Seals under the key new values use: the rotation's target while one runs, else the configured key. */
  async seal(plaintext: string, place: SealedPlace): Promise<string> {
    const current = await this.db
      .selectFrom('settings')
      .select('value')
      .where('key', '=', CURRENT_KEY_SETTING)
      .executeTakeFirst();
    const key = (current && (await this.key(current.value).catch(() => null))) ?? this.configuredKey();
    return sealWith(key, plaintext, place);
  }

  /** Opens a sealed value; throws VaultError when it does not open (never returns it unchecked). */
  async open(sealed: string, place: SealedPlace): Promise<string> {
    const keyId = sealedKeyId(sealed);
    if (keyId === null) throw new VaultError(`${describe(place)} is not a sealed value`);
    return openWith(await this.key(keyId), sealed, place);
  }

  /** Adds a key this process holds (the rotation's new key). */
  addKey(key: Uint8Array): string {
    const id = keyIdOf(key);
    this.keys.set(id, key);
    return id;
  }

  private configuredKey(): Uint8Array {
    return this.keys.get(this.configuredId) as Uint8Array;
  }

  /** A key by id: held, or wrapped in `settings` by a held key (a rotation under way). */
  private async key(keyId: string): Promise<Uint8Array> {
    const held = this.keys.get(keyId);
    if (held) return held;
    const row = await this.db
      .selectFrom('settings')
      .select('value')
      .where('key', '=', `${WRAPPED_KEY_SETTING}${keyId}`)
      .executeTakeFirst();
    const wrapper = row ? sealedKeyId(row.value) : null;
    const wrapperKey = wrapper ? this.keys.get(wrapper) : undefined;
    if (!row || !wrapperKey)
      throw new VaultError(
        `a secret is sealed under key ${keyId}, which this server does not have: set TACHO_ENCRYPTION_KEY or TACHO_ENCRYPTION_KEY_FILE to that key`,
      );
    const key = new Uint8Array(Buffer.from(openWith(wrapperKey, row.value, wrappedPlace(keyId)), 'base64'));
    if (keyIdOf(key) !== keyId) throw new VaultError(`the wrapped key ${keyId} is not that key`);
    this.keys.set(keyId, key);
    return key;
  }

  /** `key` sealed by `by`, as the rotation stores it under `vault.key.<id of key>`. */
  static wrap(key: Uint8Array, by: Uint8Array): { setting: string; value: string } {
    const id = keyIdOf(key);
    return {
      setting: `${WRAPPED_KEY_SETTING}${id}`,
      value: sealWith(by, Buffer.from(key).toString('base64'), wrappedPlace(id)),
    };
  }
}
