import { describe, expect, it } from 'vitest';
import { isStorageUnavailable } from './storage-unavailable.js';

const coded = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isStorageUnavailable: outages are 503, everything else keeps its own answer', () => {
  it.each([
    ['SQLite busy (another process holds the lock)', coded('SQLITE_BUSY')],
    ['SQLite busy snapshot', coded('SQLITE_BUSY_SNAPSHOT')],
    ['SQLite disk full', coded('SQLITE_FULL')],
    ['SQLite I/O error', coded('SQLITE_IOERR_FSYNC')],
    ['PostgreSQL refused', coded('ECONNREFUSED')],
    ['PostgreSQL shutting down', coded('57P01')],
    ['too many connections', coded('53300')],
    ['connection failure', coded('08006')],
    ['a lost connection (no code)', new Error('Connection terminated unexpectedly')],
    ['the pool could not connect in time', new Error('timeout exceeded when trying to connect')],
    ['wrapped', new Error('query failed', { cause: coded('ECONNRESET') })],
    ['several addresses refused', new AggregateError([coded('ECONNREFUSED'), coded('ECONNREFUSED')])],
  ])('%s: unavailable', (_what, error) => {
    expect(isStorageUnavailable(error)).toBe(true);
  });

  it.each([
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['a constraint violation (SQLite)', coded('SQLITE_CONSTRAINT_UNIQUE')],
    ['a unique violation (PostgreSQL)', coded('23505')],
    ['a data exception (PostgreSQL)', coded('22P02')],
    ['a syntax error (PostgreSQL)', coded('42601')],
    ['nothing at all', undefined],
  ])('%s: not unavailable', (_what, error) => {
    expect(isStorageUnavailable(error)).toBe(false);
  });
});
