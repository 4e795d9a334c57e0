import type { Kysely } from 'kysely';
import type { Database } from '../../db/index.js';

/** Reads of one vehicle's telemetry tables; callers have checked that the actor may read the vehicle. */
export class ReadingsRepo {
  constructor(private readonly db: Kysely<Database>) {}

  stateRows(vehicleId: string) {
    return this.db
      .selectFrom('vehicle_state')
      .select(['metric', 'value', 'ts_ms'])
      .where('vehicle_id', '=', vehicleId)
      .execute();
  }

  /** Time and metrics of the samples in [from, to), oldest first. */
  rawMetrics(vehicleId: string, fromMs: number, toMs: number) {
    return this.db
      .selectFrom('samples')
      .select(['ts_ms', 'metrics'])
      .where('vehicle_id', '=', vehicleId)
      .where('ts_ms', '>=', fromMs)
      .where('ts_ms', '<', toMs)
      .orderBy('ts_ms')
      .orderBy('seq')
      .execute();
  }

  /** A page of whole samples in [from, to) after the (ts, seq) cursor, oldest first. */
  page(
    vehicleId: string,
    fromMs: number,
    toMs: number,
    after: { ts: number; seq: number } | null,
    limit: number,
  ) {
    let query = this.db
      .selectFrom('samples')
      .select(['ts_ms', 'seq', 'metrics', 'lat', 'lon', 'alt_m', 'heading_deg', 'speed_kmh', 'accuracy_m'])
      .where('vehicle_id', '=', vehicleId)
      .where('ts_ms', '>=', fromMs)
      .where('ts_ms', '<', toMs);
    if (after) {
      query = query.where((eb) =>
        eb.or([eb('ts_ms', '>', after.ts), eb.and([eb('ts_ms', '=', after.ts), eb('seq', '>', after.seq)])]),
      );
    }
    return query.orderBy('ts_ms').orderBy('seq').limit(limit).execute();
  }

  rawKeys(vehicleId: string) {
    return this.db
      .selectFrom('raw_keys')
      .selectAll()
      .where('vehicle_id', '=', vehicleId)
      .orderBy('device_key')
      .execute();
  }

  /** Positions in [from, to), oldest first. */
  positions(vehicleId: string, fromMs: number, toMs: number) {
    return this.db
      .selectFrom('samples')
      .select(['ts_ms', 'lat', 'lon'])
      .where('vehicle_id', '=', vehicleId)
      .where('ts_ms', '>=', fromMs)
      .where('ts_ms', '<', toMs)
      .where('lat', 'is not', null)
      .where('lon', 'is not', null)
      .orderBy('ts_ms')
      .orderBy('seq')
      .execute();
  }
}
