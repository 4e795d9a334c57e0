import type { Worker } from 'node:worker_threads';
import type { Logger } from '../../lib/logger.js';
import { startWorker } from '../../lib/worker.js';
import type { DetectorSettings } from '../sessions/detector.js';
import type { PassResult, PassSource } from './runner.js';

/** The processors a processing thread builds by name (a thread cannot be handed functions). */
export interface ProcessorSpec {
  readonly name: 'sessions' | 'alerts';
  readonly detector?: Partial<DetectorSettings>;
}

export interface ProcessingThreadData {
  readonly file: string;
  readonly processors: readonly ProcessorSpec[];
  readonly chunk?: number;
}

/** Messages to and from `processing.worker.ts`. */
export type ThreadRequest = { readonly id: number; readonly nowMs: number } | { readonly stop: true };
export type ThreadReply =
  | { readonly id: number; readonly result: PassResult }
  | { readonly id: number; readonly error: string }
  | { readonly log: { readonly level: 'error' | 'warn'; readonly obj: object; readonly msg: string } };

/**
 * Passes run in a worker thread with a SQLite connection of its own (decision 0017): each query of a
 * round runs synchronously, and on the main thread they took the event loop from ingest and sockets.
 * The thread starts on the first pass, and again on the next after it died (what it held fails; the
 * marks stay, so nothing is lost). Its log lines come back here.
 */
export class ThreadPasses implements PassSource {
  private worker: Worker | null = null;
  private readonly inFlight = new Map<number, { resolve(r: PassResult): void; reject(e: Error): void }>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly data: ProcessingThreadData,
    private readonly logger: Logger,
  ) {}

  pass(nowMs: number): Promise<PassResult> {
    if (this.closed) return Promise.resolve({ more: false, backlog: false, lags: [], failed: [] });
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<PassResult>((resolve, reject) => {
      this.inFlight.set(id, { resolve, reject });
      worker.postMessage({ id, nowMs } satisfies ThreadRequest);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    // The pass under way ends after its round; then the thread closes its connection and exits.
    worker.postMessage({ stop: true } satisfies ThreadRequest);
    await new Promise<void>((resolve) => {
      if (this.worker !== worker) return resolve();
      worker.once('exit', () => resolve());
    });
  }

  private start(): Worker {
    const worker = startWorker(new URL('./processing.worker.js', import.meta.url), { workerData: this.data });
    worker.unref();
    worker.on('message', (reply: ThreadReply) => {
      if ('log' in reply) {
        this.logger[reply.log.level](reply.log.obj, reply.log.msg);
        return;
      }
      const call = this.inFlight.get(reply.id);
      if (!call) return;
      this.inFlight.delete(reply.id);
      if ('result' in reply) call.resolve(reply.result);
      else call.reject(new Error(reply.error));
    });
    const lost = (error: Error) => {
      if (this.worker !== worker) return;
      this.worker = null;
      for (const call of this.inFlight.values()) call.reject(error);
      this.inFlight.clear();
    };
    worker.on('error', (error) => {
      this.logger.error({ err: error }, 'the processing thread failed');
      lost(new Error(`the processing thread failed: ${error.message}`));
    });
    worker.on('exit', (code) => lost(new Error(`the processing thread exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }
}
