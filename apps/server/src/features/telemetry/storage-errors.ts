import { VEHICLE_MISSING } from './sample-batch.js';

/**
 * Tells a database outage (retry until it is back) from a write the database refuses because of the data
 * (isolate that message). Anything not clearly about the data counts as an outage: retrying a bad write
 * forever stalls ingestion visibly (`/ready` goes down), whereas dropping a good one loses it silently.
 */
export function isTransientStorageError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return true;
  if (code === VEHICLE_MISSING) return false;
  // better-sqlite3: constraint violations, type mismatches, oversized values.
  if (/^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(code)) return false;
  // PostgreSQL SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation).
  if (/^2[23][0-9A-Z]{3}$/.test(code)) return false;
  return true;
}
