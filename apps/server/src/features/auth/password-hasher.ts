import { Unavailable } from '../../lib/errors.js';
import { hashPassword, verifyPassword } from './passwords.js';

export interface PasswordHasherLimits {
  /** argon2 runs at once; each takes a core for ~20 ms and 19 MiB of memory. */
  concurrency: number;
  /** Runs allowed to wait for a free slot; beyond them a request is refused at once with 503 `busy`. */
  queue: number;
}

/**
 * Every argon2 hash and verification of the server goes through here, so a flood of logins (or
 * sign-ups) costs at most `concurrency` cores and a bounded wait, and never the CPU and memory that
 * telemetry ingest and every other request need. More than `queue` waiting runs are refused with 503
 * and Retry-After rather than queued without bound (decision 0014).
 */
export class PasswordHasher {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  /** Moving average of one run's duration, for the Retry-After of a refusal. */
  private averageMs = 20;

  constructor(private readonly limits: PasswordHasherLimits) {}

  /** Throws what a run asked for now would throw when full, so callers skip their other work for it. */
  refuseWhenFull(): void {
    if (this.running >= this.limits.concurrency && this.waiting.length >= this.limits.queue)
      throw this.busy();
  }

  hash(password: string): Promise<string> {
    return this.run(() => hashPassword(password));
  }

  verify(phc: string, password: string): Promise<boolean> {
    return this.run(() => verifyPassword(phc, password));
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running < this.limits.concurrency) {
      this.running += 1;
    } else {
      if (this.waiting.length >= this.limits.queue) throw this.busy();
      // The slot is handed over by the run that finishes (see `done`), so `running` stays counted.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.averageMs = 0.9 * this.averageMs + 0.1 * (performance.now() - started);
      this.done();
    }
  }

  private done(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running -= 1;
  }

  private busy(): Unavailable {
    // Roughly when the queue will have drained; at least a second.
    const drainMs = ((this.waiting.length + this.running) / this.limits.concurrency) * this.averageMs;
    return new Unavailable('the server is busy checking passwords: try again shortly', 'busy', {
      retryAfterS: Math.max(1, Math.ceil(drainMs / 1000)),
    });
  }
}
