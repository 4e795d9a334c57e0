/**
 * `npm run bench:ingest`: ingestion throughput and latency. Prints figures; asserts nothing.
 *
 * The server runs in its own process on the embedded defaults (SQLite, aedes; random ports, temp data
 * dir), or with `--postgres --broker mqtt://127.0.0.1:1883` on PostgreSQL and an external broker.
 * This process plays the devices, one vehicle each:
 * 1. flood: N publishers (default 100) send QoS 1 messages (~300 bytes, from the scenario simulator) as
 *    fast as the server acknowledges them, keeping a window in flight each.
 * 2. paced: the same publishers at a fixed total rate (default 10,000 msg/s); zero loss expected. With
 *    --login-flood N it runs again beside N concurrent wrong logins (login-flood.ts), and both print
 *    publish→PUBACK p99, /health answer times and the server's event-loop delay (issue 24.7).
 * 3. HTTP: concurrent POSTs of batches of 1,000 messages, after a few untimed ones (JIT warm-up). They
 *    continue each vehicle's data a day after its MQTT messages; with --http-backfill they lie 30 days
 *    before them instead (a backfill behind live data: every batch is late data, and the sessions
 *    processor re-derives what follows it — issue 17's late-data rule, costed here).
 * 4. idle devices: connects many idle MQTT clients and prints the server's memory per connection.
 * With the embedded broker the PUBACK leaves after the commit, so publish→PUBACK is publish→commit. With
 * an external broker the broker acknowledges on receipt; commits are then counted from /metrics.
 *
 * Flags: --publishers 100 --duration 60 (flood, s) --rate 10000 --paced-duration 20 (s) --window 50
 *        --http-batches 400 --http-concurrency 4 --http-warmup 20 (batches sent before the clock starts) --settle 5 (s between phases) --idle 1000 --login-flood 0 --postgres [--pg-url url] --broker <mqtt url> --quick
 *        --http-backfill
 *        --alert-rules N: N alert rules spread over the publishers' vehicles (issue 18; conditions and
 *        events, in-app only), and each phase prints the alerts processor's commit → alert lag p99
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { TachoClient } from '@tacho/client';
import { VehicleSimulator } from '@tacho/protocol';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import { createSimVehicles } from '../apps/cli/src/simulate-targets.js';
import { eventLoopLagP99Ms, probeHealth, startLoginFlood } from './login-flood.js';
import {
  BENCH_ADMIN,
  cpuSecondsOf,
  freePort,
  mb,
  memoryOf,
  sleep,
  startServer,
  waitReady,
} from './support.js';

const { values: flags } = parseArgs({
  options: {
    publishers: { type: 'string', default: '100' },
    duration: { type: 'string', default: '60' },
    rate: { type: 'string', default: '10000' },
    'paced-duration': { type: 'string', default: '20' },
    window: { type: 'string', default: '50' },
    'http-batches': { type: 'string', default: '400' },
    'http-concurrency': { type: 'string', default: '4' },
    'http-warmup': { type: 'string', default: '20' },
    settle: { type: 'string', default: '5' },
    idle: { type: 'string', default: '1000' },
    'login-flood': { type: 'string', default: '0' },
    'alert-rules': { type: 'string', default: '0' },
    'http-backfill': { type: 'boolean', default: false },
    postgres: { type: 'boolean', default: false },
    'pg-url': { type: 'string' },
    broker: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
  allowNegative: false,
  strict: true,
});
if (flags.quick) {
  // Short runs while developing; explicit flags still win.
  const given = new Set(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')[0]));
  const quick: Record<string, string> = {
    duration: '10',
    'paced-duration': '5',
    'http-batches': '50',
    idle: '300',
  };
  for (const [k, v] of Object.entries(quick)) if (!given.has(k)) (flags as Record<string, unknown>)[k] = v;
}
const PG_URL = process.env.TACHO_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const pct = (sorted: Float64Array, p: number) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/**
 * The server's own view of a phase, from /metrics: how many batch transactions it wrote and how long they
 * took on average (rows per batch = committed / batches), and its event-loop lag p99 since the last read.
 */
