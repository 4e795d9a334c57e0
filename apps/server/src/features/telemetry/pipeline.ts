import type { Registry } from 'prom-client';
import type { Storage } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import { Unavailable } from '../../lib/errors.js';
import type { EventBus } from '../../lib/events.js';
import type { Logger } from '../../lib/logger.js';
import { errorText } from '../../lib/safe-text.js';
import { expandObd, hasObdFields } from '../formats/obd.js';
import {
  describeRawKeys,
  type IngestResult,
  type IngestSource,
  payloadText,
  sampleText,
  toStored,
} from './batch-rows.js';
import { DeadLetterRetention } from './dead-letter-retention.js';
import type { DeadLetterLimits } from './dead-letters.repo.js';
import { packNativeBody } from './fast-native.js';
import { createIngestMetrics, type IngestMetrics } from './ingest-metrics.js';
import { oversizedMessages } from './message-size.js';
import {
  FOLD_FROM_SAMPLES_PER_VEHICLE,
  type PackedSamples,
  packSamples,
  unpackSamples,
} from './packed-batch.js';
import type { BatchSample } from './sample-batch.js';
import { createSampleWriter, type SampleWriter } from './sample-writer.js';
import { isTransientStorageError } from './storage-errors.js';
import { StoredEvents } from './stored-event.js';
import type { DeadLetterRow } from './telemetry.repo.js';
import { decodeNativePayload, isRejection, type Rejection, validateMessage } from './validate.js';

export interface PipelineOptions {
  /** A batch is written as soon as it holds this many rows… */
  batchRows: number;
  /** …or this long after its oldest message arrived, whichever comes first. */
  flushMs: number;
  /** Rows allowed to wait in memory; beyond it producers wait (MQTT stops reading, HTTP waits). */
  maxQueuedRows: number;
  /** How long and how much refused telemetry is kept; the oldest goes first (dead-letter-retention.ts). */
  deadLetterLimits: DeadLetterLimits;
  maxPayloadBytes: number;
  /** After-commit processors: each batch leaves each of them a mark per vehicle it stored samples of. */
  processors: readonly string[];
}

export const defaultPipelineOptions: PipelineOptions = {
  batchRows: 5000,
  flushMs: 4,
  maxQueuedRows: 20_000,
  deadLetterLimits: { maxAgeMs: 30 * 86_400_000, maxBytes: 256 * 1024 * 1024 },
  maxPayloadBytes: 262_144,
  processors: [],
};

/** One ingest call waiting for its commit: one vehicle's samples, and dead letters. */
interface Pending {
  /** Its samples: as objects when few, or packed as they arrived (see `PACK_ON_ARRIVAL_FROM`). */
  readonly samples: readonly BatchSample[] | PackedSamples;
  readonly deadLetters: DeadLetterRow[];
  readonly weight: number;
  readonly enqueuedMs: number;
  readonly resolve: (counts: { stored: number; duplicates: number }) => void;
  readonly reject: (error: Error) => void;
}

const MAX_BACKOFF_MS = 2000;

/**
 * Samples of one payload from which they are packed, and folded, as soon as they are validated: a large
 * payload's parsed objects then die young instead of living until the commit (which made the garbage
 * collector copy them, ~2 µs per sample on the main thread), and the live view takes their fold.
 */
const PACK_ON_ARRIVAL_FROM = FOLD_FROM_SAMPLES_PER_VEHICLE;

/** Bodies from this size may hold the 100 messages the fast path takes (~300 bytes each, ≥ 30 bytes). */
const FAST_PATH_FROM_BYTES = 3000;

export type { IngestResult, IngestSource, StoredSample } from './batch-rows.js';

/**
 * The ingestion pipeline: validate → de-duplicate → batch → one transaction per batch → settle each
 * caller's promise after commit (the transport acknowledges then) → emit `samples.stored`.
 *
 * A single writer drains the queue, so SQLite never sees two writers; the SQLite writer thread holds a
 * second batch while it commits one, and commits them in arrival order. When the database fails, a batch
 * is retried with backoff until it commits: nothing is acknowledged meanwhile, the queue stops growing at
 * `maxQueuedRows`, and `/ready` reports the pipeline down.
 */
