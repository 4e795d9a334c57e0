import type { Command } from 'commander';
import { action, createClient, resolveConnection } from './api.js';
import { formatAgo, formatValue, table } from './state-format.js';

/** `tacho vehicles`: the vehicles you may see, with status, battery and when they last reported. */
export function registerVehiclesCommand(program: Command): void {
  program
    .command('vehicles')
    .description('list the vehicles you may see, with status, battery and last report')
    .option('--url <url>', 'server URL (default: TACHO_URL, the saved login, or http://127.0.0.1:8080)')
    .option('--json', 'print the list as JSON')
    .action(
      action(async (options: { url?: string; json?: boolean }) => {
        const client = createClient(resolveConnection(options.url));
        const vehicles = await client.vehicles.list();
        const states = await Promise.all(vehicles.map((v) => client.readings.state(v.id)));
        if (options.json) {
          const out = vehicles.map((v, i) => ({ ...v, state: states[i] }));
          process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
          return;
        }
        if (vehicles.length === 0) {
          process.stdout.write('No vehicles yet. Add one in the dashboard.\n');
          return;
        }
        const now = Date.now();
        const rows = [['NAME', 'VIN', 'STATUS', 'BATTERY', 'RANGE', 'LAST SEEN']];
        vehicles.forEach((v, i) => {
          const s = states[i]!;
          const battery = s.metrics.battery_level_pct;
          const range = s.metrics.range_km;
          rows.push([
            v.name,
            // A vehicle without a VIN (a phone, a tracker) is named by its id wherever a VIN would do.
            v.vin ?? v.id,
            s.connectivity,
            battery ? formatValue('battery_level_pct', battery.value) : '-',
            range ? formatValue('range_km', range.value) : '-',
            s.lastSeenMs ? formatAgo(s.lastSeenMs, now) : 'never',
          ]);
        });
        process.stdout.write(`${table(rows)}\n`);
      }),
    );
}
