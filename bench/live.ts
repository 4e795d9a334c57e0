/**
 * `npm run bench:live`: the live stream and the history read under load. Prints figures; asserts nothing.
 *
 * 1. Fan-out: a server (its own process, embedded SQLite and broker) ingests a steady rate from the
 *    simulator over MQTT QoS 1 while N WebSocket clients (N = 10, 100, 1000) each follow one vehicle.
 *    Prints publish→socket latency p50/p99/max (publish = the server's `publishedMs`), delivered
 *    messages/s, updates coalesced for slow readers, sockets closed, server RSS and RSS per client.
 * 2. History: `GET /samples?maxPoints=1000` over a range holding 1,000,000 samples, on SQLite and on
 *    PostgreSQL: p50/p99 latency.
 *
 * Flags: --clients 10,100,1000  --rate 10000 (messages/s)  --vehicles 100  --duration 10 (s)
 *        --samples 1000000  --requests 100  --only fanout|samples  --engines sqlite,postgres
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TachoClient } from '@tacho/client';
import WebSocket from 'ws';
import { createSimVehicles } from '../apps/cli/src/simulate-targets.js';
import { createTestUser } from '../apps/server/src/features/auth/testing.js';
import { writeSampleBatch } from '../apps/server/src/features/telemetry/sample-batch.js';
import { createApp, loadConfig, openStorage, type Storage } from '../apps/server/src/index.js';
import { TEST_PG_URL } from '../apps/server/src/test/storage.js';
import { BENCH_ADMIN, freePort, mb, memoryOf, startServer, waitReady } from './support.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: flags } = parseArgs({
  options: {
    clients: { type: 'string', default: '10,100,1000' },
    rate: { type: 'string', default: '10000' },
    vehicles: { type: 'string', default: '100' },
    duration: { type: 'string', default: '10' },
    samples: { type: 'string', default: '1000000' },
    requests: { type: 'string', default: '100' },
    only: { type: 'string' },
    engines: { type: 'string', default: 'sqlite,postgres' },
  },
});

function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const ms = (v: number) => `${v.toFixed(1)} ms`;

/** One bench client: a raw `ws` socket, reading only `publishedMs` out of each update (no full parse). */
function openClient(
  url: string,
  token: string,
  vehicleId: string,
  latencies: number[],
  counts: { delivered: number; coalesced: number; closed: number },
) {
  return new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(url);
    let subscribed = false;
    ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token })));
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('{"type":"update"')) {
        const at = text.lastIndexOf('"publishedMs":');
        const published = Number.parseInt(text.slice(at + 14), 10);
        latencies.push(Date.now() - published);
        counts.delivered++;
        if (text.includes('"coalesced":true')) counts.coalesced++;
      } else if (text.startsWith('{"type":"ready"')) {
        ws.send(JSON.stringify({ type: 'subscribe', vehicleIds: [vehicleId] }));
      } else if (text.startsWith('{"type":"snapshot"') && !subscribed) {
        subscribed = true;
        resolve(ws);
      }
    });
    ws.on('close', () => {
      counts.closed++;
      if (!subscribed) reject(new Error('socket closed before subscribing'));
    });
    ws.on('error', () => {});
  });
}

/**
 * Runs `tacho simulate` in its own process, so publishing does not share an event loop with the clients
 * whose receive times are measured. Resolves with the acknowledged messages per second it reports.
 */
