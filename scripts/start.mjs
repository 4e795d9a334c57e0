#!/usr/bin/env node
// `npm start`: builds what is missing or stale, then starts the server on the embedded defaults.
// Arguments after `--` reach the server (`npm start -- --demo`).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/** Newest modification time of any file below `dir` (0 when it does not exist). */
function newest(dir) {
  if (!existsSync(dir)) return 0;
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

// TypeScript's build mode compares inputs and outputs itself and does nothing when all is current.
run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b']);

const web = join(root, 'apps/web');
if (existsSync(join(web, 'index.html'))) {
  const built = join(web, 'dist/index.html');
  const stale =
    !existsSync(built) ||
    newest(join(web, 'src')) > statSync(built).mtimeMs ||
    newest(join(root, 'packages')) > statSync(built).mtimeMs;
  if (stale)
    run(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', web, '--logLevel', 'warn']);
}

const { runServer } = await import('../apps/server/dist/main.js');
await runServer(process.argv.slice(2));
