import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';

/** Helpers shared by the fault tests: real processes, real sockets, every wait bounded. */

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

/** Polls until `check` holds; throws naming `what` when `ms` pass first. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  ms = 20_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not within ${ms} ms`);
}

const mainTs = fileURLToPath(new URL('../../main.ts', import.meta.url));
// Its `paths` point the workspace packages at their sources, so the child runs what the tests see rather
// than whatever was last built into dist/.
const tsconfig = fileURLToPath(new URL('../../../../../tsconfig.check.json', import.meta.url));

export interface ServerProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves once the server prints that it runs. */
  ready: Promise<void>;
  exited: Promise<void>;
}

/** Runs the real server (`main.ts`) in a child process with these TACHO_* variables. */
export function startServerProcess(env: Record<string, string>): ServerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', mainTs], {
    env: { PATH: process.env.PATH, TSX_TSCONFIG_PATH: tsconfig, TACHO_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 30_000);
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes('Tacho is running')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => {
      out += d;
    });
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`server exited: ${out}`));
    });
  });
  ready.catch(() => {});
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { child, output: () => out, ready, exited };
}

/**
 * A QoS 1 publisher that keeps up to `window` messages in flight and records which ones the broker
 * acknowledged (PUBACK), by key.
 */
export class CountingPublisher {
  readonly acked = new Set<string>();
  readonly sent = new Set<string>();
  private stopped = false;
  private loop: Promise<void> | null = null;

  private constructor(
    readonly client: MqttClient,
    private readonly topic: string,
  ) {}

  static async connect(url: string, options: mqtt.IClientOptions, topic: string): Promise<CountingPublisher> {
    const client = await mqtt.connectAsync(url, {
      clientId: `pub-${randomBytes(4).toString('hex')}`,
      connectTimeout: 5000,
      ...options,
    });
    return new CountingPublisher(client, topic);
  }

  /** Publishes `make(i)` for i = from, from+1, … until stopped or `count` messages were sent. */
  start(make: (i: number) => { key: string; body: string }, from: number, count: number, window = 20): void {
    this.loop = (async () => {
      const inFlight = new Set<Promise<void>>();
      for (let i = from; i < from + count && !this.stopped; i++) {
        const { key, body } = make(i);
        this.sent.add(key);
        const p = this.client.publishAsync(this.topic, body, { qos: 1 }).then(
          () => {
            this.acked.add(key);
          },
          () => {},
        );
        inFlight.add(p);
        p.finally(() => inFlight.delete(p));
        if (inFlight.size >= window) await Promise.race([...inFlight, sleep(1000)]);
      }
    })();
  }

  /** Stops publishing; does not wait for messages still in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.race([this.loop, sleep(2000)]);
  }

  async close(): Promise<void> {
    this.stopped = true;
    await this.client.endAsync(true).catch(() => {});
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
