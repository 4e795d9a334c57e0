import type { VehicleState } from '@tacho/protocol';
import type { Command } from 'commander';
import { action, createClient, findVehicle, resolveConnection } from './api.js';
import { renderState } from './state-format.js';

/**
 * `tacho watch <vin>`: live values, redrawn in place on a terminal (cursor home + clear); when the
 * output is not a terminal, each redraw is printed after the previous one, separated by a blank line.
 */
export function registerWatchCommand(program: Command): void {
  program
    .command('watch')
    .description('follow a vehicle live: its values redrawn in place as they change (Ctrl-C to stop)')
    .argument('<vin>', 'the VIN (or id) of the vehicle')
    .option('--url <url>', 'server URL (default: TACHO_URL, the saved login, or http://127.0.0.1:8080)')
    .option('--updates <n>', 'stop after this many updates (for scripts)')
    .action(
      action(async (vin: string, options: { url?: string; updates?: string }) => {
        const client = createClient(resolveConnection(options.url));
        const vehicle = await findVehicle(client, vin);
        const limit = options.updates === undefined ? Number.POSITIVE_INFINITY : Number(options.updates);
        if (!(limit > 0)) throw new Error(`--updates must be a positive number, got "${options.updates}"`);
        const tty = process.stdout.isTTY === true;
        const title = `${vehicle.name} (${vehicle.vin})`;
        let status = 'connecting';
        let last: VehicleState | null = null;
        let updates = 0;

        const draw = () => {
          const body = last ? renderState(title, last, Date.now()) : `${title}\n(waiting for data)`;
          const frame = `${body}\n[${status}] Ctrl-C to stop\n`;
          process.stdout.write(tty ? `\x1b[H\x1b[2J${frame}` : `${frame}\n`);
        };

        await new Promise<void>((resolve) => {
          let stopping = false;
          const stop = () => {
            stopping = true;
            client.close();
            resolve();
          };
          process.once('SIGINT', stop);
          client.live.onStatus((s, detail) => {
            status = detail && s !== 'open' ? `${s}: ${detail}` : s;
            if (stopping) return;
            if (s === 'closed') {
              draw();
              process.exitCode = 1;
              stop();
            } else if (tty) draw();
          });
          client.live.subscribe(vehicle.id, {
            state: (state, update) => {
              last = state;
              draw();
              if (update && ++updates >= limit) stop();
            },
            error: (code, message) => {
              process.stderr.write(`tacho: ${message} (${code})\n`);
              process.exitCode = 1;
              stop();
            },
          });
          // Ages ("12 s ago") stay current on a terminal even when nothing changes.
          if (tty) setInterval(draw, 1000).unref();
        });
      }),
    );
}
