import type { DeadLetterPage } from '@tacho/protocol';
import type { Kysely, Transaction } from 'kysely';
import { ChunkedStatement } from '../../db/chunked-statement.js';
import type { Database, Db, SamplesTable } from '../../db/index.js';

export type { DeadLetterPage };

/** What the writer stores for one accepted message: a `samples` row. */
export type SampleRow = SamplesTable;

export interface StateRow {
  vehicle_id: string;
  metric: string;
  value: string;
  ts_ms: number;
  seq: number;
}

export interface RawKeyRow {
  vehicle_id: string;
  device_key: string;
  value: string;
  ts_ms: number;
  canonical_key: string | null;
  unit: string | null;
}

export interface DeadLetterRow {
  source: string;
  topic: string;
  vehicle_id: string | null;
  reason: string;
  payload: string;
  received_ms: number;
}

export type Trx = Transaction<Database> | Kysely<Database>;

/** The de-duplication key of a sample. */
export function sampleKey(vehicleId: string, tsMs: number, seq: number): string {
  return `${vehicleId}\u0000${tsMs}\u0000${seq}`;
}

export const SAMPLE_COLUMNS = [
  'vehicle_id',
  'ts_ms',
  'seq',
  'received_ms',
  'source',
  'metrics',
  'lat',
  'lon',
  'alt_m',
  'heading_deg',
  'speed_kmh',
  'accuracy_m',
] as const satisfies ReadonlyArray<keyof SampleRow>;

const samplesInsert = new ChunkedStatement<SampleRow>('samples insert', SAMPLE_COLUMNS, (db, rows) => {
  const placeholder: SampleRow = {
    vehicle_id: '',
    ts_ms: 0,
    seq: 0,
    received_ms: 0,
    source: '',
    metrics: '',
    lat: 0,
    lon: 0,
    alt_m: 0,
    heading_deg: 0,
    speed_kmh: 0,
    accuracy_m: 0,
  };
  return db
    .insertInto('samples')
    .values(Array.from({ length: rows }, () => placeholder))
    .onConflict((oc) => oc.columns(['vehicle_id', 'ts_ms', 'seq']).doNothing())
    .returning(['vehicle_id', 'ts_ms', 'seq']);
});

/**
 * Inserts samples, skipping those already stored (same vehicle, ts, seq). Returns the keys actually
 * inserted: `on conflict do nothing returning` reports exactly the new rows on both engines.
 */
export async function insertSamples(trx: Trx, rows: readonly SampleRow[]): Promise<Set<string>> {
  const inserted = await samplesInsert.run<{ vehicle_id: string; ts_ms: number; seq: number }>(trx, rows);
  return new Set(inserted.map((r) => sampleKey(r.vehicle_id, Number(r.ts_ms), Number(r.seq))));
}

const STATE_COLUMNS = ['vehicle_id', 'metric', 'value', 'ts_ms', 'seq'] as const satisfies ReadonlyArray<
  keyof StateRow
>;

const stateUpsert = new ChunkedStatement<StateRow>('vehicle state upsert', STATE_COLUMNS, (db, rows) => {
  const placeholder: StateRow = { vehicle_id: '', metric: '', value: '', ts_ms: 0, seq: 0 };
  return db
    .insertInto('vehicle_state')
    .values(Array.from({ length: rows }, () => placeholder))
    .onConflict((oc) =>
      oc
        .columns(['vehicle_id', 'metric'])
        .doUpdateSet((eb) => ({
          value: eb.ref('excluded.value'),
          ts_ms: eb.ref('excluded.ts_ms'),
          seq: eb.ref('excluded.seq'),
        }))
        // `replacesNewest` (batch-rows.ts): a later device time, or the same time and a seq as high.
        .where((eb) =>
          eb.or([
            eb('vehicle_state.ts_ms', '<', eb.ref('excluded.ts_ms')),
            eb.and([
              eb('vehicle_state.ts_ms', '=', eb.ref('excluded.ts_ms')),
              eb('vehicle_state.seq', '<=', eb.ref('excluded.seq')),
            ]),
          ]),
        ),
    );
});

