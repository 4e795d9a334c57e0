/**
 * Whether an error says the database cannot serve right now — unreachable, restarting, out of
 * connections, or locked by another writer — so the request may succeed later (HTTP answers 503 with
 * Retry-After), as opposed to a bug or a refusal of the data (500, 4xx). Only errors recognised as such
 * count: an unknown error stays a 500, so a bug is never disguised as an outage.
 */
export function isStorageUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (isUnavailableItself(e)) return true;
    // Node reports a refused connection to a name with several addresses as an AggregateError.
    if (e instanceof AggregateError && e.errors.some(isUnavailableItself)) return true;
  }
  return false;
}

// better-sqlite3: another connection holds the lock (SQLITE_BUSY after the busy timeout, SQLITE_LOCKED),
// or the file cannot be read, written or opened (I/O error, disk full).
const SQLITE_CODES = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL)(_|$)/;

// Node's socket errors on the way to PostgreSQL.
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

// PostgreSQL SQLSTATEs: class 08 (connection exception), 53 (insufficient resources: too many
// connections, disk full, out of memory), 57P01-57P03 (shutting down, crashed, starting up), 57014 (a
// statement timeout), 40001 and 40P01 (serialization failure, deadlock: retrying succeeds), 55P03 (lock not
// available), 58000 and 58030 (system and I/O errors).
const PG_CODES = /^(08[0-9A-Z]{3}|53[0-9A-Z]{3}|57P0[123]|57014|40001|40P01|55P03|58000|58030)$/;

// node-postgres's own errors for a lost or unobtainable connection carry no code, only these messages.
const PG_MESSAGES = [
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Query read timeout',
];

function isUnavailableItself(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (SQLITE_CODES.test(code) || SOCKET_CODES.has(code) || PG_CODES.test(code)) return true;
  }
  return typeof message === 'string' && PG_MESSAGES.some((m) => message.startsWith(m));
}