export class IngestPipeline {
  private readonly options: PipelineOptions;
  private queue: Pending[] = [];
  private queuedRows = 0;
  private waiters: Array<() => void> = [];
  private timer: NodeJS.Timeout | null = null;
  /** Batches handed to the writer and not settled yet, and their rows (in `queuedRows` too until then). */
  private inFlight = 0;
  private inFlightRows = 0;
  /** When each write now waiting for the database started (for `/ready`; not counting retry backoff). */
  private readonly writesStartedMs = new Set<{ ms: number }>();
  private closed = false;
  private failingSinceMs: number | null = null;
  private readonly metrics: IngestMetrics;
  private readonly writer: SampleWriter;
  /** Keeps the dead letters within `deadLetterLimits`, off the batches' path; `run()` prunes now. */
  readonly deadLetterRetention: DeadLetterRetention;

  constructor(
    private readonly deps: {
      storage: Storage;
      clock: Clock;
      events: EventBus;
      logger: Logger;
      registry: Registry;
    },
    options: Partial<PipelineOptions> = {},
  ) {
    this.options = { ...defaultPipelineOptions, ...options };
    this.metrics = createIngestMetrics(deps.registry, () => this.queuedRows);
    this.writer = createSampleWriter(deps.storage, { processors: this.options.processors });
    this.deadLetterRetention = new DeadLetterRetention(
      { prune: (limits, nowMs) => this.writer.prune(limits, nowMs), ...deps },
      this.options.deadLetterLimits,
    );
  }

  /**
   * Decodes a native-format payload (one message or an array) and ingests it; `maxBytes` is the size
   * limit (an HTTP body may be larger than one MQTT message). A large body that is all valid takes the
   * fast path (fast-native.ts), read straight into its packed columns.
   */
  ingestPayload(
    source: IngestSource,
    payload: Buffer | string,
    maxBytes = this.options.maxPayloadBytes,
  ): Promise<IngestResult> {
    const messageBytes = this.options.maxPayloadBytes;
    if (typeof payload !== 'string' && payload.length >= FAST_PATH_FROM_BYTES && payload.length <= maxBytes) {
      const now = this.deps.clock.now();
      const packed = packNativeBody(payload, source.vehicleId, source.source, now, messageBytes);
      if (packed) return this.enqueue(packed, []).then((counts) => ({ ...counts, rejected: [] }));
    }
    const decoded = decodeNativePayload(payload, maxBytes);
    if (!decoded.ok) return this.rejectPayload(source, decoded.rejection, payload);
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
    // A payload larger than one message may hold several, each within the limit (decision 0012).
    const refused = bytes.length > messageBytes ? tooLarge(bytes, messageBytes) : undefined;
    return this.ingest(source, decoded.messages, undefined, refused);
  }

