import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const web = join(root, 'apps/web');
const lockDir = join(web, '.build-lock');
const STALE_LOCK_MS = 5 * 60_000;

/** When the lock was taken (its mtime), or now when it has just gone. */
function lockAgeMs(): number {
  try {
    return statSync(lockDir).mtimeMs;
  } catch {
    return Date.now();
  }
}

function newest(dir: string): number {
  if (!existsSync(dir)) return 0;
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

function stale(): boolean {
  const built = join(web, 'dist/index.html');
  if (!existsSync(built)) return true;
  const at = statSync(built).mtimeMs;
  // The dashboard bundles the protocol and the client from source: a change to either needs a new build.
  return [join(web, 'src'), join(root, 'packages/protocol/src'), join(root, 'packages/client/src')].some(
    (dir) => newest(dir) > at,
  );
}

/**
 * Builds the dashboard when its sources are newer than the build (CI has built it already), holding a
 * directory lock so that two test files never build into the same dist at once.
 */
export async function ensureWebBuilt(timeoutMs = 120_000): Promise<void> {
  if (!stale()) return;
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(lockDir);
      break;
    } catch {
      // A lock older than any build is left over from a run that was killed: take it over.
      if (Date.now() - lockAgeMs() > STALE_LOCK_MS) rmSync(lockDir, { recursive: true, force: true });
      if (Date.now() > until) throw new Error(`timed out waiting for ${lockDir}; remove it if no build runs`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    if (!stale()) return;
    const result = spawnSync(
      process.execPath,
      [join(root, 'node_modules/vite/bin/vite.js'), 'build', web, '--logLevel', 'warn'],
      {
        cwd: root,
        encoding: 'utf8',
        timeout: timeoutMs,
      },
    );
    if (result.status !== 0)
      throw new Error(`building the dashboard failed:\n${result.stdout}\n${result.stderr}`);
  } finally {
    rmdirSync(lockDir);
  }
}
