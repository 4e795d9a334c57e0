import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';

export const artifactsDir = fileURLToPath(new URL('../artifacts', import.meta.url));

/** Debian's chromium, as .ci/run installs it; no browser is downloaded. */
export const chromiumPath = process.env.TACHO_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Without the browser the browser tests are skipped with the reason printed, except under CI, where a
 * missing browser fails the run (as a missing PostgreSQL does).
 */
export const noBrowser = existsSync(chromiumPath)
  ? null
  : `no Chromium at ${chromiumPath} (apt-get install chromium, or set TACHO_CHROMIUM)`;
if (noBrowser && process.env.CI === 'true')
  throw new Error(`browser tests need Chromium under CI: ${noBrowser}`);
if (noBrowser) console.warn(`[tests] skipping browser tests: ${noBrowser}`);

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    timeout: 30_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** Saves a full-page screenshot to e2e/artifacts/<name>.png (gitignored; CI keeps it as an artifact). */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(artifactsDir, { recursive: true });
  await page.screenshot({ path: join(artifactsDir, `${name}.png`), fullPage: true });
}
