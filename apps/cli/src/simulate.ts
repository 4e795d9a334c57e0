import { readFileSync } from 'node:fs';
import { isValidVin, normalizeVin, toObdMessage, VehicleSimulator } from '@tacho/protocol';
import type { Command } from 'commander';
import {
  createSimVehicles,
  httpTarget,
  mqttTarget,
  parseTokensFile,
  type SimVehicle,
  type Target,
} from './simulate-targets.js';

export interface SimulateOptions {
  vehicles: SimVehicle[];
  /** mqtt://, mqtts://, ws://, wss:// (MQTT) or http://, https:// (HTTP ingest route). */
  url: string;
  /** Messages per second per vehicle. */
  rateHz: number;
  durationS: number;
  qos?: 0 | 1;
  /** Messages a vehicle may have unacknowledged before it skips a tick. */
  maxInFlight?: number;
  /** OBD-II mode: metrics with a mode 01 PID are sent as real responses (`obd: [{pid, response}]`). */
  obd?: boolean;
  log?: (line: string) => void;
}

export interface SimulateStats {
  sent: number;
  acknowledged: number;
  failed: number;
  skipped: number;
  elapsedS: number;
}

/**
 * Drives each vehicle through the scenario (parked, driving, charging) in real time and publishes what it
 * reports. Resolves when the duration is over and every message in flight is settled.
 */
export async function simulate(options: SimulateOptions): Promise<SimulateStats> {
  const log = options.log ?? (() => {});
  const isHttp = /^https?:/.test(options.url);
  const stats: SimulateStats = { sent: 0, acknowledged: 0, failed: 0, skipped: 0, elapsedS: 0 };
  const maxInFlight = options.maxInFlight ?? 1000;
  const targets: Target[] = await Promise.all(
    options.vehicles.map((v) =>
      isHttp ? httpTarget(options.url, v) : mqttTarget(options.url, v, options.qos ?? 1),
    ),
  );
  const started = Date.now();
  const pending = new Set<Promise<void>>();
  const timers: NodeJS.Timeout[] = [];
  let lastError = '';

  const periodMs = 1000 / options.rateHz;
  const vehicles = targets.map((target, i) => {
    const sim = new VehicleSimulator({
      seed: i + 1,
      startPhase: i % 3 === 0 ? 'driving' : i % 3 === 1 ? 'charging' : 'parked',
    });
    // Spread the vehicles over the first period so they do not all publish in the same millisecond.
    return { target, sim, inFlight: 0, dueMs: started + (periodMs * i) / targets.length };
  });
  const send = (v: (typeof vehicles)[number]) => {
    if (v.inFlight >= maxInFlight) {
      stats.skipped++;
      return;
    }
    const next = v.sim.next(Date.now());
    const message = options.obd ? toObdMessage(next) : next;
    stats.sent++;
    v.inFlight++;
    const p = v.target.send(message).then(
      () => {
        stats.acknowledged++;
      },
      (error: unknown) => {
        stats.failed++;
        lastError = (error as Error).message;
      },
    );
    pending.add(p);
    p.finally(() => {
      v.inFlight--;
      pending.delete(p);
    });
  };
  // One clock for all vehicles, sending what each one owes by now: a timer per vehicle fires at most once
  // per event-loop turn, so at 100 vehicles × 100 Hz the rate would sag to whatever the loop allows.
  // More than a second behind (the machine cannot keep up), the missed messages are skipped, not burst.
  const drive = () => {
    const now = Date.now();
    for (const v of vehicles) {
      if (now - v.dueMs > 1000) {
        const missed = Math.floor((now - v.dueMs) / periodMs);
        stats.skipped += missed;
        v.dueMs += missed * periodMs;
      }
      while (v.dueMs <= now) {
        send(v);
        v.dueMs += periodMs;
      }
    }
  };
  timers.push(setInterval(drive, Math.max(1, Math.min(periodMs, 10))));

  const progress = setInterval(() => {
    const s = (Date.now() - started) / 1000;
    log(`${s.toFixed(0)} s: sent ${stats.sent}, acknowledged ${stats.acknowledged}, failed ${stats.failed}`);
  }, 5000);
  await new Promise((resolve) => setTimeout(resolve, options.durationS * 1000));
  for (const t of timers) clearTimeout(t);
  clearInterval(progress);
  await Promise.allSettled([...pending]);
  stats.elapsedS = (Date.now() - started) / 1000;
  await Promise.allSettled(targets.map((t) => t.close()));
  if (lastError) log(`last error: ${lastError}`);
  return stats;
}

/** `tacho simulate`: registered by main.ts. */
export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('simulate vehicles (parked, driving, charging) and publish their telemetry')
    .requiredOption('--url <url>', 'mqtt://host:1883, ws://host:8080/mqtt, or http://host:8080')
    .option('--vehicles <n>', 'number of vehicles', '3')
    .option('--rate <hz>', 'messages per second per vehicle', '1')
    .option('--duration <s>', 'how long to run, in seconds', '60')
    .option('--qos <0|1>', 'MQTT QoS', '1')
    .option('--vin <vin>', 'with --token: the one vehicle to simulate (its VIN, or its id if it has none)')
    .option('--token <token>', 'the vehicle token for --vin')
    .option('--tokens-file <file>', 'lines of "VIN TOKEN", one per vehicle')
    .option(
      '--admin-token <token>',
      'create the vehicles and their tokens through the API with this user token',
    )
    .option('--api <url>', 'HTTP base URL for --admin-token when --url is MQTT', 'http://127.0.0.1:8080')
    .option('--obd', 'send metrics that have an OBD-II PID as mode 01 responses, like a dongle')
    .action(async (raw: Record<string, string | undefined>) => {
      const count = positive(raw.vehicles, '--vehicles');
      let vehicles: SimVehicle[];
      if (raw.tokensFile) vehicles = parseTokensFile(readFileSync(raw.tokensFile, 'utf8')).slice(0, count);
      else if (raw.token && raw.vin) vehicles = [{ vin: vinOrId(raw.vin), token: raw.token }];
      else if (raw.adminToken) {
        const api = /^https?:/.test(raw.url ?? '') ? raw.url! : raw.api!;
        vehicles = await createSimVehicles(api, raw.adminToken, count);
        process.stdout.write(`created ${vehicles.length} vehicles:\n`);
        for (const v of vehicles) process.stdout.write(`${v.vin} ${v.token}\n`);
      } else {
        throw new Error('give --vin and --token, --tokens-file, or --admin-token to create vehicles');
      }
      const stats = await simulate({
        vehicles,
        url: raw.url!,
        rateHz: positive(raw.rate, '--rate'),
        durationS: positive(raw.duration, '--duration'),
        qos: raw.qos === '0' ? 0 : 1,
        obd: raw.obd !== undefined,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(
        `sent ${stats.sent}, acknowledged ${stats.acknowledged}, failed ${stats.failed}, skipped ${stats.skipped} ` +
          `in ${stats.elapsedS.toFixed(1)} s (${(stats.acknowledged / stats.elapsedS).toFixed(0)} msg/s acknowledged)\n`,
      );
      if (stats.failed > 0) process.exitCode = 1;
    });
}

function positive(raw: string | undefined, name: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

/** A VIN as people type it (any case, spaces), or a vehicle's id, which is kept as it is. */
function vinOrId(value: string): string {
  const vin = normalizeVin(value);
  return isValidVin(vin) ? vin : value.trim();
}
