import type { Command } from 'commander';
import { action, createClient, findVehicle, resolveConnection } from './api.js';
import { renderState } from './state-format.js';

/** `tacho state <vin>`: the latest value of every metric, the position and online/asleep/offline. */
export function registerStateCommand(program: Command): void {
  program
    .command('state')
    .description('show the current state of a vehicle: every metric, the position, online/asleep/offline')
    .argument('<vin>', 'the VIN (or id) of the vehicle')
    .option('--url <url>', 'server URL (default: TACHO_URL, the saved login, or http://127.0.0.1:8080)')
    .option('--json', 'print the state as JSON')
    .action(
      action(async (vin: string, options: { url?: string; json?: boolean }) => {
        const client = createClient(resolveConnection(options.url));
        const vehicle = await findVehicle(client, vin);
        const state = await client.readings.state(vehicle.id);
        process.stdout.write(
          options.json
            ? `${JSON.stringify(state, null, 2)}\n`
            : `${renderState(`${vehicle.name} (${vehicle.vin})`, state, Date.now())}\n`,
        );
      }),
    );
}
