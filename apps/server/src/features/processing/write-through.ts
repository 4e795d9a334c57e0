import { BroadcastChannel } from 'node:worker_threads';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import type { Database, Db } from '../../db/index.js';
import type { Write } from './runner.js';

/**
 * The SQLite processing thread's writes, committed by the telemetry writer thread (decision 0032).
 *
 * Two connections writing one file take turns at SQLite's write lock, and the one that waits sleeps in
 * SQLite's busy handler (1, 2, 5, 10 … ms steps) however soon the lock is free: each commit of the
 * processing thread cost ingest's writer a sleep. Instead the processing thread records each round's
 * statements (a round's writes are blind: they never read) and posts them; the writer thread runs them
 * between its batches, each round under a savepoint of one transaction, and answers which failed. The
 * processing thread then never holds the write lock, so it can run at a low priority.
 *
 * Requests and answers travel on broadcast channels named after the file, like the committed batches
 * (decision 0029), so either thread restarting needs no re-wiring. The processing thread has one request
 * out at a time and waits for its answer: the writer runs requests in the order they came, so a round
 * never overtakes the one before it. A request the writer never answers (it died, and a new one said
 * hello; or no answer in `ANSWER_MS`) counts as contention: the marks are still there unless the writer
 * committed it, and a round done again writes the same rows.
 */

/** One statement of a recorded write, as it crosses to the writer thread. */
export interface RecordedQuery {
  readonly sql: string;
  readonly parameters: readonly unknown[];
}

export type WriteRequest =
  | { readonly kind: 'write'; readonly id: number; readonly rounds: ReadonlyArray<readonly RecordedQuery[]> }
  | { readonly kind: 'ping' };
export type WriteAnswer =
  | { readonly kind: 'written'; readonly id: number; readonly errors: ReadonlyArray<string | null> }
  | { readonly kind: 'busy'; readonly id: number }
  /** A writer thread is there (sent when it starts, and to each ping). */
  | { readonly kind: 'hello' };

const requestChannel = (file: string) => `tacho:processing-write:${file}`;
const answerChannel = (file: string) => `tacho:processing-written:${file}`;

/** How long a request may wait for its answer before it counts as lost. */
const ANSWER_MS = 60_000;
/** How long to wait for a writer thread's hello before writing on this thread's own connection. */
const HELLO_MS = 2000;

/** What the writer thread made of a request: per round, null or why it failed; or busy (nothing written). */
export type WriteOutcome = 'busy' | ReadonlyArray<string | null>;

/** The processing thread's side: records writes and hands them to the writer thread. */
export class WriteThrough {
  private readonly requests: BroadcastChannel;
  private readonly answers: BroadcastChannel;
  private readonly recorder = new QueryRecorder();
  private writer: 'unknown' | 'present' | 'absent' = 'unknown';
  private hello: (() => void) | null = null;
  private waiting: { id: number; done(outcome: WriteOutcome): void; timer: NodeJS.Timeout } | null = null;
  private nextId = 1;
  private closed = false;

  constructor(file: string) {
    this.requests = new BroadcastChannel(requestChannel(file));
    this.answers = new BroadcastChannel(answerChannel(file));
    this.requests.unref();
    this.answers.unref();
    this.answers.onmessage = (event) => this.answered((event as { data: WriteAnswer }).data);
  }

  /**
   * Whether a writer thread answers on this file; asked once, then known from its hellos. Without one
   * (a test's runner, a tool), the processing thread commits its writes itself.
   */
  async present(): Promise<boolean> {
    // Closed (the thread is stopping): what is left is not written, here or there.
    if (this.closed) return true;
    if (this.writer !== 'unknown') return this.writer === 'present';
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, HELLO_MS);
      this.hello = () => {
        clearTimeout(timer);
        resolve();
      };
      this.requests.postMessage({ kind: 'ping' } satisfies WriteRequest);
    });
    this.hello = null;
    // A hello may have come meanwhile (answered() sets it): TypeScript cannot see that.
    const found = this.writer as WriteThrough['writer'];
    if (found === 'unknown') this.writer = 'absent';
    return found === 'present';
  }

  /** The statements a write runs, in order; throws if it reads (a recorded write sees no results). */
  record(write: Write): Promise<RecordedQuery[]> {
    return this.recorder.record(write);
  }

  /** Hands recorded rounds to the writer thread; resolves once it committed them, or could not. */
  write(rounds: ReadonlyArray<readonly RecordedQuery[]>): Promise<WriteOutcome> {
    if (this.closed) return Promise.resolve('busy');
    if (this.waiting) throw new Error('one processing write at a time');
    const id = this.nextId++;
    return new Promise<WriteOutcome>((resolve) => {
      const timer = setTimeout(() => this.settle('busy'), ANSWER_MS);
      this.waiting = { id, done: resolve, timer };
      this.requests.postMessage({ kind: 'write', id, rounds } satisfies WriteRequest);
    });
  }

  close(): void {
    this.closed = true;
    this.settle('busy');
    this.requests.close();
    this.answers.close();
  }

  private answered(answer: WriteAnswer): void {
    if (answer.kind === 'hello') {
      // A writer thread that just started never got the request in flight, if there is one.
      this.writer = 'present';
      this.hello?.();
      this.settle('busy');
      return;
    }
    if (this.waiting?.id !== answer.id) return;
    this.settle(answer.kind === 'busy' ? 'busy' : answer.errors);
  }

  private settle(outcome: WriteOutcome): void {
    const waiting = this.waiting;
    if (!waiting) return;
    this.waiting = null;
    clearTimeout(waiting.timer);
    waiting.done(outcome);
  }
}

