import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';

/**
 * A real OpenID provider (the `oidc-provider` package) in a process of its own on loopback, for the
 * tests of provider sign-in, phones' ID tokens and `tacho login`. Its keys are files the test can read,
 * so a test can also sign a token exactly as the provider would (or as it would not: the negative corpus).
 */
export interface TestProvider {
  readonly issuer: string;
  readonly port: number;
  /** The signing key now in use (private JWK with kid and alg). */
  readonly key: JWK;
  /** Restarts the process with a new key (a rotation): tokens signed before carry a kid it no longer has. */
  rotate(): Promise<void>;
  stop(): Promise<void>;
  /** Stops it for good and removes its key files. */
  dispose(): Promise<void>;
  /** Starts it again after `stop`, on the same port with the same key. */
  start(): Promise<void>;
  /** Signs a token with the provider's current key (or another), claims and header as given. */
  sign(claims: Record<string, unknown>, header?: Record<string, unknown>, key?: JWK): Promise<string>;
  output(): string;
}

export interface TestProviderOptions {
  clients: Array<Record<string, unknown>>;
  /** sub → claims (email, email_verified, name, groups). */
  accounts?: Record<string, Record<string, unknown>>;
  /** A port to use (a test of a provider that is down at first picks one and starts it later). */
  port?: number;
  /** Do not start yet. */
  stopped?: boolean;
}

const script = fileURLToPath(new URL('./oidc-provider.process.ts', import.meta.url));

export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

export async function newSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
}

export async function startTestProvider(options: TestProviderOptions): Promise<TestProvider> {
  const port = options.port ?? (await freeLoopbackPort());
  const issuer = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'tacho-oidc-'));
  const keysFile = join(dir, 'keys.json');
  let key = await newSigningKey();
  let child: ChildProcess | null = null;
  let out = '';

  const run = async () => {
    writeFileSync(keysFile, JSON.stringify({ keys: [key] }), { mode: 0o600 });
    const proc = spawn(process.execPath, ['--import', 'tsx', script], {
      env: {
        PATH: process.env.PATH,
        OIDC_PORT: String(port),
        OIDC_KEYS: keysFile,
        OIDC_CLIENTS: JSON.stringify(options.clients),
        OIDC_ACCOUNTS: JSON.stringify(options.accounts ?? {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`test provider did not start: ${out}`)), 30_000);
      proc.stdout?.on('data', (d: Buffer) => {
        out += d;
        if (out.includes(`oidc-provider ready ${issuer}`)) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.stderr?.on('data', (d: Buffer) => {
        out += d;
      });
      proc.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`test provider exited (${code}): ${out}`));
      });
    });
  };
  const stop = async () => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
    proc.kill('SIGKILL');
    await exited;
  };
  if (!options.stopped) await run();

  return {
    issuer,
    port,
    get key() {
      return key;
    },
    async rotate() {
      await stop();
      key = await newSigningKey();
      await run();
    },
    async stop() {
      await stop();
    },
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    start: run,
    async sign(claims, header = {}, signingKey = key) {
      const { importJWK } = await import('jose');
      const alg = (header.alg as string | undefined) ?? 'RS256';
      const privateKey = await importJWK(signingKey, alg);
      return new SignJWT(claims)
        .setProtectedHeader({ alg, kid: signingKey.kid, typ: 'JWT', ...header })
        .sign(privateKey);
    },
    output: () => out,
  };
}

/** A cookie jar per origin, enough to walk a code flow with fetch. */
export class CookieJar {
  private readonly jars = new Map<string, Map<string, string>>();

  header(url: string): string {
    const jar = this.jars.get(new URL(url).origin);
    return jar ? [...jar].map(([k, v]) => `${k}=${v}`).join('; ') : '';
  }

  take(url: string, setCookies: readonly string[]): void {
    const origin = new URL(url).origin;
    const jar = this.jars.get(origin) ?? new Map<string, string>();
    this.jars.set(origin, jar);
    for (const line of setCookies) {
      const [pair] = line.split(';');
      const at = pair!.indexOf('=');
      const name = pair!.slice(0, at).trim();
      const value = pair!.slice(at + 1).trim();
      if (value === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(line)) jar.delete(name);
      else jar.set(name, value);
    }
  }
}

/**
 * Walks the provider's part of a code flow as a browser would: the authorization URL, the login form
 * (signing in as `login`), and back; answers the URL the provider redirects to (our callback, with
 * `code`, `state` and `iss`).
 */
export async function signInAtProvider(
  authorizationUrl: string,
  login: string,
  jar = new CookieJar(),
): Promise<string> {
  let url = authorizationUrl;
  let method = 'GET';
  let body: string | undefined;
  for (let hop = 0; hop < 10; hop++) {
    const res = await fetch(url, {
      method,
      redirect: 'manual',
      headers: {
        cookie: jar.header(url),
        ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(body ? { body } : {}),
    });
    jar.take(url, res.headers.getSetCookie());
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      const next = new URL(location, url).href;
      if (new URL(next).origin !== new URL(authorizationUrl).origin) return next;
      url = next;
      method = 'GET';
      body = undefined;
      continue;
    }
    const html = await res.text();
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    if (res.status !== 200 || !action)
      throw new Error(`provider answered ${res.status}: ${html.slice(0, 300)}`);
    url = new URL(action, url).href;
    method = 'POST';
    body = new URLSearchParams({ login }).toString();
  }
  throw new Error('too many redirects at the provider');
}
