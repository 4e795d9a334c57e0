import { appendFileSync, createReadStream, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { threadId } from 'node:worker_threads';
import { pino } from 'pino';
import type { App } from '../app.js';
import { loadVaultKey } from '../features/vault/index.js';
import { createLogger, type Logger } from '../lib/logger.js';

/**
 * The CI check that no secret a test created reaches a log (issue 24.6). While the test run lasts, every
 * test app logs at debug level into files under `$TACHO_TEST_LOG_DIR`, and every token, refresh token,
 * access token, setup token, signing key and vault key it issues is recorded beside them; when the run ends,
 * `findLeaks` reads them all and the run fails if a log holds any of those secrets, or anything shaped like
 * a Tacho token (log-leaks.global.ts sets this up for every vitest run).
 */
export const LOG_DIR_ENV = 'TACHO_TEST_LOG_DIR';

const LOG_PREFIX = 'log-';
const SECRETS_PREFIX = 'secrets-';
/** Characters of the base64url alphabet (and `_` of the `tacho_` prefix): a secret's run of them. */
const RUN = /[A-Za-z0-9_-]{16,}/g;
/** A Tacho API, vehicle or CLI token: never in a log, recorded or not. */
const TACHO_TOKEN = /tacho_[A-Za-z0-9_-]{43}/;
/** Secrets are matched by their longest run of base64url characters; shorter ones are too common to tell. */
const MIN_RUN = 16;

const workerName = () => `${process.pid}-${threadId}`;

let workerLogger: Logger | undefined;

/** This worker's test logger (debug level, into the run's log directory), or undefined outside such a run. */
export function testLogger(dir = process.env[LOG_DIR_ENV]): Logger | undefined {
  if (!dir) return undefined;
  if (!workerLogger) {
    mkdirSync(dir, { recursive: true });
    const destination = pino.destination({
      dest: join(dir, `${LOG_PREFIX}${workerName()}.jsonl`),
      sync: true,
    });
    workerLogger = createLogger('debug', destination);
  }
  return workerLogger;
}

/** Notes secrets a test created, for `findLeaks`. Does nothing outside a checked run. */
export function recordSecrets(values: readonly string[], dir = process.env[LOG_DIR_ENV]): void {
  if (!dir || values.length === 0) return;
  mkdirSync(dir, { recursive: true });
  appendFileSync(join(dir, `${SECRETS_PREFIX}${workerName()}.txt`), `${values.join('\n')}\n`);
}

/**
 * Records every secret the app issues from now on — API and vehicle tokens, refresh tokens and access
 * tokens of logins, the setup link's token — and its signing key. The app's own objects are wrapped, so
 * tokens created through routes count as much as those a helper created.
 */
export async function recordAppSecrets(app: App, dir = process.env[LOG_DIR_ENV]): Promise<void> {
  if (!dir) return;
  const { tokens, logins } = app.auth;
  const create = tokens.create.bind(tokens);
  tokens.create = async (input) => {
    const created = await create(input);
    recordSecrets([created.token], dir);
    return created;
  };
  const start = logins.start.bind(logins);
  logins.start = async (...args) => {
    const issued = await start(...args);
    recordSecrets([issued.refreshToken, issued.access.token], dir);
    return issued;
  };
  const refresh = logins.refresh.bind(logins);
  logins.refresh = async (...args) => {
    const issued = await refresh(...args);
    if (issued) recordSecrets([issued.refreshToken, issued.access.token], dir);
    return issued;
  };
  const setupToken = app.auth.setupUrl ? new URL(app.auth.setupUrl).searchParams.get('token') : null;
  // The access tokens' signing key (`auth.jwt_signing_key`), opened: the settings hold it sealed.
  const keys = await app.storage.db
    .selectFrom('settings')
    .select(['key', 'value'])
    .where('key', 'like', '%signing_key%')
    .execute()
    .catch(() => []);
  const opened = await Promise.all(
    keys.map((k) =>
      app.vault.open(k.value, { table: 'settings', column: 'value', rowId: k.key }).catch(() => k.value),
    ),
  );
  // The vault's key, in each spelling a careless log line might use.
  const vaultKey = Buffer.from(loadVaultKey(app.config.encryption).key);
  recordSecrets(
    [
      setupToken,
      ...opened,
      vaultKey.toString('base64'),
      vaultKey.toString('base64url'),
      vaultKey.toString('hex'),
    ].filter((v): v is string => typeof v === 'string'),
    dir,
  );
}

export interface Leak {
  file: string;
  line: number;
  /** The secret's first characters only, so the report does not leak it further. */
  secret: string;
}

/** The longest run of base64url characters in a secret: what a log line must contain to hold it. */
function keyOf(secret: string): string | null {
  let best = '';
  for (const run of secret.match(RUN) ?? []) if (run.length > best.length) best = run;
  return best.length >= MIN_RUN ? best : null;
}

/** Every line of every log in `dir` that holds a recorded secret or a Tacho token. */
export async function findLeaks(dir: string): Promise<Leak[]> {
  const files = readdirSync(dir);
  // Keys by their first MIN_RUN characters, so each position of a log line costs one map lookup.
  const keys = new Map<string, string[]>();
  for (const file of files.filter((f) => f.startsWith(SECRETS_PREFIX))) {
    for await (const secret of createInterface({ input: createReadStream(join(dir, file)) })) {
      const key = keyOf(secret.trim());
      if (!key) continue;
      const head = key.slice(0, MIN_RUN);
      const list = keys.get(head) ?? [];
      if (!list.includes(key)) list.push(key);
      keys.set(head, list);
    }
  }
  const leaks: Leak[] = [];
  for (const file of files.filter((f) => f.startsWith(LOG_PREFIX))) {
    let lineNo = 0;
    for await (const line of createInterface({ input: createReadStream(join(dir, file)) })) {
      lineNo += 1;
      const found = TACHO_TOKEN.exec(line)?.[0] ?? findKey(line, keys);
      if (found) leaks.push({ file, line: lineNo, secret: `${found.slice(0, 10)}…` });
    }
  }
  return leaks;
}

function findKey(line: string, keys: Map<string, string[]>): string | null {
  for (const run of line.match(RUN) ?? []) {
    for (let i = 0; i + MIN_RUN <= run.length; i++) {
      const candidates = keys.get(run.slice(i, i + MIN_RUN));
      const hit = candidates?.find((key) => run.startsWith(key, i));
      if (hit) return hit;
    }
  }
  return null;
}
