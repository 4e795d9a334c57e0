import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

const cwd = mkdtempSync(join(tmpdir(), 'tacho-config-identity-'));
const load = (env: Record<string, string>) => () => loadConfig(env, cwd);

describe('identity settings (issue 20)', () => {
  it('has no provider and no device issuers by default', () => {
    const config = loadConfig({}, cwd);
    expect(config.oidc).toBeUndefined();
    expect(config.deviceIssuers).toEqual([]);
  });

  it('reads a provider with its role map', () => {
    const config = loadConfig(
      {
        TACHO_OIDC_ISSUER: 'https://id.example.org/realms/home',
        TACHO_OIDC_CLIENT_ID: 'tacho',
        TACHO_OIDC_ROLE_CLAIM: 'realm_access.roles',
        TACHO_OIDC_ROLE_MAP: 'tacho-admin=admin, Tacho drivers=operator,*=viewer',
        TACHO_OIDC_AUTO_CREATE: 'yes',
      },
      cwd,
    );
    expect(config.oidc).toEqual({
      issuer: 'https://id.example.org/realms/home',
      clientId: 'tacho',
      name: 'id.example.org',
      scopes: 'openid email profile',
      roleClaim: 'realm_access.roles',
      roleMap: [
        ['tacho-admin', 'admin'],
        ['Tacho drivers', 'operator'],
        ['*', 'viewer'],
      ],
      autoCreate: true,
    });
  });

  it('names the bad variable in one line', () => {
    expect(load({ TACHO_OIDC_ISSUER: 'http://id.example.org', TACHO_OIDC_CLIENT_ID: 'x' })).toThrow(
      'TACHO_OIDC_ISSUER must be an https:// URL (http:// only on a loopback address), got "http://id.example.org"',
    );
    expect(load({ TACHO_OIDC_ISSUER: 'https://id.example.org' })).toThrow(
      'TACHO_OIDC_ISSUER needs TACHO_OIDC_CLIENT_ID',
    );
    expect(load({ TACHO_OIDC_CLIENT_ID: 'x' })).toThrow('TACHO_OIDC_CLIENT_ID needs TACHO_OIDC_ISSUER');
    expect(
      load({
        TACHO_OIDC_ISSUER: 'https://id.example.org',
        TACHO_OIDC_CLIENT_ID: 'x',
        TACHO_OIDC_ROLE_MAP: 'a=boss',
      }),
    ).toThrow('TACHO_OIDC_ROLE_MAP must be value=role pairs');
    expect(
      load({
        TACHO_OIDC_ISSUER: 'https://id.example.org',
        TACHO_OIDC_CLIENT_ID: 'x',
        TACHO_OIDC_ROLE_CLAIM: 'groups',
      }),
    ).toThrow('TACHO_OIDC_ROLE_CLAIM needs TACHO_OIDC_ROLE_MAP');
    expect(load({ TACHO_DEVICE_ISSUERS: 'not json' })).toThrow('TACHO_DEVICE_ISSUERS must be a JSON array');
    expect(load({ TACHO_DEVICE_ISSUERS: '[{"issuer":"https://id.example.org"}]' })).toThrow(
      'entry 0 needs "issuer" and "audience" strings',
    );
    expect(load({ TACHO_DEVICE_ISSUERS: '[{"issuer":"http://10.0.0.1","audience":"app"}]' })).toThrow(
      'http:// only on a loopback address',
    );
  });

  it('takes device issuers, an http one only on loopback', () => {
    const config = loadConfig(
      {
        TACHO_DEVICE_ISSUERS:
          '[{"issuer":"https://accounts.google.com","audience":"123.apps.googleusercontent.com"},{"issuer":"http://127.0.0.1:9000","audience":"app"}]',
      },
      cwd,
    );
    expect(config.deviceIssuers).toEqual([
      { issuer: 'https://accounts.google.com', audience: '123.apps.googleusercontent.com' },
      { issuer: 'http://127.0.0.1:9000', audience: 'app' },
    ]);
  });
});