  /**
   * Ingests decoded messages (native shape); `decodeFailures` are what a format decoder could not read,
   * `refused` the messages refused before parsing (by index, in order). Resolves after the batch holding
   * them has committed: valid ones stored (or recognised as duplicates), invalid ones kept as dead
   * letters. Never throws, and never rejects for bad input (or for a message whose handling throws);
   * rejects with Unavailable only when the pipeline is closed.
   */
  ingest(
    source: IngestSource,
    input: readonly unknown[],
    decodeFailures: readonly DecodeFailure[] = NONE,
    refused: readonly RefusedMessage[] = NONE,
  ): Promise<IngestResult> {
    // Not an async function: an async one keeps its locals (every parsed message) alive until the
    // commit, and the garbage collector would copy them; here only the packed samples and `rejected`
    // outlive this call.
    const nowMs = this.deps.clock.now();
    const samples: BatchSample[] = [];
    // Elements a source-format decoder could not read are kept with the rest, in the same transaction.
    const deadLetters: DeadLetterRow[] = decodeFailures.map((f) =>
      this.deadLetterRow(source, { code: f.code ?? 'decode_failed', reason: f.reason }, f.payload, nowMs),
    );
    const rejected: IngestResult['rejected'] = [];
    let nextRefused = 0;
    // One guard around the loop, not one per message (the hot path): a message whose handling throws (a
    // bug) becomes a dead letter of its own and the loop goes on after it (decision 0012).
    for (let index = 0; index < input.length; index++) {
      try {
        for (; index < input.length; index++) {
          let message = input[index];
          if (nextRefused < refused.length && refused[nextRefused]!.index === index) {
            const { rejection, payload } = refused[nextRefused++]!;
            rejected.push({ index, code: rejection.code, reason: rejection.reason });
            deadLetters.push(this.deadLetterRow(source, rejection, payload, nowMs));
            continue;
          }
          // Native messages may carry OBD-II responses (`obd`, `dtc`): decoded into metrics and raw keys.
          if (hasObdFields(message)) {
            const expanded = expandObd(message);
            message = expanded.message;
            for (const f of expanded.deadLetters) {
              const rejection = { code: 'decode_failed', reason: f.reason } as const;
              deadLetters.push(this.deadLetterRow(source, rejection, f.payload, nowMs));
            }
          }
          const result = validateMessage(message, nowMs);
          if (isRejection(result)) {
            rejected.push({ index, code: result.code, reason: result.reason });
            deadLetters.push(this.deadLetterRow(source, result, message, nowMs));
          } else {
            const sample = toStored(source, result, nowMs);
            const rawInfo = describeRawKeys(sample, source.describeRawKey);
            samples.push(rawInfo ? { ...sample, rawInfo } : sample);
          }
        }
      } catch (error) {
        const rejection = { code: 'internal', reason: `internal: ${errorText(error)}` } as const;
        this.deps.logger.error(
          { err: error, index },
          'telemetry message could not be handled; dead-lettered',
        );
        rejected.push({ index, ...rejection });
        deadLetters.push(this.deadLetterRow(source, rejection, input[index], nowMs));
      }
    }
    return this.enqueue(
      samples.length >= PACK_ON_ARRIVAL_FROM ? packSamples(samples) : samples,
      deadLetters,
    ).then((counts) => ({ ...counts, rejected }));
  }

  /** Keeps a payload that could not even be attributed or decoded (unknown VIN, bad JSON, too large). */
  async rejectPayload(
    source: Omit<IngestSource, 'vehicleId'> & { vehicleId: string | null },
    rejection: Rejection,
    payload: unknown,
  ): Promise<IngestResult> {
    const row = this.deadLetterRow(source, rejection, payload, this.deps.clock.now());
    await this.enqueue([], [row]);
    return { stored: 0, duplicates: 0, rejected: [{ index: 0, ...rejection }] };
  }

  /** For `/ready`: down while batches fail or one has been stuck for more than 5 s. */
  isHealthy(): boolean {
    if (this.failingSinceMs !== null) return false;
    const now = Date.now();
    for (const started of this.writesStartedMs) if (now - started.ms >= 5000) return false;
    return true;
  }

  /**
   * Resolves once `vehicle_state` and the rollups include every batch committed so far (the SQLite writer
   * thread writes them up to a second later): read them after this. Never rejects.
   */
  flushDerived(): Promise<void> {
    return this.writer.flushDerived();
  }

  get queued(): number {
    return this.queuedRows;
  }

  /** The largest message, whatever the transport (TACHO_MAX_PAYLOAD_BYTES; decision 0012). */
  get maxMessageBytes(): number {
    return this.options.maxPayloadBytes;
  }

  /**
   * Stops taking new messages, writes what is queued (retrying for at most `timeoutMs`), then fails the
   * rest: their senders were never acknowledged and will send again.
   */
  async close(timeoutMs = 5000): Promise<void> {
    this.closed = true;
    for (const wake of this.waiters.splice(0)) wake();
    const deadline = Date.now() + timeoutMs;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    void this.drain();
    while ((this.inFlight > 0 || this.queue.length > 0) && Date.now() < deadline) {
      await sleep(10);
    }
    for (const p of this.queue.splice(0)) p.reject(new Unavailable('the server is shutting down'));
    this.queuedRows = 0;
    await this.deadLetterRetention.close();
    await this.writer.close();
  }

  private deadLetterRow(
    source: { source: string; topic: string; vehicleId: string | null },
    rejection: Rejection,
    payload: unknown,
    nowMs: number,
  ): DeadLetterRow {
    this.metrics.deadLetters.inc({ reason: rejection.code });
    return {
      source: source.source,
      topic: source.topic,
      vehicle_id: source.vehicleId,
      // Reasons quote the input (a JSON parser's message shows the bad character); PostgreSQL text refuses
      // NUL, and a dead letter that cannot be stored would be lost.
      reason: rejection.reason.replaceAll('\0', '\uFFFD').slice(0, 1000),
      payload: payloadText(payload),
      received_ms: nowMs,
    };
  }