/**
 * Upserts the latest value of each metric, keeping the stored one when it is newer by `replacesNewest` (a
 * late, out-of-order message must not overwrite the current state). Each (vehicle, metric) must appear once.
 */
export async function upsertVehicleState(trx: Trx, rows: readonly StateRow[]): Promise<void> {
  await stateUpsert.run(trx, rows);
}

// 7 columns × 1,000 rows stays well below both engines' limit on bound parameters.
const RAW_KEY_CHUNK_ROWS = 1000;

/**
 * Upserts the deep scan: every device key with its last value, first and last seen (device time). Each
 * (vehicle, device key) must appear once.
 */
export async function upsertRawKeys(trx: Trx, rows: readonly RawKeyRow[]): Promise<void> {
  const values = rows.map((r) => ({
    vehicle_id: r.vehicle_id,
    device_key: r.device_key,
    value: r.value,
    first_seen_ms: r.ts_ms,
    last_seen_ms: r.ts_ms,
    canonical_key: r.canonical_key,
    unit: r.unit,
  }));
  for (let i = 0; i < values.length; i += RAW_KEY_CHUNK_ROWS) {
    await trx
      .insertInto('raw_keys')
      .values(values.slice(i, i + RAW_KEY_CHUNK_ROWS))
      .onConflict((oc) =>
        oc.columns(['vehicle_id', 'device_key']).doUpdateSet((eb) => {
          const newer = eb('excluded.last_seen_ms', '>=', eb.ref('raw_keys.last_seen_ms'));
          return {
            value: eb.case().when(newer).then(eb.ref('excluded.value')).else(eb.ref('raw_keys.value')).end(),
            last_seen_ms: eb
              .case()
              .when(newer)
              .then(eb.ref('excluded.last_seen_ms'))
              .else(eb.ref('raw_keys.last_seen_ms'))
              .end(),
            first_seen_ms: eb
              .case()
              .when('excluded.first_seen_ms', '<', eb.ref('raw_keys.first_seen_ms'))
              .then(eb.ref('excluded.first_seen_ms'))
              .else(eb.ref('raw_keys.first_seen_ms'))
              .end(),
            canonical_key: eb.fn.coalesce('excluded.canonical_key', 'raw_keys.canonical_key'),
            unit: eb.fn.coalesce('excluded.unit', 'raw_keys.unit'),
          };
        }),
      )
      .execute();
  }
}

/** Newest first, keyset-paginated by id. */
export async function listDeadLetters(
  db: Db,
  options: { limit: number; before?: number },
): Promise<DeadLetterPage> {
  let query = db
    .selectFrom('dead_letters')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(options.limit + 1);
  if (options.before !== undefined) query = query.where('id', '<', options.before);
  const rows = await query.execute();
  const more = rows.length > options.limit;
  const page = rows.slice(0, options.limit);
  return {
    items: page.map((r) => ({
      id: Number(r.id),
      source: r.source,
      topic: r.topic,
      vehicleId: r.vehicle_id,
      reason: r.reason,
      payload: r.payload,
      receivedMs: Number(r.received_ms),
    })),
    nextBefore: more ? Number(page[page.length - 1]?.id) : null,
  };
}

/** Vehicle ids per `in (…)` list: well below both engines' limit on bound parameters. */
const ID_CHUNK = 500;

/** Which of these vehicle ids still name a vehicle. */
export async function existingVehicleIds(trx: Trx, ids: Iterable<string>): Promise<Set<string>> {
  const wanted = [...ids];
  const existing = new Set<string>();
  for (let i = 0; i < wanted.length; i += ID_CHUNK) {
    const rows = await trx
      .selectFrom('vehicles')
      .select('id')
      .where('id', 'in', wanted.slice(i, i + ID_CHUNK))
      .execute();
    for (const row of rows) existing.add(row.id);
  }
  return existing;
}
