import type { SocketLike } from '@tacho/client';
import { TachoClient } from '@tacho/client';
import type { VehicleView } from '@tacho/protocol';
import WebSocket from 'ws';
import { credentialsPath, readCredentials } from './credentials.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface Connection {
  baseUrl: string;
  token: string;
}

export const DEFAULT_URL = 'http://127.0.0.1:8080';

/**
 * Where to connect and with which token: `--url`, else `TACHO_URL`, else the saved login's URL, else
 * http://127.0.0.1:8080; the token from `TACHO_TOKEN`, else the saved login.
 */
export function resolveConnection(urlOption: string | undefined, env: Env = process.env): Connection {
  const saved = readCredentials(env);
  const baseUrl = (urlOption ?? env.TACHO_URL ?? saved?.url ?? DEFAULT_URL).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/\s]+/.test(baseUrl)) throw new Error(`--url must be an http(s) URL, got "${baseUrl}"`);
  const token = env.TACHO_TOKEN?.trim() || saved?.token;
  if (!token) {
    throw new Error(
      `no token: set TACHO_TOKEN to an API token (create one in the dashboard under Settings), or save a login in ${credentialsPath(env)}`,
    );
  }
  return { baseUrl, token };
}

/** A bearer-mode client; its live socket runs on the `ws` package (Node 20 has no global WebSocket). */
export function createClient(connection: Connection): TachoClient {
  return new TachoClient({
    baseUrl: connection.baseUrl,
    token: connection.token,
    live: { socket: (url, headers) => new WebSocket(url, { headers }) as unknown as SocketLike },
  });
}

/** Finds a visible vehicle by VIN (any case) or by id. */
export async function findVehicle(client: TachoClient, vinOrId: string): Promise<VehicleView> {
  const wanted = vinOrId.replace(/\s+/g, '').toUpperCase();
  const vehicles = await client.vehicles.list();
  const found = vehicles.find((v) => v.vin?.toUpperCase() === wanted || v.id.toUpperCase() === wanted);
  if (!found) throw new Error(`no vehicle with VIN or id ${vinOrId} that you may see`);
  return found;
}

/** Runs a command's action: a failure prints one line (`tacho: …`) and sets exit code 1, no stack trace. */
export function action<A extends unknown[]>(
  run: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await run(...args);
    } catch (error) {
      let message = error instanceof Error ? error.message : String(error);
      // fetch hides the reason (refused, unknown host) in its cause.
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      if (message === 'fetch failed')
        message = `cannot reach the server (${cause?.code ?? cause?.message ?? 'network error'})`;
      process.stderr.write(`tacho: ${message}\n`);
      process.exitCode = 1;
    }
  };
}
