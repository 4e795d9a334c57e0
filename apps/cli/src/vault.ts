import type { Command } from 'commander';

/**
 * `tacho vault rotate`: like `serve`, it runs on the server's machine with the server's settings and opens
 * the database itself (the vault's keys never travel over the API).
 */
export function registerVaultCommand(program: Command): void {
  const vault = program.command('vault').description("the server's vault of secrets at rest");
  vault
    .command('rotate')
    .description(
      're-seal every stored secret under a new key, in batches (resumable; running servers keep working)',
    )
    .requiredOption(
      '--new-key-file <file>',
      'the new key (base64, 32 bytes); created with mode 0600 if missing',
    )
    .option('--finish', 'once every instance runs with the new key: drop the old key from the database')
    .option('--batch <n>', 'values per batch', (v) => Number.parseInt(v, 10), 100)
    .action(async (options: { newKeyFile: string; finish?: boolean; batch: number }) => {
      const { runVaultRotate } = await import('@tacho/server');
      process.exitCode = await runVaultRotate({
        newKeyFile: options.newKeyFile,
        batch: options.batch,
        ...(options.finish ? { finish: true } : {}),
      });
    });
}
