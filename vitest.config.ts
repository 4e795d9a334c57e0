import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@tacho/protocol': src('./packages/protocol/src/index.ts'),
      '@tacho/client': src('./packages/client/src/index.ts'),
      '@tacho/server': src('./apps/server/src/index.ts'),
    },
  },
  test: {
    include: ['{apps,packages,e2e}/**/*.test.ts'],
    // Fails the run when a secret a test created shows up in a log (issue 24.6).
    globalSetup: ['apps/server/src/test/log-leaks.global.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Tests share real PostgreSQL, Redis and Mosquitto; each file isolates itself by schema or topic.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
