import { readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { describe, expect, it } from 'vitest';

/** A thread's nice value as the kernel reports it (field 19 of its stat line). */
function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

describe('lowerThreadPriority (Linux)', () => {
  it('lowers the calling thread only, not the process', async () => {
    const { Worker } = await import('node:worker_threads');
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { readlinkSync } = require('node:fs');
      const { register } = require(workerData.tsx);
      register();
      const { lowerThreadPriority } = require(workerData.module);
      const ok = lowerThreadPriority(10);
      const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
      parentPort.postMessage({ ok, tid });
      setTimeout(() => {}, 60000);
    `;
    const { createRequire } = await import('node:module');
    const worker = new Worker(source, {
      eval: true,
      workerData: {
        tsx: createRequire(import.meta.url).resolve('tsx/cjs/api'),
        module: new URL('./worker.ts', import.meta.url).pathname,
      },
    });
    try {
      const { ok, tid } = await new Promise<{ ok: boolean; tid: number }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      expect(ok).toBe(true);
      expect(niceOf(tid)).toBe(10);
      expect(niceOf(process.pid)).toBe(getPriority());
      expect(getPriority()).not.toBe(10);
    } finally {
      await worker.terminate();
    }
  });
});
