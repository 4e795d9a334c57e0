import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findLeaks, LOG_DIR_ENV } from './log-leaks.js';

/**
 * Vitest global setup: gives the run a log directory (test apps log there, see log-leaks.ts) and, when
 * the run ends, fails it if any log holds a secret a test created. A directory given in
 * TACHO_TEST_LOG_DIR is kept; one made here is removed unless it holds a leak.
 */
export default function setup(): () => Promise<void> {
  const given = process.env[LOG_DIR_ENV];
  const dir = given ?? mkdtempSync(join(tmpdir(), 'tacho-test-logs-'));
  process.env[LOG_DIR_ENV] = dir;
  return async () => {
    const leaks = await findLeaks(dir);
    if (leaks.length > 0) {
      const shown = leaks.slice(0, 20).map((l) => `  ${join(dir, l.file)}:${l.line} holds ${l.secret}`);
      console.error(
        `\nSecrets created by the tests appear in their logs (${leaks.length} lines):\n${shown.join('\n')}\n`,
      );
      // A throw here is only printed; the exit code is what fails `npm test` and .ci/run.
      process.exitCode = 1;
      return;
    }
    if (!given) rmSync(dir, { recursive: true, force: true });
  };
}