async function serverView(
  base: string,
  pid: number,
  since: {
    batches: number;
    seconds: number;
    waits: Map<string, number>;
    cpu: number;
    stored: number;
    slow: number;
    lag?: Map<string, number>;
  },
): Promise<string> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? 0);
  const alertsLag = lagP99(text, 'alerts', since);
  const batches = read('tacho_ingest_batch_seconds_count');
  const seconds = read('tacho_ingest_batch_seconds_sum');
  const n = batches - since.batches;
  const avgMs = n > 0 ? ((seconds - since.seconds) / n) * 1000 : 0;
  since.batches = batches;
  since.seconds = seconds;
  // Server-side wait from arrival to commit, as the share of payloads committed within each bound.
  const waits: string[] = [];
  const count = read('tacho_ingest_commit_wait_seconds_count') - (since.waits.get('+Inf') ?? 0);
  for (const m of text.matchAll(/^tacho_ingest_commit_wait_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)) {
    const [, le, value] = m as unknown as [string, string, string];
    const within = Number(value) - (since.waits.get(le) ?? 0);
    since.waits.set(le, Number(value));
    if (['0.02', '0.05', '0.1'].includes(le) && count > 0)
      waits.push(`${((within / count) * 100).toFixed(1)}% ≤ ${Number(le) * 1000} ms`);
  }
  // Server CPU (all threads) per message committed: steadier than rates on a shared 2-core machine.
  const cpu = cpuSecondsOf(pid);
  const stored = Number(/tacho_ingest_messages_total\{outcome="stored"\} (\d+)/.exec(text)?.[1] ?? 0);
  const perMessage = stored > since.stored ? ((cpu - since.cpu) / (stored - since.stored)) * 1e6 : 0;
  since.cpu = cpu;
  since.stored = stored;
  const heap = `CPU ${perMessage.toFixed(0)} µs/message, heap ${(read('tacho_nodejs_heap_size_total_bytes') / 1048576).toFixed(0)} MB, external ${(read('tacho_nodejs_external_memory_bytes') / 1048576).toFixed(0)} MB`;
  // How many of this phase's batches took longer than 50 ms (a checkpoint, a pause): they make the tail.
  const slow = (le: string) =>
    read('tacho_ingest_batch_seconds_count') -
    Number(
      new RegExp(`^tacho_ingest_batch_seconds_bucket\\{le="${le}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0,
    );
  const slowBatches = slow('0.05') - since.slow;
  since.slow = slow('0.05');
  return `${heap}; server: ${n} batches, ${avgMs.toFixed(1)} ms each on average, ${slowBatches} over 50 ms; arrival→commit ${waits.join(', ')}${alertsLag}`;
}

async function storedCount(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(/tacho_ingest_messages_total\{outcome="stored"\} (\d+)/.exec(text)?.[1] ?? 0);
}

/**
 * One device: a QoS 1 publisher that records publish→PUBACK times. Its messages come from the scenario
 * simulator, rendered up front (POOL of them, reused in turn with fresh `ts` and `seq`), so the load
 * generator spends its CPU on MQTT rather than on simulating and serialising; they share 2 cores.
 */
class Device {
  private static readonly POOL = 300;
  private t = Date.now() - 30 * 86_400_000;
  private seq = 0;
  /** Each pooled message without its leading `{"ts":…,"seq":…`. */
  private readonly tails: string[] = [];
  constructor(
    readonly client: MqttClient,
    readonly topic: string,
    seed: number,
  ) {
    const sim = new VehicleSimulator({ seed, startPhase: 'driving' });
    for (let i = 0; i < Device.POOL; i++) {
      const text = JSON.stringify(sim.next(this.t + i * 100));
      const head = /^\{"ts":\d+,"seq":\d+/.exec(text);
      if (!head) throw new Error(`unexpected simulator message ${text.slice(0, 40)}`);
      this.tails.push(text.slice(head[0].length));
    }
  }
  /** Device time advances 100 ms per message, so no two messages share a key. */
  nextBody(): string {
    this.t += 100;
    this.seq++;
    return `{"ts":${this.t},"seq":${this.seq}${this.tails[this.seq % Device.POOL]}`;
  }
  publish(latencies: number[]): Promise<void> {
    const body = this.nextBody();
    const started = performance.now();
    return this.client.publishAsync(this.topic, body, { qos: 1 }).then(() => {
      latencies.push(performance.now() - started);
    });
  }
}

interface RunResult {
  acked: number;
  elapsedS: number;
  latencies: Float64Array;
}

async function flood(devices: Device[], durationS: number, window: number): Promise<RunResult> {
  const latencies: number[] = [];
  const end = Date.now() + durationS * 1000;
  const started = performance.now();
  let acked = 0;
  await Promise.all(
    devices.map(async (d) => {
      const inFlight = new Set<Promise<void>>();
      while (Date.now() < end) {
        const p = d.publish(latencies).then(() => {
          acked++;
        });
        inFlight.add(p);
        p.finally(() => inFlight.delete(p));
        if (inFlight.size >= window) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    }),
  );
  return {
    acked,
    elapsedS: (performance.now() - started) / 1000,
    latencies: Float64Array.from(latencies).sort(),
  };
}

async function paced(
  devices: Device[],
  rate: number,
  durationS: number,
): Promise<RunResult & { sent: number; loopDelayP99Ms: number }> {
  const latencies: number[] = [];
  // This process's own event-loop delay: a publisher's late turn counts in publish→PUBACK too.
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  const started = performance.now();
  let sent = 0;
  let acked = 0;
  // Outstanding publishes are counted, not kept: holding every promise of the run would grow this
  // process's heap and its GC pauses would show up as publish→PUBACK latency.
  let outstanding = 0;
  let allSettled: (() => void) | null = null;
  const settled = () => {
    if (--outstanding === 0) allSettled?.();
  };
  // A 10 ms tick sends what the schedule owes, round-robin over the devices.
  let next = 0;
  while (performance.now() - started < durationS * 1000) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (sent < due) {
      const d = devices[next++ % devices.length]!;
      outstanding++;
      d.publish(latencies).then(() => {
        acked++;
        settled();
      }, settled);
      sent++;
    }
    await sleep(10);
  }
  if (outstanding > 0) {
    await Promise.race([new Promise<void>((resolve) => (allSettled = resolve)), sleep(30_000)]);
  }
  loopDelay.disable();
  return {
    sent,
    acked,
    elapsedS: (performance.now() - started) / 1000,
    latencies: Float64Array.from(latencies).sort(),
    loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
  };
}

async function httpBatches(
  base: string,
  vehicles: Array<{ vin: string; token: string }>,
  batches: number,
  concurrency: number,
  warmup: number,
  backfill: boolean,
): Promise<{ samples: number; elapsedS: number; latencies: Float64Array; cpu: NodeJS.CpuUsage }> {
  const sims = vehicles.map((_, i) => new VehicleSimulator({ seed: 10_000 + i, startPhase: 'driving' }));
  // The MQTT devices' data starts 30 days ago and spans hours at most.
  const clocks = vehicles.map(() => Date.now() - (backfill ? 60 : 29) * 86_400_000);
  // Bodies are encoded before the clock starts, and sent with node:http over kept-alive connections:
  // the sender shares the machine's two cores with the server, so it should cost as little as it can
  // (fetch took ~3 µs of CPU per sample, this ~1).
  const bodies: Array<{ vehicle: number; body: Buffer }> = [];
  for (let b = 0; b < warmup + batches; b++) {
    const v = b % vehicles.length;
    const batch = Array.from({ length: 1000 }, () => {
      clocks[v]! += 100;
      return sims[v]!.next(clocks[v]!);
    });
    bodies.push({ vehicle: v, body: Buffer.from(JSON.stringify(batch)) });
  }
  const url = new URL(base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const post = (path: string, token: string, body: Buffer) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          path,
          method: 'POST',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'content-length': body.length,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
          );
          res.on('error', reject);
        },
      );
      req.setNoDelay(true);
      req.on('error', reject);
      req.end(body);
    });
  let samples = 0;
  let latencies: number[] = [];
  let next = 0;
  const send = (until: number) =>
    Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < until) {
          const { vehicle, body } = bodies[next++]!;
          const v = vehicles[vehicle]!;
          const t = performance.now();
          const res = await post(`/api/v1/vehicles/${v.vin}/telemetry`, v.token, body);
          if (res.status !== 200)
            throw new Error(`HTTP batch answered ${res.status}: ${res.text.slice(0, 200)}`);
          const result = JSON.parse(res.text) as { stored?: number };
          latencies.push(performance.now() - t);
          samples += result.stored ?? 0;
        }
      }),
    );
  // The first batches run the server's code for this path before it is compiled (a few hundred ms in
  // all): they are sent, and stored, before the clock starts.
  await send(warmup);
  samples = 0;
  latencies = [];
  const started = performance.now();
  const cpu = process.cpuUsage();
  await send(bodies.length);
  agent.destroy();
  return {
    samples,
    elapsedS: (performance.now() - started) / 1000,
    latencies: Float64Array.from(latencies).sort(),
    cpu: process.cpuUsage(cpu),
  };
}

async function main(): Promise<void> {
  const publishers = Number(flags.publishers);
  const dataDir = mkdtempSync(join(tmpdir(), 'tacho-bench-ingest-'));
  const [port, mqttPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  let database = '';
  let pgName: string | null = null;
  if (flags.postgres) {
    // A database of its own, dropped at the end.
    const url = new URL(flags['pg-url'] ?? PG_URL);
    pgName = `tacho_bench_${process.pid}`;
    const admin = new pg.Client({ connectionString: url.toString() });
    await admin.connect();
    await admin.query(`create database ${pgName}`);
    await admin.end();
    url.pathname = `/${pgName}`;
    database = url.toString();
  }
  const brokerUrl = flags.broker ?? `mqtt://127.0.0.1:${mqttPort}`;
  const external = flags.broker !== undefined;
  const server = startServer({
    port,
    mqttPort,
    dataDir,
    env: {
      TACHO_DATABASE_URL: database,
      TACHO_MQTT_URL: external ? brokerUrl : '',
      TACHO_MQTT_CLIENT_ID: `tacho-bench-${process.pid}`,
      // The login flood comes from many addresses through a "proxy" on loopback.
      ...(Number(flags['login-flood']) > 0 ? { TACHO_TRUST_PROXY: '127.0.0.1' } : {}),
    },
  });
  const clients: MqttClient[] = [];
  try {
    await waitReady(base, server);
    const pid = server.pid!;
    const admin = new TachoClient({ baseUrl: base, mode: 'cookie', cookieJar: true });
    await admin.auth.login(BENCH_ADMIN.email, BENCH_ADMIN.password);
    const { token } = await admin.tokens.create({ name: 'bench', scopes: ['read', 'write', 'admin'] });
    const vehicles = await createSimVehicles(base, token, publishers);
    await createAlertRules(base, token, Number(flags['alert-rules']));
    const baseline = memoryOf(pid).rss;

    const connect = async (v: { vin: string; token: string }, id: string) => {
      const c = await mqtt.connectAsync(brokerUrl, {
        ...(external ? {} : { username: v.vin, password: v.token }),
        clientId: id,
        reconnectPeriod: 0,
        connectTimeout: 30_000,
        keepalive: 600,
      });
      (c.stream as Partial<Socket>).setNoDelay?.(true);
      clients.push(c);
      return c;
    };
    // Idle devices first, on a fresh server: after the load runs, RSS mostly shows garbage not yet collected.
    const idle = Number(flags.idle);
    if (!external && idle > 0) {
      const rssBefore = memoryOf(pid).rss;
      const idlers: MqttClient[] = [];
      for (let i = 0; i < idle; i++) idlers.push(await connect(vehicles[i % vehicles.length]!, `idle-${i}`));
      await sleep(2000);
      const rssAfter = memoryOf(pid).rss;
      console.log(
        `idle devices: ${idle} connected, server RSS ${mb(rssBefore)} → ${mb(rssAfter)}, ` +
          `${((rssAfter - rssBefore) / idle / 1024).toFixed(1)} KB per connection (RSS, before any load)`,
      );
      for (const c of idlers) await c.endAsync(true);
      clients.length = 0;
    }
    const devices = await Promise.all(
      vehicles.map(
        async (v, i) => new Device(await connect(v, `bench-${i}`), `tacho/v1/${v.vin}/telemetry`, i + 1),
      ),
    );
    const sample = devices[0]!.nextBody().length;
    const engine = database ? 'PostgreSQL' : 'SQLite';
    const brokerName = external ? `external ${brokerUrl}` : 'embedded aedes';
    console.log(
      `\ningest bench: ${engine}, ${brokerName}, ${publishers} publishers, QoS 1, ~${sample}-byte messages\n`,
    );

    // Each phase measures its own load: after a phase, the server is left to finish what it deferred
    // (state and rollups, the WAL checkpoint, a full garbage collection) before the next one starts.
    const settle = (previousS: number) => (previousS > 0 ? sleep(Number(flags.settle) * 1000) : undefined);
    const view = { batches: 0, seconds: 0, waits: new Map<string, number>(), cpu: 0, stored: 0, slow: 0 };
    await serverView(base, pid, view);
    // A phase given 0 seconds is skipped (to measure one of the others alone).
    if (Number(flags.duration) > 0) {
      const before = await storedCount(base);
      const clientCpu = process.cpuUsage();
      const f = await flood(devices, Number(flags.duration), Number(flags.window));
      const used = process.cpuUsage(clientCpu);
      if (external) await waitCommitted(base, before + f.acked);
      const committedFlood = (await storedCount(base)) - before;
      console.log(
        `flood ${flags.duration} s:   ${(f.acked / f.elapsedS).toFixed(0)} msg/s acknowledged, ` +
          `${committedFlood} committed of ${f.acked} acknowledged; ` +
          (external ? 'broker PUBACK' : 'publish→commit') +
          ` p50 ${pct(f.latencies, 50).toFixed(1)} ms, p99 ${pct(f.latencies, 99).toFixed(1)} ms` +
          `; publishers' own CPU ${((used.user + used.system) / f.acked).toFixed(0)} µs/message`,
      );
      console.log(`  ${await serverView(base, pid, view)}; peak RSS so far ${mb(memoryOf(pid).peak)}`);
    }
    /** The paced phase, alone or beside a login flood of `flood` concurrent wrong logins. */
    const pacedPhase = async (flood: number) => {
      const before2 = await storedCount(base);
      await eventLoopLagP99Ms(base);
      const health = probeHealth(base);
      const logins = flood > 0 ? startLoginFlood(base, flood) : null;
      const p = await paced(devices, Number(flags.rate), Number(flags['paced-duration']));
      const statuses = await logins?.stop();
      const healthMs = Float64Array.from(await health.stop()).sort();
      const lagMs = await eventLoopLagP99Ms(base);
      if (external) await waitCommitted(base, before2 + p.acked);
      const committedPaced = (await storedCount(base)) - before2;
      console.log(
        `paced ${flags.rate}/s, ${flags['paced-duration']} s${flood > 0 ? ` beside a login flood of ${flood}` : ''}: sent ${p.sent}, acknowledged ${p.acked}, committed ${committedPaced}, ` +
          `${external ? 'not delivered to Tacho by the broker (its queue limit, see README)' : 'lost'} ${p.sent - committedPaced}; p50 ${pct(p.latencies, 50).toFixed(1)} ms, p99 ${pct(p.latencies, 99).toFixed(1)} ms, ` +
          `max ${pct(p.latencies, 100).toFixed(1)} ms; the publishers' own event-loop delay p99 ${p.loopDelayP99Ms.toFixed(1)} ms`,
      );
      console.log(
        `  /health p99 ${pct(healthMs, 99).toFixed(1)} ms, max ${pct(healthMs, 100).toFixed(1)} ms (${healthMs.length} probes); server event-loop delay p99 ${lagMs.toFixed(1)} ms` +
          (statuses
            ? `; logins answered ${[...statuses].map(([status, n]) => `${n}× ${status || 'error'}`).join(', ')}`
            : ''),
      );
      console.log(`  ${await serverView(base, pid, view)}; peak RSS so far ${mb(memoryOf(pid).peak)}`);
    };
    if (Number(flags['paced-duration']) > 0) {
      await settle(Number(flags.duration));
      await pacedPhase(0);
      if (Number(flags['login-flood']) > 0) {
        await settle(Number(flags['paced-duration']));
        await pacedPhase(Number(flags['login-flood']));
      }
    }
    await settle(Number(flags.duration) + Number(flags['paced-duration']));
    const h = await httpBatches(
      base,
      vehicles,
      Number(flags['http-batches']),
      Number(flags['http-concurrency']),
      Number(flags['http-warmup']),
      flags['http-backfill'] === true,
    );
    console.log(
      `HTTP batches of 1,000 × ${flags['http-batches']} (${flags['http-concurrency']} concurrent${flags['http-backfill'] ? ', a backfill behind the MQTT data' : ''}): ` +
        `${(h.samples / h.elapsedS).toFixed(0)} samples/s stored; request p50 ${pct(h.latencies, 50).toFixed(0)} ms, ` +
        `p99 ${pct(h.latencies, 99).toFixed(0)} ms; the sender's own CPU ${cpuPerSample(h.cpu, h.samples)} µs/sample`,
    );
    console.log(`  ${await serverView(base, pid, view)}; peak RSS so far ${mb(memoryOf(pid).peak)}`);

    const mem = memoryOf(pid);
    console.log(`server memory: baseline RSS ${mb(baseline)}, peak RSS ${mb(mem.peak)}\n`);
  } finally {
    await Promise.allSettled(clients.map((c) => c.endAsync(true)));
    server.kill('SIGTERM');
    await Promise.race([new Promise((r) => server.once('exit', r)), sleep(10_000)]);
    server.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    if (external) {
      // The server's persistent session would otherwise stay at the broker, which would queue every
      // matching message for it for as long as it lives (a week).
      const c = await mqtt
        .connectAsync(brokerUrl, {
          clientId: `tacho-bench-${process.pid}`,
          clean: true,
          protocolVersion: 5,
          reconnectPeriod: 0,
        })
        .catch(() => null);
      await c?.endAsync(true);
    }
    if (pgName) {
      const admin = new pg.Client({ connectionString: flags['pg-url'] ?? PG_URL });
      await admin.connect();
      await admin.query(`drop database if exists ${pgName}`);
      await admin.end();
    }
  }
}

function cpuPerSample(used: NodeJS.CpuUsage, samples: number): string {
  return ((used.user + used.system) / Math.max(1, samples)).toFixed(1);
}

async function waitCommitted(base: string, target: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && (await storedCount(base)) < target) await sleep(100);
}

await main();
process.exit(0);

/**
 * `count` alert rules over the vehicles the token's user has, ten kinds in turn: thresholds that rarely
 * hold, a 12 V watch, offline, a geofence and drive and charge events (these run the drive detector).
 */
async function createAlertRules(base: string, token: string, count: number): Promise<void> {
  if (count <= 0) return;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const list = (await (await fetch(`${base}/api/v1/vehicles`, { headers })).json()) as Array<{ id: string }>;
  const kinds: Array<Record<string, unknown>> = [
    { condition: { metric: 'battery_level_pct', op: '<', value: 5 } },
    { condition: { metric: 'speed_kmh', op: '>', value: 200, forS: 10 } },
    { condition: { metric: 'outside_temp_c', op: '<', value: -30, hysteresis: 2 } },
    { condition: { metric: 'power_kw', op: '>', value: 400 } },
    { condition: { metric: 'gear', op: '==', value: 'R' } },
    { event: { type: 'low_12v' } },
    { event: { type: 'offline', forS: 3600 } },
    { event: { type: 'geofence_exit', geofence: { lat: 0, lon: 0, radiusM: 1000 } } },
    { event: { type: 'drive_started' } },
    { event: { type: 'charge_completed' } },
  ];
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${base}/api/v1/alert-rules`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        name: `Bench rule ${i + 1}`,
        vehicleId: list[i % list.length]!.id,
        channels: [{ type: 'inapp' }],
        cooldownS: 300,
        ...kinds[i % kinds.length],
      }),
    });
    if (res.status !== 201)
      throw new Error(`creating an alert rule failed: HTTP ${res.status} ${await res.text()}`);
  }
  console.log(`${count} alert rules over ${list.length} vehicles`);
}

/** The processor's commit → output lag p99 since the last view, from its histogram's buckets. */
function lagP99(text: string, processor: string, since: { lag?: Map<string, number> }): string {
  const before = since.lag ?? new Map<string, number>();
  const now = new Map<string, number>();
  for (const m of text.matchAll(/^tacho_processing_lag_seconds_bucket\{([^}]*)\} (\d+)$/gm)) {
    const labels = m[1]!;
    const le = /le="([^"]+)"/.exec(labels)?.[1];
    if (le && labels.includes(`processor="${processor}"`)) now.set(le, Number(m[2]));
  }
  since.lag = now;
  const total = (now.get('+Inf') ?? 0) - (before.get('+Inf') ?? 0);
  if (total === 0) return '';
  for (const [le, n] of now) {
    if (n - (before.get(le) ?? 0) >= total * 0.99)
      return `, ${processor} lag p99 ≤ ${le} s (${total} rounds)`;
  }
  return '';
}