  private async enqueue(
    samples: Pending['samples'],
    deadLetters: DeadLetterRow[],
  ): Promise<{ stored: number; duplicates: number }> {
    const weight = countOf(samples) + deadLetters.length;
    if (weight === 0) return { stored: 0, duplicates: 0 };
    // Back-pressure: wait for room instead of growing without bound. A payload larger than the whole
    // queue still gets in once the queue is empty.
    while (!this.closed && this.queuedRows > 0 && this.queuedRows + weight > this.options.maxQueuedRows) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.closed) throw new Unavailable('the server is shutting down');
    return new Promise((resolve, reject) => {
      this.queue.push({
        samples,
        deadLetters,
        weight,
        enqueuedMs: Date.now(),
        resolve,
        reject,
      });
      this.queuedRows += weight;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.queue.length === 0 || this.inFlight >= this.writer.maxInFlight) return;
    if (this.queuedRows - this.inFlightRows >= this.options.batchRows || this.closed) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      void this.drain();
      return;
    }
    if (this.timer) return;
    const oldest = this.queue[0]?.enqueuedMs ?? Date.now();
    const wait = Math.max(0, this.options.flushMs - (Date.now() - oldest));
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.drain();
    }, wait);
  }

  /**
   * Hands the next batch to the writer. The SQLite writer thread takes a second batch while it commits
   * the first, so the main thread prepares one while the other is written; its batches still commit one
   * after the other, in the order they came.
   */
  private async drain(): Promise<void> {
    if (this.queue.length === 0 || this.inFlight >= this.writer.maxInFlight) return;
    const batch = this.takeBatch();
    let rows = 0;
    for (const p of batch) rows += p.weight;
    this.inFlight++;
    this.inFlightRows += rows;
    // A full batch may already be waiting for the next place.
    this.schedule();
    try {
      await this.writeWithRetry(batch);
    } finally {
      this.inFlight--;
      this.inFlightRows -= rows;
      this.queuedRows -= rows;
      for (const wake of this.waiters.splice(0)) wake();
      this.schedule();
    }
  }

  private takeBatch(): Pending[] {
    let rows = 0;
    let count = 0;
    for (const next of this.queue) {
      if (count > 0 && rows + next.weight > this.options.batchRows) break;
      rows += next.weight;
      count++;
    }
    // One splice, not a shift per item: the queue can hold thousands of single messages.
    return this.queue.splice(0, count);
  }

  private async writeWithRetry(batch: Pending[]): Promise<void> {
    let backoffMs = 50;
    for (;;) {
      const started = { ms: Date.now() };
      this.writesStartedMs.add(started);
      try {
        const results = await this.writeBatch(batch);
        this.writesStartedMs.delete(started);
        if (this.failingSinceMs !== null) {
          this.deps.logger.info({ downMs: Date.now() - this.failingSinceMs }, 'telemetry writes recovered');
          this.failingSinceMs = null;
        }
        const now = Date.now();
        for (const [i, p] of batch.entries()) {
          this.metrics.commitWait.observe((now - p.enqueuedMs) / 1000);
          p.resolve(results[i]!);
        }
        return;
      } catch (error) {
        this.writesStartedMs.delete(started);
        this.metrics.failures.inc();
        if (!isTransientStorageError(error)) {
          // The data, not the database, is at fault (e.g. the vehicle was deleted meanwhile): isolate the
          // message responsible and keep it as a dead letter instead of blocking everyone behind it.
          if (batch.length > 1) {
            for (const p of batch) await this.writeWithRetry([p]);
            return;
          }
          const p = batch[0]!;
          if (countOf(p.samples) > 0) {
            this.deps.logger.warn({ err: error }, 'telemetry message could not be stored; dead-lettered');
            const dead: Pending = {
              ...p,
              samples: [],
              deadLetters: [
                ...p.deadLetters,
                ...samplesOf(p.samples).map((s) =>
                  this.deadLetterRow(
                    { source: s.source, topic: 'store', vehicleId: null },
                    { code: 'not_stored', reason: `not stored: ${(error as Error).message}`.slice(0, 500) },
                    sampleText(s),
                    s.receivedMs,
                  ),
                ),
              ],
              resolve: () => p.resolve({ stored: 0, duplicates: 0 }),
            };
            await this.writeWithRetry([dead]);
            return;
          }
          this.deps.logger.error({ err: error }, 'dead letters could not be stored; dropped');
          p.resolve({ stored: 0, duplicates: 0 });
          return;
        }
        if (this.failingSinceMs === null) {
          this.failingSinceMs = Date.now();
          this.deps.logger.error(
            { err: error },
            'telemetry writes failing; retrying, nothing is acknowledged',
          );
        }
        if (this.closed) {
          for (const p of batch) p.reject(new Unavailable('the database is unavailable'));
          return;
        }
        await sleep(backoffMs);
        backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2);
      }
    }
  }

  /** One transaction for the whole batch; returns each caller's counts. */
  private async writeBatch(batch: Pending[]): Promise<Array<{ stored: number; duplicates: number }>> {
    const started = performance.now();
    // Packed payloads cross as they are; the samples of the others, one part for each run of them.
    const parts: PackedSamples[] = [];
    let loose: BatchSample[] = [];
    for (const p of batch) {
      if (isPacked(p.samples)) {
        if (loose.length > 0) parts.push(packSamples(loose));
        loose = [];
        parts.push(p.samples);
      } else {
        for (const s of p.samples) loose.push(s);
      }
    }
    if (loose.length > 0) parts.push(packSamples(loose));
    const inserted = await this.writer.write({
      parts,
      deadLetters: batch.flatMap((p) => p.deadLetters),
    });
    this.metrics.batch.observe((performance.now() - started) / 1000);

    // `inserted` follows the samples in the order they came: each message's run starts where the
    // previous one ended.
    const events = new StoredEvents();
    let at = 0;
    let storedInAll = 0;
    const results = batch.map((p) => {
      const count = countOf(p.samples);
      const from = at;
      at += count;
      let stored = 0;
      for (let i = from; i < at; i++) if (inserted[i]) stored++;
      storedInAll += stored;
      if (stored === 0) return { stored, duplicates: count };
      const samples = p.samples;
      if (isPacked(samples) && samples.folded && stored === count) {
        events.addPacked(samples, samples.folded);
      } else {
        const all = samplesOf(samples);
        events.addSamples(stored === count ? all : all.filter((_, i) => inserted[from + i]));
      }
      return { stored, duplicates: count - stored };
    });
    this.metrics.messages.inc({ outcome: 'stored' }, storedInAll);
    this.metrics.messages.inc({ outcome: 'duplicate' }, at - storedInAll);
    for (const event of events.events()) this.deps.events.emit('samples.stored', event);
    return results;
  }
}

