import { Command } from 'commander';
import { registerLoginCommands } from './login.js';
import { registerRecordCommand } from './record.js';
import { registerSimulateCommand } from './simulate.js';
import { registerStateCommand } from './state.js';
import { registerTransferCommands } from './transfer.js';
import { registerVaultCommand } from './vault.js';
import { registerVehiclesCommand } from './vehicles.js';
import { registerWatchCommand } from './watch.js';

/** Builds the `tacho` command. Each subcommand lives in its own module and talks to the server only
 * through @tacho/client, except `serve`, which is the server, and `vault`, which opens its database. */
export function buildProgram(): Command {
  const program = new Command('tacho')
    .description('Tacho: self-hosted vehicle telemetry')
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(text) });

  program
    .command('serve')
    .description('start the server on the configured (by default embedded) database and broker')
    .option('--demo', 'create three demo vehicles and simulate them')
    .action(async (options: { demo?: boolean }) => {
      const { runServer } = await import('@tacho/server');
      await runServer(options.demo ? ['--demo'] : []);
    });

  registerSimulateCommand(program);
  registerVehiclesCommand(program);
  registerStateCommand(program);
  registerWatchCommand(program);
  registerRecordCommand(program);
  registerLoginCommands(program);
  registerTransferCommands(program);
  registerVaultCommand(program);

  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  await buildProgram().parseAsync([...argv]);
}
