import http from 'node:http';
import { sleep } from './support.js';

/**
 * A login flood beside the ingest bench (issue 24.7): `concurrency` wrong logins in flight at all times,
 * each for an account and from an address (X-Forwarded-For; the server must trust the loopback proxy) of
 * its own, so neither throttle holds them back and only the server's password queue does. Like an
 * attacker, it ignores Retry-After: a refused login is sent again at once.
 */
export function startLoginFlood(base: string, concurrency: number): { stop(): Promise<Map<number, number>> } {
  const url = new URL(base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const statuses = new Map<number, number>();
  let stopped = false;
  let n = 0;
  const attempt = () =>
    new Promise<number>((resolve) => {
      n += 1;
      const body = JSON.stringify({ email: `flood${n}@example.test`, password: 'wrong guess' });
      const req = http.request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          path: '/api/v1/auth/login',
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'x-forwarded-for': `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', () => resolve(0));
        },
      );
      req.on('error', () => resolve(0));
      req.end(body);
    });
  const workers = Array.from({ length: concurrency }, async () => {
    while (!stopped) {
      const status = await attempt();
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  });
  return {
    async stop() {
      stopped = true;
      await Promise.all(workers);
      agent.destroy();
      return statuses;
    },
  };
}

/** GET /health every `everyMs` until stopped; its answer times, in ms. */
export function probeHealth(base: string, everyMs = 100): { stop(): Promise<number[]> } {
  const times: number[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const started = performance.now();
      await fetch(`${base}/health`)
        .then((r) => r.text())
        .catch(() => {});
      times.push(performance.now() - started);
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return times;
    },
  };
}

/** The server's event-loop delay p99 (ms) since /metrics was last read (prom-client resets it on each read). */
export async function eventLoopLagP99Ms(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return (
    Number(/^tacho_nodejs_eventloop_lag_p99_seconds ([0-9.e+-]+)$/m.exec(text)?.[1] ?? Number.NaN) * 1000
  );
}
