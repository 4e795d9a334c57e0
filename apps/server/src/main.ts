#!/usr/bin/env -S node --max-semi-space-size=8 --heap-growing-percent=200
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import { StartupError } from './lib/errors.js';

/**
 * Starts the server: loadConfig → openStorage → createApp → listen. A start-up problem prints one line
 * saying what is wrong and how to fix it, and exits 1. SIGTERM and SIGINT shut down gracefully.
 */
export async function runServer(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const env = { ...process.env };
  if (argv.includes('--demo')) env.TACHO_DEMO = 'true';
  let app: Awaited<ReturnType<typeof createApp>>;
  try {
    const config = loadConfig(env);
    app = await createApp(config);
    await app.listen();
    app.logger.info({ url: config.publicUrl }, 'Tacho is running');
    if (app.broker?.tcpProblem) process.stderr.write(`tacho: warning: ${app.broker.tcpProblem}\n`);
    process.stdout.write(`\nTacho is running. Open the dashboard: ${config.publicUrl}/\n\n`);
    if (app.auth.setupUrl) {
      process.stdout.write(
        `No user exists yet. Create the first admin within 30 minutes at:\n\n  ${app.auth.setupUrl}\n\n(or set TACHO_ADMIN_EMAIL and TACHO_ADMIN_PASSWORD)\n\n`,
      );
    }
  } catch (error) {
    if (error instanceof StartupError) {
      process.stderr.write(`tacho: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      app.logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, app.config.shutdownTimeoutMs);
    force.unref();
    app.close().then(
      () => {
        app.logger.info('stopped');
        process.exit(0);
      },
      (error) => {
        app.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  await runServer();
}
