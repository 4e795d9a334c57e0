import { Unavailable } from '../../lib/errors.js';

/** What a 503 for an ingest request that waited too long suggests to wait before sending again. */
export const COMMIT_WAIT_RETRY_AFTER_S = 5;

/**
 * Bounds how long an HTTP ingest request waits for its commit (TACHO_INGEST_TIMEOUT_MS): while PostgreSQL
 * is down or another process holds SQLite's write lock, the pipeline keeps retrying the batch, and the
 * request would wait as long. After `waitMs` it answers 503 with Retry-After instead. The messages stay
 * queued and may still be stored; a sender that tries again stores nothing twice (a sample's key is its
 * vehicle, time and sequence number).
 */
export async function untilCommitted<T>(work: Promise<T>, waitMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Unavailable(
            'the database did not store the messages in time; nothing was acknowledged, send them again',
            'ingest_timeout',
            { retryAfterS: COMMIT_WAIT_RETRY_AFTER_S },
          ),
        ),
      waitMs,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
