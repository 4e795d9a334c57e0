import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Shared by the benchmarks: ports, a server child's readiness and memory, and printing. */

export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const root = fileURLToPath(new URL('..', import.meta.url));

/** The admin account the benchmarked server creates at its first start. */
export const BENCH_ADMIN = { email: 'bench@example.test', password: 'bench password 123' };

/**
 * Starts the server as `npm start` runs it — compiled JavaScript (the bench:* scripts run `tsc -b` first:
 * the benchmarks import the compiled workspace packages too) — in its own process, so that the memory read from /proc is the server's
 * own. Measured from source under tsx instead, it would carry the transpiler and ~50 MB more memory.
 * Embedded defaults on the given ports and data directory; `env` adds or overrides variables.
 * TACHO_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles it; TACHO_BENCH_SERVER_STDOUT=1
 * shows its standard output (for `--trace-gc`).
 */
export function startServer(options: {
  port: number;
  mqttPort: number;
  dataDir: string;
  env?: Record<string, string>;
}): ChildProcess {
  // The V8 flags `npm start` passes (package.json; decision 0008), then any of the caller's.
  const nodeArgs = [
    '--max-semi-space-size=8',
    '--heap-growing-percent=200',
    ...(process.env.TACHO_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
  ];
  return spawn(process.execPath, [...nodeArgs, join(root, 'apps/server/dist/main.js')], {
    cwd: root,
    env: {
      ...process.env,
      TACHO_PORT: String(options.port),
      TACHO_MQTT_PORT: String(options.mqttPort),
      TACHO_DATA_DIR: options.dataDir,
      TACHO_LOG_LEVEL: 'warn',
      TACHO_ADMIN_EMAIL: BENCH_ADMIN.email,
      TACHO_ADMIN_PASSWORD: BENCH_ADMIN.password,
      TACHO_REDIS_URL: '',
      TACHO_DATABASE_URL: '',
      ...options.env,
    },
    stdio: ['ignore', process.env.TACHO_BENCH_SERVER_STDOUT ? 'inherit' : 'ignore', 'inherit'],
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resident and peak resident memory of a process, from /proc (Linux). */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** CPU time a process has used so far (all its threads, user + system), in seconds (Linux). */
export function cpuSecondsOf(pid: number): number {
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Polls the server's /ready for up to a minute; fails at once if the child exits. */
export async function waitReady(base: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${base}/ready`)).ok) return;
    } catch {}
    await sleep(200);
  }
  throw new Error('server did not become ready');
}
