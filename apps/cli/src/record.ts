import type { Session } from '@tacho/protocol';
import type { Command } from 'commander';
import { action, createClient, findVehicle, resolveConnection } from './api.js';

/** `tacho record start|stop <vin>`: a manual recording, as the phone recorder's start / stop button. */
export function registerRecordCommand(program: Command): void {
  const record = program.command('record').description('start or stop a manual recording of a vehicle');
  record
    .command('start')
    .description('start recording (fails while a recording is running)')
    .argument('<vin>', 'the VIN (or id) of the vehicle')
    .option('--name <name>', 'a name for the recording')
    .option('--url <url>', 'server URL (default: TACHO_URL, the saved login, or http://127.0.0.1:8080)')
    .action(
      action(async (vin: string, options: { name?: string; url?: string }) => {
        const client = createClient(resolveConnection(options.url));
        const vehicle = await findVehicle(client, vin);
        const session = await client.sessions.startRecording(vehicle.id, options.name);
        process.stdout.write(
          `recording ${session.id} of ${vehicle.name} started at ${iso(session.startMs)}\n`,
        );
      }),
    );
  record
    .command('stop')
    .description('stop the running recording and print its stats')
    .argument('<vin>', 'the VIN (or id) of the vehicle')
    .option('--url <url>', 'server URL (default: TACHO_URL, the saved login, or http://127.0.0.1:8080)')
    .option('--json', 'print the session as JSON')
    .action(
      action(async (vin: string, options: { url?: string; json?: boolean }) => {
        const client = createClient(resolveConnection(options.url));
        const vehicle = await findVehicle(client, vin);
        const page = await client.sessions.list(vehicle.id, { kind: 'manual', limit: 20 });
        const running = page.items.find((s) => s.endMs === null);
        if (!running) throw new Error(`no recording of ${vehicle.name} is running`);
        const session = await client.sessions.stopRecording(running.id);
        process.stdout.write(
          options.json ? `${JSON.stringify(session, null, 2)}\n` : `${describe(session)}\n`,
        );
      }),
    );
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function describe(s: Session): string {
  const minutes = Math.round(s.stats.duration_s / 60);
  const energy = s.stats.energy_used_kwh === null ? '' : `, ${s.stats.energy_used_kwh} kWh`;
  return `recording ${s.id} stopped: ${iso(s.startMs)} → ${iso(s.endMs ?? s.startMs)}, ${s.stats.distance_km} km in ${minutes} min${energy}`;
}
