import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

const cwd = mkdtempSync(join(tmpdir(), 'tacho-config-'));

describe('loadConfig', () => {
  it('serves one user on one machine by default', () => {
    const config = loadConfig({}, cwd);
    expect(config.port).toBe(8080);
    expect(config.host).toBe('127.0.0.1');
    expect(config.dataDir).toBe(join(cwd, 'data'));
    expect(config.database).toEqual({ kind: 'sqlite', path: join(cwd, 'data', 'tacho.db') });
    expect(config.mqtt).toEqual({ kind: 'embedded', port: 1883, host: '127.0.0.1' });
    expect(config.publicUrl).toBe('http://127.0.0.1:8080');
    expect(config.maxPayloadBytes).toBe(262_144);
    expect(config.offlineAfterS).toBe(600);
    expect(config.allowSignup).toBe(false);
    expect(config.deadLetterMaxAgeDays).toBe(30);
    expect(config.deadLetterMaxMb).toBe(256);
  });

  it('reads the dead-letter limits', () => {
    const config = loadConfig({ TACHO_DEAD_LETTER_MAX_AGE_DAYS: '7', TACHO_DEAD_LETTER_MAX_MB: '16' }, cwd);
    expect(config.deadLetterMaxAgeDays).toBe(7);
    expect(config.deadLetterMaxMb).toBe(16);
  });

  it('is frozen, nested parts included', () => {
    const config = loadConfig({}, cwd);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.database)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow();
  });

  it.each([
    [{ TACHO_PORT: 'abc' }, 'TACHO_PORT must be a port number, got "abc"'],
    [{ TACHO_PORT: '70000' }, 'TACHO_PORT must be a port number, got "70000"'],
    [{ TACHO_MQTT_PORT: '-1' }, 'TACHO_MQTT_PORT must be a port number, got "-1"'],
    [
      { TACHO_DATABASE_URL: 'mysql://x' },
      'TACHO_DATABASE_URL must start with postgres:// or postgresql://, got "mysql://x"',
    ],
    [{ TACHO_DATABASE_URL: 'not a url' }, 'TACHO_DATABASE_URL must be a URL'],
    [{ TACHO_LOG_LEVEL: 'loud' }, 'TACHO_LOG_LEVEL must be one of'],
    [{ TACHO_ALLOW_SIGNUP: 'maybe' }, 'TACHO_ALLOW_SIGNUP must be true or false, got "maybe"'],
    [{ TACHO_ADMIN_EMAIL: 'a@b.c' }, 'TACHO_ADMIN_EMAIL and TACHO_ADMIN_PASSWORD must be set together'],
    [
      { TACHO_ADMIN_EMAIL: 'a@b.c', TACHO_ADMIN_PASSWORD: 'short' },
      'TACHO_ADMIN_PASSWORD must be at least 12',
    ],
    [{ TACHO_MAX_PAYLOAD_BYTES: '12kb' }, 'TACHO_MAX_PAYLOAD_BYTES must be a size in bytes'],
    [{ TACHO_DEAD_LETTER_MAX_AGE_DAYS: '0' }, 'TACHO_DEAD_LETTER_MAX_AGE_DAYS must be a number of days'],
    [{ TACHO_DEAD_LETTER_MAX_AGE_DAYS: '1.5' }, 'TACHO_DEAD_LETTER_MAX_AGE_DAYS must be a number of days'],
    [
      { TACHO_DEAD_LETTER_MAX_MB: '256MB' },
      'TACHO_DEAD_LETTER_MAX_MB must be a size in MiB (1 to 1048576), got "256MB"',
    ],
    [
      { TACHO_ALLOWED_ORIGINS: 'example.com' },
      'TACHO_ALLOWED_ORIGINS must be a comma-separated list of origins',
    ],
    [{ TACHO_REDIS_URL: 'http://x' }, 'TACHO_REDIS_URL must start with redis://'],
    [
      { TACHO_MQTT_URL: 'mqtt://b', TACHO_MQTT_SHARE_GROUP: 'a/b' },
      'TACHO_MQTT_SHARE_GROUP must be a name without / + or #, got "a/b"',
    ],
  ])('names the bad variable and what it expected: %j', (env, message) => {
    expect(() => loadConfig(env, cwd)).toThrow(message);
  });

  it('never prints a database password in an error', () => {
    expect(() => loadConfig({ TACHO_DATABASE_URL: 'mysql://u:hunter2@h/db' }, cwd)).toThrow(
      'mysql://u:***@h/db',
    );
  });

  it('uses PostgreSQL and an external broker when their URLs are set', () => {
    const config = loadConfig(
      { TACHO_DATABASE_URL: 'postgres://u:p@h:5432/db', TACHO_MQTT_URL: 'mqtt://127.0.0.1:1883' },
      cwd,
    );
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://u:p@h:5432/db' });
    expect(config.mqtt).toMatchObject({
      kind: 'external',
      url: 'mqtt://127.0.0.1:1883',
      clientId: 'tacho-server',
    });
    // A subscription of its own unless a share group is named (decision 0015).
    expect(config.mqtt).not.toHaveProperty('shareGroup');
    const shared = loadConfig(
      {
        TACHO_MQTT_URL: 'mqtt://127.0.0.1:1883',
        TACHO_MQTT_SHARE_GROUP: 'tacho',
        TACHO_MQTT_CLIENT_ID: 'tacho-2',
      },
      cwd,
    );
    expect(shared.mqtt).toMatchObject({ kind: 'external', clientId: 'tacho-2', shareGroup: 'tacho' });
  });

  it('reads a .env file, and real environment variables win over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tacho-env-'));
    writeFileSync(join(dir, '.env'), 'TACHO_PORT=9090\nTACHO_HOST=0.0.0.0\n');
    const config = loadConfig({ TACHO_HOST: '127.0.0.2' }, dir);
    expect(config.port).toBe(9090);
    expect(config.host).toBe('127.0.0.2');
  });

  it('names the bad variable even when it comes from .env', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tacho-env-'));
    writeFileSync(join(dir, '.env'), 'TACHO_PORT=eighty\n');
    expect(() => loadConfig({}, dir)).toThrow('TACHO_PORT must be a port number, got "eighty"');
  });

  it('reads the VinFast settings, and the signing key from its file without showing it in a dump', () => {
    expect(loadConfig({}, cwd).vinfast).toEqual({
      authUrl: null,
      apiUrl: null,
      cognitoUrl: null,
      iotUrl: null,
      identityPoolId: null,
      clientId: null,
    });
    const dir = mkdtempSync(join(tmpdir(), 'tacho-vinfast-key-'));
    writeFileSync(join(dir, 'vinfast.key'), 'config-test-signing-key\n');
    const config = loadConfig(
      { TACHO_VINFAST_SIGNING_KEY_FILE: 'vinfast.key', TACHO_VINFAST_IOT_URL: 'ws://127.0.0.1:9/mqtt' },
      dir,
    );
    expect(config.vinfast.signingKey).toBe('config-test-signing-key');
    expect(config.vinfast.iotUrl).toBe('ws://127.0.0.1:9/mqtt');
    expect(JSON.stringify(config)).not.toContain('config-test-signing-key');
    expect(() => loadConfig({ TACHO_VINFAST_SIGNING_KEY_FILE: 'missing.key' }, dir)).toThrow(
      'TACHO_VINFAST_SIGNING_KEY_FILE must name a readable file, got "missing.key"',
    );
    expect(() => loadConfig({ TACHO_VINFAST_IOT_URL: 'https://iot.example/mqtt' }, dir)).toThrow(
      'TACHO_VINFAST_IOT_URL must start with wss:// or ws://',
    );
  });
});