async function simulateInChild(
  vehicles: ReadonlyArray<{ vin: string; token: string }>,
  url: string,
  rateHz: number,
  durationS: number,
): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'tacho-bench-sim-'));
  const tokens = join(dir, 'tokens.txt');
  writeFileSync(tokens, vehicles.map((v) => `${v.vin} ${v.token}`).join('\n'));
  const entry = join(dir, 'tacho.mts');
  writeFileSync(
    entry,
    `import { main } from ${JSON.stringify(join(root, 'apps/cli/src/main.ts'))};\nawait main(process.argv);\n`,
  );
  const args = ['simulate', '--url', url, '--vehicles', String(vehicles.length), '--rate', String(rateHz)];
  args.push('--duration', String(durationS), '--tokens-file', tokens);
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: root,
    env: { ...process.env, TSX_TSCONFIG_PATH: join(root, 'tsconfig.check.json') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  await new Promise((resolve) => child.once('exit', resolve));
  rmSync(dir, { recursive: true, force: true });
  const match = /\((\d+) msg\/s acknowledged\)/.exec(out);
  if (!match) throw new Error(`the simulator said: ${out}`);
  return Number(match[1]);
}

async function fanout(): Promise<void> {
  const rate = Number(flags.rate);
  const vehicleCount = Number(flags.vehicles);
  const durationS = Number(flags.duration);
  const dataDir = mkdtempSync(join(tmpdir(), 'tacho-bench-live-'));
  const [port, mqttPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  const server = startServer({ port, mqttPort, dataDir });
  try {
    await waitReady(base, server);
    const admin = new TachoClient({ baseUrl: base, mode: 'cookie', cookieJar: true });
    await admin.auth.login(BENCH_ADMIN.email, BENCH_ADMIN.password);
    const { token } = await admin.tokens.create({ name: 'bench', scopes: ['read', 'write', 'admin'] });
    const sim = await createSimVehicles(base, token, vehicleCount);
    const api = new TachoClient({ baseUrl: base, token });
    const idByVin = new Map((await api.vehicles.list()).map((v) => [v.vin, v.id]));
    const ids = sim.map((v) => idByVin.get(v.vin)!);

    console.log(
      `\nfan-out: ${vehicleCount} vehicles, ${rate} messages/s over MQTT QoS 1 for ${durationS} s, each client follows one vehicle`,
    );
    console.log(
      'clients  ingested/s  delivered/s  per client/s  p50       p99       max       coalesced  closed  server RSS  RSS/client',
    );
    for (const n of flags.clients.split(',').map(Number)) {
      global.gc?.();
      await new Promise((r) => setTimeout(r, 500));
      const before = memoryOf(server.pid!).rss;
      const latencies: number[] = [];
      const counts = { delivered: 0, coalesced: 0, closed: 0 };
      const sockets: WebSocket[] = [];
      for (let i = 0; i < n; i += 50) {
        const batch = [];
        for (let j = i; j < Math.min(n, i + 50); j++) {
          batch.push(
            openClient(
              `${base.replace(/^http/, 'ws')}/api/v1/live`,
              token,
              ids[j % ids.length]!,
              latencies,
              counts,
            ),
          );
        }
        sockets.push(...(await Promise.all(batch)));
      }
      await new Promise((r) => setTimeout(r, 1000));
      const idle = memoryOf(server.pid!).rss;
      let peak = idle;
      const poll = setInterval(() => {
        peak = Math.max(peak, memoryOf(server.pid!).rss);
      }, 200);
      const ingestedPerS = await simulateInChild(
        sim,
        `mqtt://127.0.0.1:${mqttPort}`,
        rate / vehicleCount,
        durationS,
      );
      await new Promise((r) => setTimeout(r, 500));
      // Updates only flow while the simulator publishes (its start-up is not counted).
      const elapsedS = durationS;
      clearInterval(poll);
      const sorted = Float64Array.from(latencies).sort();
      console.log(
        [
          String(n).padEnd(7),
          ingestedPerS.toFixed(0).padEnd(10),
          (counts.delivered / elapsedS).toFixed(0).padEnd(11),
          (counts.delivered / elapsedS / n).toFixed(1).padEnd(12),
          ms(percentile(sorted, 50)).padEnd(9),
          ms(percentile(sorted, 99)).padEnd(9),
          ms(sorted.at(-1) ?? Number.NaN).padEnd(9),
          String(counts.coalesced).padEnd(9),
          String(counts.closed).padEnd(6),
          mb(peak).padEnd(10),
          `${((idle - before) / n / 1024).toFixed(1)} KB`,
        ].join('  '),
      );
      for (const s of sockets) s.terminate();
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Seeds `count` samples at 1 Hz (three metrics each) through the ingest transaction's body. */
async function seed(storage: Storage, vehicleId: string, t0: number, count: number): Promise<void> {
  const chunk = 1000;
  for (let i = 0; i < count; i += chunk * 20) {
    await storage.db.transaction().execute(async (trx) => {
      for (let k = i; k < Math.min(count, i + chunk * 20); k += chunk) {
        const samples = [];
        for (let j = k; j < Math.min(count, k + chunk); j++) {
          const tsMs = t0 + j * 1000;
          const metrics = {
            speed_kmh: Math.round(60 + 50 * Math.sin(j / 600) + (j % 997 === 0 ? 80 : 0)),
            battery_level_pct: 90 - (j % 86_400) / 1440,
            power_kw: 20 * Math.cos(j / 300),
          };
          samples.push({ vehicleId, tsMs, seq: 0, receivedMs: tsMs, source: 'bench', metrics });
        }
        await writeSampleBatch(trx, { samples, deadLetters: [] });
      }
    });
  }
}

async function history(engine: 'sqlite' | 'postgres'): Promise<void> {
  const count = Number(flags.samples);
  const dataDir = mkdtempSync(join(tmpdir(), 'tacho-bench-samples-'));
  const schema = `bench_${process.pid}`;
  const storage =
    engine === 'sqlite'
      ? await openStorage({ kind: 'sqlite', path: join(dataDir, 'tacho.db') })
      : await openStorage({ kind: 'postgres', url: TEST_PG_URL }, { schema });
  const app = await createApp(
    loadConfig({ TACHO_DATA_DIR: dataDir, TACHO_LOG_LEVEL: 'warn', TACHO_PORT: '0' }, dataDir),
    {
      storage,
      mqttPort: null,
    },
  );
  try {
    const base = await app.listen();
    const user = await createTestUser(app, 'operator');
    const api = new TachoClient({ baseUrl: base, token: user.token });
    const vehicle = await api.vehicles.create({ vin: '5YJ3E1EA7KF999999', name: 'Bench' });
    const t0 = Date.UTC(2026, 0, 1);
    const seedStart = performance.now();
    await seed(storage, vehicle.id, t0, count);
    const seedS = (performance.now() - seedStart) / 1000;
    const query = {
      from: t0,
      to: t0 + count * 1000,
      metrics: ['speed_kmh', 'battery_level_pct'],
      maxPoints: 1000,
    };
    const first = await api.readings.series(vehicle.id, query);
    const times: number[] = [];
    for (let i = 0; i < Number(flags.requests); i++) {
      const started = performance.now();
      await api.readings.series(vehicle.id, query);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    console.log(
      `${engine.padEnd(9)} ${count} samples (seeded in ${seedS.toFixed(0)} s), 2 metrics, source ${first.source}, ` +
        `${first.series[0]!.t.length} points each: p50 ${ms(percentile(times, 50))}, p99 ${ms(percentile(times, 99))}, max ${ms(times.at(-1)!)}`,
    );
  } finally {
    await app.close();
    await storage.close();
    if (engine === 'postgres') {
      const pg = await import('pg');
      const client = new pg.default.Client({ connectionString: TEST_PG_URL });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

console.log(
  `bench:live on ${process.platform}/${process.arch}, ${cpus().length} cores, node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
if (flags.only !== 'samples') await fanout();
if (flags.only !== 'fanout') {
  console.log(
    `\nhistory: GET /samples?maxPoints=1000 over ${flags.samples} samples, ${flags.requests} requests`,
  );
  for (const engine of flags.engines.split(',')) await history(engine as 'sqlite' | 'postgres');
}
process.exit(0);
