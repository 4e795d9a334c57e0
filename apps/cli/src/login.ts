import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { hostname, platform, release } from 'node:os';
import { ApiError, TachoClient } from '@tacho/client';
import { CLI_LOGIN_PATH, type CliLoginServerMessage } from '@tacho/protocol';
import type { Command } from 'commander';
import WebSocket from 'ws';
import { action, createClient, DEFAULT_URL } from './api.js';
import { credentialsPath, readCredentials, writeCredentials } from './credentials.js';

type Env = Readonly<Record<string, string | undefined>>;

function cliVersion(): string {
  try {
    return (
      JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    ).version;
  } catch {
    return 'unknown';
  }
}

/** Opens the page in the user's browser: xdg-open, open or start; a failure only means printing it. */
function openBrowser(url: string): void {
  const [command, args] =
    platform() === 'darwin'
      ? ['open', [url]]
      : platform() === 'win32'
        ? ['cmd', ['/c', 'start', '""', url]]
        : ['xdg-open', [url]];
  try {
    const child = spawn(command, args as string[], { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
  } catch {
    // Printed above: the user opens it by hand.
  }
}

interface Outcome {
  token: string;
  user: { email: string; role: string };
}

type Attempt = { connectionId: string; resumeSecret: string; intervalS: number };

/** Waits on one socket: the connection (or resume) answer, then the outcome. Null when the socket dropped. */
function runSocket(
  wsUrl: string,
  resume: Attempt | null,
  onConnection: (message: Extract<CliLoginServerMessage, { type: 'connection' }>) => void,
): Promise<Outcome | null> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl);
    let settled = false;
    const finish = (value: Outcome | null, error?: Error) => {
      if (settled) return;
      settled = true;
      if (error) reject(error);
      else resolve(value);
    };
    ws.on('error', () => finish(null));
    ws.on('close', () => finish(null));
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as CliLoginServerMessage;
      switch (message.type) {
        case 'connection':
          if (resume) ws.send(JSON.stringify({ type: 'resume', ...resume }));
          else onConnection(message);
          return;
        case 'auth:success':
          finish({ token: message.token, user: message.user });
          ws.close(1000);
          return;
        case 'auth:denied':
          finish(null, new Error('the login was denied in the browser'));
          return;
        case 'expired':
          finish(null, new Error('the login request expired: run tacho login again'));
          return;
        case 'error':
          finish(null, new Error(`the server refused: ${message.message}`));
          return;
        default:
          return;
      }
    });
  });
}

/** The RFC 8628-style fallback: asks for the token every interval (longer after `slow_down`). */
async function poll(baseUrl: string, attempt: Attempt, deadlineMs: number): Promise<Outcome> {
  const client = new TachoClient({ baseUrl, mode: 'bearer', token: () => null });
  let intervalS = attempt.intervalS;
  while (Date.now() < deadlineMs) {
    await new Promise((resolve) => setTimeout(resolve, intervalS * 1000));
    try {
      return await client.auth.pollCliLogin(attempt.connectionId, attempt.resumeSecret);
    } catch (error) {
      if (!(error instanceof ApiError)) continue; // the server is away for a moment: ask again
      if (error.code === 'authorization_pending') continue;
      if (error.code === 'slow_down') {
        intervalS += 5;
        continue;
      }
      throw error;
    }
  }
  throw new Error('the login request expired: run tacho login again');
}

/**
 * `tacho login`: opens the socket, prints the URL and the code (and opens the browser), and waits for the
 * token, which only ever travels over the socket (or the polling fallback's POST body). A dropped socket
 * is resumed with the secret the server gave it; when that fails, it polls.
 */
export async function browserLogin(options: {
  baseUrl: string;
  browser: boolean;
  out: (text: string) => void;
  env?: Env;
}): Promise<{ path: string; outcome: Outcome }> {
  const { baseUrl, out } = options;
  const query = new URLSearchParams({
    host: hostname(),
    os: `${platform()} ${release()}`,
    version: cliVersion(),
  });
  const wsUrl = `${baseUrl.replace(/^http/, 'ws')}${CLI_LOGIN_PATH}?${query}`;
  let attempt: Attempt | null = null;
  let deadlineMs = Date.now() + 10 * 60_000;
  let outcome = await runSocket(wsUrl, null, (message) => {
    attempt = {
      connectionId: message.connectionId,
      resumeSecret: message.resumeSecret,
      intervalS: message.intervalS,
    };
    deadlineMs = Date.now() + message.expiresInS * 1000;
    const code = `${message.userCode.slice(0, 4)}-${message.userCode.slice(4)}`;
    out(
      `To log in, open this page in a browser where you are signed in to Tacho:\n\n  ${message.verificationUrl}\n\nand check that it shows the code ${code}.\n`,
    );
    if (options.browser) openBrowser(message.verificationUrl);
  });
  const current = attempt as Attempt | null;
  if (!outcome && !current) throw new Error(`cannot open ${wsUrl.split('?')[0]}: is the server running?`);
  // The socket dropped before the outcome: take the attempt up again, a few times, then poll.
  for (let retry = 0; !outcome && current && retry < 3 && Date.now() < deadlineMs; retry++) {
    await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** retry));
    outcome = await runSocket(wsUrl, current, () => {});
  }
  if (!outcome && current) outcome = await poll(baseUrl, current, deadlineMs);
  if (!outcome) throw new Error('the login did not finish');
  const path = writeCredentials({ url: baseUrl, token: outcome.token }, options.env);
  return { path, outcome };
}

export function registerLoginCommands(program: Command): void {
  program
    .command('login')
    .description('log in through the browser; saves the token in $XDG_CONFIG_HOME/tacho/credentials.json')
    .option('--url <url>', 'server URL (default: TACHO_URL, the saved login, or http://127.0.0.1:8080)')
    .option('--no-browser', 'only print the URL to open')
    .action(
      action(async (options: { url?: string; browser: boolean }) => {
        const saved = readCredentials();
        const baseUrl = (options.url ?? process.env.TACHO_URL ?? saved?.url ?? DEFAULT_URL).replace(
          /\/+$/,
          '',
        );
        if (!/^https?:\/\/[^/\s]+/.test(baseUrl))
          throw new Error(`--url must be an http(s) URL, got "${baseUrl}"`);
        const { path, outcome } = await browserLogin({
          baseUrl,
          browser: options.browser,
          out: (text) => process.stdout.write(text),
        });
        process.stdout.write(
          `\nLogged in to ${baseUrl} as ${outcome.user.email} (${outcome.user.role}); saved in ${path}\n`,
        );
      }),
    );

  program
    .command('logout')
    .description('revoke the saved login on the server and delete it')
    .action(
      action(async () => {
        const saved = readCredentials();
        const path = credentialsPath();
        if (!saved) {
          process.stdout.write(`Not logged in (no ${path}).\n`);
          return;
        }
        try {
          await createClient({
            baseUrl: saved.url.replace(/\/+$/, ''),
            token: saved.token,
          }).tokens.revokeCurrent();
        } catch (error) {
          // 401: the token was revoked or expired already; either way it no longer works.
          if (!(error instanceof ApiError && error.status === 401)) throw error;
        }
        if (existsSync(path)) rmSync(path);
        process.stdout.write(`Logged out of ${saved.url}: the token is revoked and ${path} deleted.\n`);
      }),
    );
}
