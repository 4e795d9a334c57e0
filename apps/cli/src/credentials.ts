import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * The CLI's saved login: `$XDG_CONFIG_HOME/tacho/credentials.json` (or `~/.config/tacho/…`), mode 0600,
 * `{"url": "http://127.0.0.1:8080", "token": "tacho_…"}`. Written by the browser-assisted `tacho login`,
 * deleted by `tacho logout`; read by every command that talks to a server.
 */
export interface SavedCredentials {
  url: string;
  token: string;
}

type Env = Readonly<Record<string, string | undefined>>;

export function credentialsPath(env: Env = process.env): string {
  const base = env.XDG_CONFIG_HOME?.trim() || join(env.HOME?.trim() || homedir(), '.config');
  return join(base, 'tacho', 'credentials.json');
}

/** The saved login, or null when there is none; a damaged file is an error naming the file. */
export function readCredentials(env: Env = process.env): SavedCredentials | null {
  const path = credentialsPath(env);
  if (!existsSync(path)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read ${path}: ${(error as Error).message}; delete it and log in again`);
  }
  const c = parsed as Partial<SavedCredentials>;
  if (typeof c?.url !== 'string' || typeof c.token !== 'string') {
    throw new Error(`${path} must hold {"url": "...", "token": "..."}; delete it and log in again`);
  }
  return { url: c.url, token: c.token };
}

export function writeCredentials(credentials: SavedCredentials, env: Env = process.env): string {
  const path = credentialsPath(env);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}
