import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { freshStorage } from '../../test/storage.js';
import { createSessionsProcessor, SESSIONS_PROCESSOR } from '../sessions/sessions.processor.js';
import { waitUntil } from '../telemetry/fault-helpers.js';
import { packBatch } from '../telemetry/packed-batch.js';
import { createSampleWriter } from '../telemetry/sample-writer.js';
import { insertVehicle, testVin } from '../telemetry/test-fixtures.js';
import { INGEST_FIRST, IngestFirst, restOfProcessCpuMs, threadCpuMs } from './ingest-first.js';
import { LocalPasses } from './runner.js';

const options = { ...INGEST_FIRST, cores: 2 };

/** A server whose other threads keep `cores` cores busy from now on (the clock is the test's). */
function server() {
  let busyMs = 0;
  let atMs = 0;
  let cores = 0;
  return {
    load(c: number) {
      cores = c;
    },
    advance(ms: number) {
      busyMs += ms * cores;
      atMs += ms;
      return atMs;
    },
    busyMs: () => busyMs,
  };
}

describe('ingest first', () => {
  it('lets passes run beside a steady load, and makes them wait while the rest of the server keeps the cores busy', () => {
    const s = server();
    const first = new IngestFirst(s.busyMs, options);
    // 10,000 messages a second: about a third of two cores.
    s.load(0.65);
    for (let i = 0; i < 20; i++) expect(first.passStarts(s.advance(250))).toBe('run');
    // A burst: more than 45 % of the cores, soon seen (the share is averaged with the one before).
    s.load(1.6);
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) seen.push(first.passStarts(s.advance(250)));
    expect(seen.slice(-2)).toEqual(['wait', 'wait']);
    // A pass that started before the burst stops between rounds.
    expect(first.roundWaits(s.advance(250))).toBe(true);
    // One quiet moment does not end the burst; the load falling back does.
    s.load(0.6);
    expect(first.passStarts(s.advance(250))).toBe('wait');
    s.load(0.2);
    const after: string[] = [];
    for (let i = 0; i < 4; i++) after.push(first.passStarts(s.advance(250)));
    expect(after.at(-1)).toBe('run');
  });

  it('never makes passes wait longer than maxWaitMs in a row: then one runs to its end', () => {
    const s = server();
    const first = new IngestFirst(s.busyMs, options);
    s.load(2);
    const starts: string[] = [];
    for (let ms = 0; ms <= 12_000; ms += 250) starts.push(first.passStarts(s.advance(250)));
    const ran = starts.indexOf('run to the end');
    expect(ran).toBeGreaterThan(0);
    expect(starts.slice(3, ran).every((x) => x === 'wait')).toBe(true);
    // About 10 s of waiting (40 looks a quarter second apart), then it waits again.
    expect(ran * 250).toBeGreaterThanOrEqual(10_000);
    expect(ran * 250).toBeLessThanOrEqual(11_000);
    expect(starts[ran + 1]).toBe('wait');
  });

  it("gives rounds the thread's whole time on a quiet server, and a quarter of it while the rest of the server works", () => {
    const s = server();
    const first = new IngestFirst(s.busyMs, options);
    // A restart's catch-up: the other threads barely move.
    s.load(0.05);
    for (let i = 0; i < 8; i++) expect(first.duty(s.advance(250))).toBe(1);
    // 10,000 messages a second (about a third of two cores): passes run, and share the cores.
    s.load(0.65);
    const duties: number[] = [];
    for (let i = 0; i < 8; i++) duties.push(first.duty(s.advance(250)));
    expect(duties.slice(-4)).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(first.passStarts(s.advance(250))).toBe('run');
    // A burst: the pass that runs to its end after waiting its longest shares the cores too.
    s.load(2);
    let start = first.passStarts(s.advance(250));
    while (start !== 'run to the end') start = first.passStarts(s.advance(250));
    expect(first.duty(s.advance(250))).toBe(0.25);
    // Quiet again: the whole time.
    s.load(0);
    const after: number[] = [];
    for (let i = 0; i < 8; i++) after.push(first.duty(s.advance(250)));
    expect(after.at(-1)).toBe(1);
  });

  it('lets passes run, at full speed, where the CPU time cannot be read', () => {
    const first = new IngestFirst(() => null, options);
    expect(first.passStarts(1000)).toBe('run');
    expect(first.roundWaits(2000)).toBe(false);
    expect(first.duty(3000)).toBe(1);
  });

  it("counts the CPU time of the process's other threads, not the calling thread's", async () => {
    // This thread works 300 ms of CPU time: the rest of the process barely moves.
    const before = restOfProcessCpuMs()!;
    const until = threadCpuMs()! + 300;
    while (threadCpuMs()! < until) for (let i = 0; i < 100_000; i++) Math.sqrt(i);
    const afterOwn = restOfProcessCpuMs()!;
    expect(afterOwn - before).toBeLessThan(150);
    // Another thread works 300 ms of CPU time: the rest of the process counts it.
    const worker = new Worker(
      `const { readFileSync } = require('node:fs');
         const own = () => { const s = readFileSync('/proc/thread-self/stat', 'latin1');
           const f = s.slice(s.lastIndexOf(')') + 2).split(' '); return Number(f[11]) + Number(f[12]); };
         const until = own() + 30;
         while (own() < until) for (let i = 0; i < 100000; i++) Math.sqrt(i);
         require('node:worker_threads').parentPort.postMessage('done');`,
      { eval: true },
    );
    let done = false;
    worker.once('message', () => {
      done = true;
    });
    await waitUntil('the other thread worked', () => done, 60_000);
    await worker.terminate();
    expect(restOfProcessCpuMs()! - afterOwn).toBeGreaterThanOrEqual(250);
  });

  describe('in a pass', () => {
    const cleanup: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const close of cleanup.splice(0).reverse()) await close();
    });
    const T0 = Date.UTC(2026, 5, 1, 8);
    /** A SQLite database with `n` vehicles, each with one stored sample at T0 that no pass has seen. */
    const vehiclesWithASample = async (n: number) => {
      const storage = await freshStorage('sqlite');
      cleanup.push(() => storage.drop());
      const writer = createSampleWriter(storage, { processors: [SESSIONS_PROCESSOR] });
      cleanup.push(() => writer.close());
      for (let v = 1; v <= n; v++) {
        const vehicleId = await insertVehicle(storage.db, testVin(v));
        await writer.write(
          packBatch({
            samples: [
              { vehicleId, tsMs: T0, seq: 0, receivedMs: T0, source: 'test', metrics: { speed_kmh: 0 } },
            ],
            deadLetters: [],
          }),
        );
      }
      return storage;
    };

    it('derives nothing while passes wait, stops between rounds when told, and goes on later', async () => {
      const storage = await vehiclesWithASample(3);
      let start: 'wait' | 'run' | 'run to the end' = 'wait';
      let roundsBeforeStop = Number.POSITIVE_INFINITY;
      const ingestFirst = {
        passStarts: () => start,
        roundWaits: () => roundsBeforeStop-- <= 1,
        duty: () => 1,
      } as unknown as IngestFirst;
      const passes = new LocalPasses(
        { storage, logger: { error() {}, warn() {} }, processors: [createSessionsProcessor()], ingestFirst },
        { chunk: 1000, duty: 1, groupCommit: true },
      );
      const progress = async () =>
        (await storage.db.selectFrom('processing_state').select('vehicle_id').execute()).length;
      const marks = async () =>
        (await storage.db.selectFrom('processing_marks').select('id').execute()).length;

      expect(await passes.pass(T0 + 60_000)).toMatchObject({ more: true, backlog: false });
      expect([await progress(), await marks()]).toEqual([0, 3]);

      start = 'run';
      roundsBeforeStop = 1;
      expect(await passes.pass(T0 + 60_000)).toMatchObject({ more: true, backlog: false });
      expect([await progress(), await marks()]).toEqual([1, 2]);

      roundsBeforeStop = Number.POSITIVE_INFINITY;
      expect(await passes.pass(T0 + 60_000)).toMatchObject({ more: false });
      expect([await progress(), await marks()]).toEqual([3, 0]);
    });

    it('rests after each round three times as long as the round took, at a duty of a quarter', async () => {
      const storage = await vehiclesWithASample(4);
      // Each fold takes at least 5 ms, so each round's rest (≥ 15 ms) is a timer, not a turn of the loop.
      const sessions = createSessionsProcessor();
      const folds: Array<{ startMs: number; endMs: number }> = [];
      const slow: typeof sessions = {
        ...sessions,
        fold: async (...args) => {
          const startMs = performance.now();
          while (performance.now() - startMs < 5);
          const out = await sessions.fold(...args);
          folds.push({ startMs, endMs: performance.now() });
          return out;
        },
      };
      const ingestFirst = { passStarts: () => 'run', roundWaits: () => false, duty: () => 0.25 };
      const passes = new LocalPasses(
        {
          storage,
          logger: { error() {}, warn() {} },
          processors: [slow as never],
          ingestFirst: ingestFirst as unknown as IngestFirst,
        },
        { chunk: 1000, duty: 1, groupCommit: true },
      );
      expect(await passes.pass(T0 + 60_000)).toMatchObject({ more: false });
      expect(folds).toHaveLength(4);
      for (let i = 1; i < folds.length; i++) {
        const fold = folds[i - 1]!.endMs - folds[i - 1]!.startMs;
        // The round around the fold took longer still, and a rest is a second at most (a timer may fire
        // up to a millisecond early).
        expect(folds[i]!.startMs - folds[i - 1]!.endMs).toBeGreaterThanOrEqual(Math.min(3 * fold, 1000) - 1);
      }
    });
  });
});