/**
 * A Kysely on SQLite that runs nothing: it keeps the statements it is asked to run. Writes that read
 * (a select, or `returning`) are refused, since they would see no rows here.
 */
class QueryRecorder {
  private target: RecordedQuery[] | null = null;
  private readonly db: Db;

  constructor() {
    const recorder = this;
    const connection: DatabaseConnection = {
      async executeQuery(query: CompiledQuery) {
        const node = query.query as { kind: string; returning?: unknown };
        if (node.kind === 'SelectQueryNode' || node.returning)
          throw new Error(`a processing write may not read: ${query.sql}`);
        if (!recorder.target) throw new Error('a processing write ran outside its recording');
        recorder.target.push({ sql: query.sql, parameters: [...query.parameters] });
        return { rows: [] };
      },
      // biome-ignore lint/correctness/useYield: nothing is ever streamed from a recorder
      async *streamQuery() {
        throw new Error('a processing write may not read');
      },
    };
    const driver: Driver = {
      init: async () => {},
      acquireConnection: async () => connection,
      beginTransaction: async () => {},
      commitTransaction: async () => {},
      rollbackTransaction: async () => {},
      releaseConnection: async () => {},
      destroy: async () => {},
    };
    this.db = new Kysely<Database>({
      dialect: {
        createAdapter: () => new SqliteAdapter(),
        createDriver: () => driver,
        createIntrospector: (db) => new SqliteIntrospector(db),
        createQueryCompiler: () => new SqliteQueryCompiler(),
      },
    });
  }

  async record(write: Write): Promise<RecordedQuery[]> {
    const target: RecordedQuery[] = [];
    this.target = target;
    try {
      await write(this.db);
    } finally {
      this.target = null;
    }
    return target;
  }
}

/**
 * The writer thread's side: answers pings and runs requests through `run`, which the writer thread puts
 * in its queue of jobs. Says hello when it starts.
 */
export function serveProcessingWrites(
  file: string,
  run: (rounds: ReadonlyArray<readonly RecordedQuery[]>) => Promise<WriteOutcome>,
): { close(): void } {
  const requests = new BroadcastChannel(requestChannel(file));
  const answers = new BroadcastChannel(answerChannel(file));
  requests.unref();
  answers.unref();
  const answer = (message: WriteAnswer) => answers.postMessage(message);
  requests.onmessage = (event) => {
    const request = (event as { data: WriteRequest }).data;
    if (request.kind === 'ping') return answer({ kind: 'hello' });
    void run(request.rounds).then(
      (outcome) =>
        answer(
          outcome === 'busy'
            ? { kind: 'busy', id: request.id }
            : { kind: 'written', id: request.id, errors: outcome },
        ),
      () => answer({ kind: 'busy', id: request.id }),
    );
  };
  answer({ kind: 'hello' });
  return {
    close() {
      requests.close();
      answers.close();
    },
  };
}

/**
 * Runs recorded rounds in one transaction, each under a savepoint: a round that fails is undone alone
 * and reported, the others commit. Busy when the write lock could not be had (nothing written).
 */
export async function runRecordedRounds(
  db: Kysely<Database>,
  rounds: ReadonlyArray<readonly RecordedQuery[]>,
): Promise<WriteOutcome> {
  try {
    return await db.transaction().execute(async (trx) => {
      const errors: Array<string | null> = [];
      for (const queries of rounds) {
        await trx.executeQuery(raw('savepoint round'));
        try {
          for (const q of queries) await trx.executeQuery(raw(q.sql, q.parameters));
          await trx.executeQuery(raw('release round'));
          errors.push(null);
        } catch (error) {
          if (isBusy(error)) throw error;
          await trx.executeQuery(raw('rollback to round'));
          await trx.executeQuery(raw('release round'));
          errors.push(error instanceof Error ? error.message : String(error));
        }
      }
      return errors;
    });
  } catch (error) {
    if (isBusy(error)) return 'busy';
    throw error;
  }
}

function raw(sql: string, parameters: readonly unknown[] = []): CompiledQuery {
  return CompiledQuery.raw(sql, [...parameters]);
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}
