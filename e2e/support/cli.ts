import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
let entryPath: string | null = null;

/** A one-line entry point that runs the CLI's sources as `tacho` (tsx maps @tacho/* to the sources). */
function entry(): string {
  if (!entryPath) {
    entryPath = join(mkdtempSync(join(tmpdir(), 'tacho-e2e-cli-')), 'tacho.mts');
    writeFileSync(
      entryPath,
      `import { main } from ${JSON.stringify(join(root, 'apps/cli/src/main.ts'))};\nawait main(['node', 'tacho', ...JSON.parse(process.env.CLI_ARGS ?? '[]')]);\n`,
    );
  }
  return entryPath;
}

export interface CliRun {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
}

/** Runs `tacho <args>` from the sources as its own process, as a user runs the command. */
export function runTacho(args: string[], env: Record<string, string>): CliRun {
  const child = spawn(
    process.execPath,
    [join(root, 'node_modules/tsx/dist/cli.mjs'), '--tsconfig', join(root, 'tsconfig.check.json'), entry()],
    {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: env.HOME ?? tmpdir(),
        CLI_ARGS: JSON.stringify(args),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d;
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}
