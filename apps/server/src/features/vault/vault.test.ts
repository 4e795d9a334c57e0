import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config.js';
import { StartupError } from '../../lib/errors.js';
import { createKeyFile, loadVaultKey, wideKeyFile } from './master-key.js';
import { isSealed, keyIdOf, openWith, SEALED_PREFIX, sealWith, VaultError } from './vault.js';

const key = new Uint8Array(randomBytes(32));
const rule1 = { table: 'alert_rules', column: 'secret', rowId: 'rule-1' };
const rule2 = { table: 'alert_rules', column: 'secret', rowId: 'rule-2' };

describe('sealing', () => {
  it('opens what it sealed, with a fresh IV each time and the key id inside', () => {
    const a = sealWith(key, 'webhook secret', rule1);
    const b = sealWith(key, 'webhook secret', rule1);
    expect(a).not.toBe(b);
    expect(a.startsWith(`${SEALED_PREFIX}${keyIdOf(key)}:`)).toBe(true);
    expect(isSealed(a)).toBe(true);
    expect(a).not.toContain('webhook');
    expect(openWith(key, a, rule1)).toBe('webhook secret');
    expect(openWith(key, b, rule1)).toBe('webhook secret');
  });

  it('refuses a value with any one byte changed', () => {
    const sealed = sealWith(key, 'webhook secret', rule1);
    const prefix = sealed.slice(0, sealed.lastIndexOf(':') + 1);
    const bytes = Buffer.from(sealed.slice(prefix.length), 'base64url');
    for (let i = 0; i < bytes.length; i++) {
      const tampered = Buffer.from(bytes);
      tampered[i] = (tampered[i] as number) ^ 0x01;
      expect(() => openWith(key, prefix + tampered.toString('base64url'), rule1)).toThrow(VaultError);
    }
    expect(() => openWith(key, sealed.slice(0, -4), rule1)).toThrow(VaultError);
  });

  it("refuses two rows' values swapped, and a value moved to another column or table", () => {
    const one = sealWith(key, 'secret of rule 1', rule1);
    const two = sealWith(key, 'secret of rule 2', rule2);
    expect(() => openWith(key, two, rule1)).toThrow(/moved from another row/);
    expect(() => openWith(key, one, rule2)).toThrow(VaultError);
    expect(() => openWith(key, one, { ...rule1, column: 'name' })).toThrow(VaultError);
    expect(() => openWith(key, one, { ...rule1, table: 'device_bindings' })).toThrow(VaultError);
  });

  it('refuses a value under another key, and says nothing of either key', () => {
    const sealed = sealWith(key, 'webhook secret', rule1);
    const other = new Uint8Array(randomBytes(32));
    let message = '';
    try {
      openWith(other, sealed, rule1);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/another key/);
    for (const k of [key, other]) {
      expect(message).not.toContain(Buffer.from(k).toString('base64'));
      expect(message).not.toContain(Buffer.from(k).toString('hex'));
    }
  });
});

describe('the key', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is created 0600 in the data directory on first start when none is set, and read again later', () => {
    dir = mkdtempSync(join(tmpdir(), 'tacho-vault-'));
    const config = loadConfig({ TACHO_DATA_DIR: dir }, dir);
    const first = loadVaultKey(config.encryption);
    expect(first.created).toBe(join(dir, 'secret.key'));
    expect(statSync(join(dir, 'secret.key')).mode & 0o777).toBe(0o600);
    const again = loadVaultKey(config.encryption);
    expect(again.created).toBeNull();
    expect(Buffer.from(again.key).equals(Buffer.from(first.key))).toBe(true);
  });

  it('a start that finds the key file just written by another uses that key and leaves no stray file', () => {
    dir = mkdtempSync(join(tmpdir(), 'tacho-vault-'));
    const path = join(dir, 'secret.key');
    const first = createKeyFile(path);
    const second = createKeyFile(path);
    expect(Buffer.from(second).equals(Buffer.from(first))).toBe(true);
    expect(readdirSync(dir)).toEqual(['secret.key']);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('a key file other accounts can read is reported (the start warns with the chmod)', () => {
    dir = mkdtempSync(join(tmpdir(), 'tacho-vault-'));
    const config = loadConfig({ TACHO_DATA_DIR: dir }, dir);
    loadVaultKey(config.encryption);
    expect(wideKeyFile(config.encryption)).toBeNull();
    chmodSync(join(dir, 'secret.key'), 0o644);
    expect(wideKeyFile(config.encryption)).toBe(0o644);
  });

  it('comes from TACHO_ENCRYPTION_KEY, which is checked and never shown in the Config or an error', () => {
    dir = mkdtempSync(join(tmpdir(), 'tacho-vault-'));
    const base64 = randomBytes(32).toString('base64');
    const config = loadConfig({ TACHO_DATA_DIR: dir, TACHO_ENCRYPTION_KEY: base64 }, dir);
    expect(Buffer.from(loadVaultKey(config.encryption).key).toString('base64')).toBe(base64);
    expect(JSON.stringify(config)).not.toContain(base64);
    const short = randomBytes(16).toString('base64');
    expect(() => loadConfig({ TACHO_DATA_DIR: dir, TACHO_ENCRYPTION_KEY: short }, dir)).toThrow(
      /^TACHO_ENCRYPTION_KEY must be 32 bytes in base64/,
    );
    try {
      loadConfig({ TACHO_DATA_DIR: dir, TACHO_ENCRYPTION_KEY: short }, dir);
    } catch (error) {
      expect((error as Error).message).not.toContain(short);
    }
  });

  it('stops the start when a named key file is missing or does not hold a key', () => {
    dir = mkdtempSync(join(tmpdir(), 'tacho-vault-'));
    const path = join(dir, 'elsewhere.key');
    const config = loadConfig({ TACHO_DATA_DIR: dir, TACHO_ENCRYPTION_KEY_FILE: path }, dir);
    expect(() => loadVaultKey(config.encryption)).toThrow(StartupError);
    expect(() => loadVaultKey(config.encryption)).toThrow(/TACHO_ENCRYPTION_KEY_FILE/);
    writeFileSync(path, 'not a key\n');
    expect(() => loadVaultKey(config.encryption)).toThrow(/does not hold 32 bytes/);
    // Never created in its place: a missing named key is a mistake to fix, not a first start.
    expect(readFileSync(path, 'utf8')).toBe('not a key\n');
  });
});
