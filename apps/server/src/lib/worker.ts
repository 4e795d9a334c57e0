import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread on a module named like its compiled file (`./x.worker.js`, next to the caller).
 * Built, that file exists and runs as is. Run from source (tsx, tests), only `x.worker.ts` exists and
 * Node cannot load it in a thread by itself: the thread registers tsx's require hook first, then loads it.
 */
export function startWorker(moduleUrl: URL, options: WorkerOptions = {}): Worker {
  const path = fileURLToPath(moduleUrl);
  if (existsSync(path) || !path.endsWith('.js')) return new Worker(moduleUrl, options);
  const source = path.replace(/\.js$/, '.ts');
  const tsx = createRequire(import.meta.url).resolve('tsx/cjs/api');
  return new Worker(`require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(source)});`, {
    ...options,
    eval: true,
  });
}
