import { type NativeMessage, VehicleSimulator } from '@tacho/protocol';
import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import { newId } from '../../lib/crypto.js';
import type { Logger } from '../../lib/logger.js';
import type { IngestPipeline } from '../telemetry/index.js';

/**
 * The three demo vehicles: fixed VINs so a restart continues them instead of adding more. Each does what
 * its name says, for as long as it runs: the city run drives and parks (charging when its battery runs
 * low), the one at the charger charges to its limit and stays plugged in, the parked one stays parked.
 */
export const DEMO_VEHICLES = [
  {
    vin: 'TACHDEM0000000001',
    name: 'Demo: city run',
    startPhase: 'driving',
    cycle: ['driving', 'parked', 'driving', 'parked', 'charging', 'parked'],
  },
  { vin: 'TACHDEM0000000002', name: 'Demo: at the charger', startPhase: 'charging', cycle: ['charging'] },
  { vin: 'TACHDEM0000000003', name: 'Demo: parked', startPhase: 'parked', cycle: ['parked'] },
] as const;

/**
 * VinFast device keys the demo sends beside the canonical metrics, as a VinFast car reports them
 * (object/instance/resource of the community alias map), so the deep scan has content: mapped keys show
 * their meaning, `34213_00001_00005` and `34220_00001_00001` stay raw, as unknown keys do on a real car.
 */
const VINFAST_KEYS: ReadonlyArray<readonly [string, string]> = [
  ['34183_00001_00009', 'battery_level_pct'],
  ['34183_00001_00002', 'speed_kmh'],
  ['34183_00001_00003', 'odometer_km'],
  ['34183_00001_00007', 'outside_temp_c'],
  ['34183_00001_00001', 'gear'],
];

/** The message with the VinFast-style raw keys of what it reports. */
export function withDeviceKeys(message: NativeMessage): NativeMessage {
  const raw: Record<string, number | string | boolean> = {};
  for (const [key, metric] of VINFAST_KEYS) {
    const value = message.metrics?.[metric];
    if (value !== undefined && value !== null) raw[key] = value;
  }
  raw['34213_00001_00005'] = message.metrics?.charging_state === 'charging' ? 1 : 0;
  raw['34220_00001_00001'] = typeof message.ts === 'number' ? Math.round((message.ts / 1000) % 86_400) : 0;
  return { ...message, raw: { ...message.raw, ...raw } };
}

const DEMO_OWNER_EMAIL = 'demo@tacho.invalid';

export interface Demo {
  readonly vehicleIds: readonly string[];
  stop(): Promise<void>;
}

/**
 * `TACHO_DEMO=1` / `npm start -- --demo`: three simulated vehicles feeding the real pipeline once a
 * second, so a newcomer sees data at once. They belong to the first admin, or to a demo user who cannot
 * log in when there is no admin yet (admins see every vehicle anyway).
 */
export async function startDemo(deps: {
  db: Db;
  clock: Clock;
  pipeline: IngestPipeline;
  logger: Logger;
  periodMs?: number;
}): Promise<Demo> {
  const { db, clock, pipeline } = deps;
  const ownerId = await demoOwner(db, clock.now());
  const vehicleIds: string[] = [];
  for (const v of DEMO_VEHICLES) {
    const existing = await db.selectFrom('vehicles').select('id').where('vin', '=', v.vin).executeTakeFirst();
    if (existing) {
      vehicleIds.push(existing.id);
      continue;
    }
    const id = newId();
    const now = clock.now();
    await db
      .insertInto('vehicles')
      .values({
        id,
        vin: v.vin,
        name: v.name,
        make: 'Tacho',
        model: 'Simulator',
        year: 2026,
        owner_id: ownerId,
        created_ms: now,
        updated_ms: now,
      })
      .execute();
    vehicleIds.push(id);
  }

  const sims = DEMO_VEHICLES.map(
    (v, i) =>
      new VehicleSimulator({
        seed: 1000 + i + Math.floor(clock.now() / 1000),
        startPhase: v.startPhase,
        cycle: v.cycle,
      }),
  );
  let inFlight: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    const now = clock.now();
    inFlight = Promise.all(
      sims.map((sim, i) =>
        pipeline.ingest({ source: 'demo', topic: 'demo', vehicleId: vehicleIds[i]! }, [
          withDeviceKeys(sim.next(now)),
        ]),
      ),
    ).catch((error: unknown) => deps.logger.debug({ err: error }, 'demo message not stored'));
  }, deps.periodMs ?? 1000);
  deps.logger.info({ vehicles: DEMO_VEHICLES.map((v) => v.vin) }, 'demo vehicles are being simulated');

  return {
    vehicleIds,
    async stop() {
      clearInterval(timer);
      await inFlight;
    },
  };
}

async function demoOwner(db: Db, now: number): Promise<string> {
  const admin = await db
    .selectFrom('users')
    .select('id')
    .where('role', '=', 'admin')
    .orderBy('created_ms')
    .executeTakeFirst();
  if (admin) return admin.id;
  const demo = await db
    .selectFrom('users')
    .select('id')
    .where('email', '=', DEMO_OWNER_EMAIL)
    .executeTakeFirst();
  if (demo) return demo.id;
  const id = newId();
  await db
    .insertInto('users')
    .values({
      id,
      email: DEMO_OWNER_EMAIL,
      name: 'Demo',
      // No password: nobody logs in as the demo owner.
      password_hash: null,
      role: 'operator',
      disabled_ms: null,
      tokens_valid_after_ms: 0,
      created_ms: now,
      updated_ms: now,
    })
    .execute();
  return id;
}