/** An element a source-format decoder could not read, or refused (too large); `decode_failed` by default. */
export interface DecodeFailure {
  readonly reason: string;
  readonly payload: string;
  readonly code?: 'decode_failed' | 'too_large' | 'internal';
}

/** A message refused before it was parsed (larger than the per-message limit), by its index. */
export interface RefusedMessage {
  readonly index: number;
  readonly rejection: Rejection;
  readonly payload: Buffer;
}

/** No decode failures, no refused messages: one array for every call that has none (the hot path). */
const NONE: readonly never[] = Object.freeze([]);

/** The messages of a payload larger than one message that exceed the per-message limit. */
function tooLarge(bytes: Buffer, limit: number): RefusedMessage[] {
  return oversizedMessages(bytes, limit).map(({ index, size, from }) => ({
    index,
    rejection: { code: 'too_large', reason: `message ${index} is ${size} bytes, the limit is ${limit}` },
    payload: bytes.subarray(from, from + 4096),
  }));
}

function isPacked(samples: Pending['samples']): samples is PackedSamples {
  return !Array.isArray(samples);
}

function countOf(samples: Pending['samples']): number {
  return isPacked(samples) ? samples.count : samples.length;
}

/** A pending message's samples as objects (read back from its columns if it was packed). */
function samplesOf(samples: Pending['samples']): readonly BatchSample[] {
  return isPacked(samples) ? unpackSamples(samples) : samples;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
