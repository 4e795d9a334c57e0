/**
 * Login timing: unknown email, wrong password and disabled account must answer alike and take about as
 * long as each other (so timing does not tell which emails have accounts), and a correct login costs one
 * argon2id verification plus two writes. Prints median and p90 per case.
 *
 *     npx tsx bench/auth.ts [--rounds 30]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createApp } from '../apps/server/src/app.js';
import { loadConfig } from '../apps/server/src/config.js';
import { ManualClock } from '../apps/server/src/lib/clock.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '30' } } });
const rounds = Number(values.rounds);
const dataDir = mkdtempSync(join(tmpdir(), 'tacho-bench-auth-'));
const clock = new ManualClock(Date.UTC(2026, 0, 1));
const app = await createApp(
  loadConfig({ TACHO_DATA_DIR: dataDir, TACHO_LOG_LEVEL: 'silent', TACHO_PORT: '0' }, dataDir),
  { mqttPort: null, clock },
);
try {
  const password = 'benchmark password';
  for (const [email, disabled] of [
    ['known@example.test', false],
    ['disabled@example.test', true],
  ] as const) {
    const user = await app.auth.users.insert({ email, name: email, password, role: 'viewer' });
    if (disabled)
      await app.storage.db.updateTable('users').set({ disabled_ms: 1 }).where('id', '=', user.id).execute();
  }
  const cases: Record<string, (i: number) => { email: string; password: string }> = {
    'unknown email': (i) => ({ email: `nobody${i}@example.test`, password }),
    'wrong password': () => ({ email: 'known@example.test', password: 'not the password' }),
    'disabled account': () => ({ email: 'disabled@example.test', password }),
    'correct login': () => ({ email: 'known@example.test', password }),
  };
  const results: Record<string, number[]> = {};
  const bodies: Record<string, Set<string>> = {};
  for (let i = 0; i < rounds; i++) {
    for (const [name, make] of Object.entries(cases)) {
      // Past the throttling window, so every attempt is a real verification.
      clock.advance(61 * 60_000);
      const started = process.hrtime.bigint();
      const res = await app.http.inject({ method: 'POST', url: '/api/v1/auth/login', payload: make(i) });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      results[name] ??= [];
      bodies[name] ??= new Set();
      if (i > 0) results[name].push(ms);
      bodies[name].add(`${res.statusCode} ${res.statusCode === 200 ? 'ok' : res.body}`);
    }
  }
  const pct = (xs: number[], p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
  console.log(`login timing over ${rounds - 1} rounds (SQLite, in-process inject), ms`);
  for (const [name, xs] of Object.entries(results)) {
    console.log(
      `  ${name.padEnd(17)} median ${pct(xs, 0.5).toFixed(1).padStart(6)}  p90 ${pct(xs, 0.9).toFixed(1).padStart(6)}  reply ${[...bodies[name]!].join(' | ')}`,
    );
  }
} finally {
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
}
