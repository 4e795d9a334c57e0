import { existsSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { getPriority, setPriority } from 'node:os';
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

/**
 * Lowers the calling thread's scheduling priority (Linux: `nice` is per thread, and
 * `setpriority(PRIO_PROCESS, tid)` sets one thread's). Background work in a thread of its own then runs
 * on the CPU time nothing else wants and yields it at once to the threads that answer devices and
 * people. Returns false where the thread's id is unknown (not Linux) or the call is refused.
 */
export function lowerThreadPriority(nice: number): boolean {
  try {
    // "<pid>/task/<tid>": a synchronous call runs on the calling thread, so this is that thread's id.
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return false;
    setPriority(tid, nice);
    return getPriority(tid) === nice;
  } catch {
    return false;
  }
}
