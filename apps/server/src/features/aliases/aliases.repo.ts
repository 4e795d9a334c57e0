import type { Selectable } from 'kysely';
import type { AliasesTable, Db } from '../../db/index.js';

export type AliasRow = Selectable<AliasesTable> & { confirmations: number };

/** The identity of an entry: two posts with the same fields are the same entry. */
export interface AliasKey {
  make: string;
  model: string;
  year: number;
  device_key: string;
  canonical_key: string;
  unit: string;
  scale: number;
}

/** Storage of the alias registry. Each write is one statement, so concurrent posts cannot lose entries. */
export class AliasesRepo {
  constructor(private readonly db: Db) {}

  private selectWithCount() {
    return this.db
      .selectFrom('aliases as a')
      .selectAll('a')
      .select((eb) =>
        eb
          .selectFrom('alias_confirmations as c')
          .whereRef('c.alias_id', '=', 'a.id')
          .select((e) => e.fn.countAll<number | string>().as('n'))
          .as('confirmations'),
      );
  }

  private static withCount(
    row: Selectable<AliasesTable> & { confirmations: number | string | null },
  ): AliasRow {
    // PostgreSQL returns count(*) as a string (int8), SQLite as a number.
    return {
      ...row,
      year: Number(row.year),
      scale: Number(row.scale),
      confirmations: Number(row.confirmations ?? 0),
    };
  }

  /** Entries of a make for a model ('' = any model) and year (0 = any year), most confirmed first. */
  async list(make: string, model: string | null, year: number | null): Promise<AliasRow[]> {
    let q = this.selectWithCount().where('a.make', '=', make);
    if (model !== null) q = q.where('a.model', 'in', ['', model]);
    if (year !== null) q = q.where('a.year', 'in', [0, year]);
    const rows = await q.execute();
    return rows
      .map(AliasesRepo.withCount)
      .sort(
        (a, b) =>
          b.confirmations - a.confirmations ||
          a.device_key.localeCompare(b.device_key) ||
          a.id.localeCompare(b.id),
      );
  }

  /** Every entry, or those of one make and/or model, by make, model, year and device key. */
  async all(make: string | null, model: string | null): Promise<AliasRow[]> {
    let q = this.selectWithCount();
    if (make !== null) q = q.where('a.make', '=', make);
    if (model !== null) q = q.where('a.model', '=', model);
    const rows = await q
      .orderBy('a.make')
      .orderBy('a.model')
      .orderBy('a.year')
      .orderBy('a.device_key')
      .orderBy('a.id')
      .limit(5000)
      .execute();
    return rows.map(AliasesRepo.withCount);
  }

  async byId(id: string): Promise<AliasRow | undefined> {
    const row = await this.selectWithCount().where('a.id', '=', id).executeTakeFirst();
    return row ? AliasesRepo.withCount(row) : undefined;
  }

  /**
   * Adds the entry unless an identical one exists (`on conflict do nothing` on the unique entry key), then
   * returns the stored one and whether this call created it.
   */
  async upsert(
    key: AliasKey,
    id: string,
    contributorId: string,
    nowMs: number,
  ): Promise<{ id: string; created: boolean }> {
    const inserted = await this.db
      .insertInto('aliases')
      .values({ ...key, id, contributor_id: contributorId, created_ms: nowMs, updated_ms: nowMs })
      .onConflict((oc) =>
        oc.columns(['make', 'model', 'year', 'device_key', 'canonical_key', 'unit', 'scale']).doNothing(),
      )
      .returning('id')
      .executeTakeFirst();
    if (inserted) return { id: inserted.id, created: true };
    const existing = await this.db
      .selectFrom('aliases')
      .select('id')
      .where('make', '=', key.make)
      .where('model', '=', key.model)
      .where('year', '=', key.year)
      .where('device_key', '=', key.device_key)
      .where('canonical_key', '=', key.canonical_key)
      .where('unit', '=', key.unit)
      .where('scale', '=', key.scale)
      .executeTakeFirstOrThrow();
    return { id: existing.id, created: false };
  }

  /** Records that a vehicle confirmed an entry; a vehicle counts once however often it confirms. */
  async confirm(aliasId: string, vehicleId: string, userId: string, nowMs: number): Promise<void> {
    await this.db
      .insertInto('alias_confirmations')
      .values({ alias_id: aliasId, vehicle_id: vehicleId, user_id: userId, created_ms: nowMs })
      .onConflict((oc) => oc.columns(['alias_id', 'vehicle_id']).doNothing())
      .execute();
  }

  async update(id: string, patch: Partial<AliasKey>, nowMs: number): Promise<boolean> {
    const result = await this.db
      .updateTable('aliases')
      .set({ ...patch, updated_ms: nowMs })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async remove(id: string): Promise<boolean> {
    // Confirmations go with it (foreign key on delete cascade); delete them first anyway so SQLite
    // connections opened without foreign-key enforcement behave the same.
    await this.db.deleteFrom('alias_confirmations').where('alias_id', '=', id).execute();
    const result = await this.db.deleteFrom('aliases').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /**
   * Entries that apply to a vehicle when decoding: confirmed by that vehicle itself, or by at least
   * `minConfirmations` vehicles. Least specific first (any model, then the model, then model + year), and
   * within one level the most confirmed last, so merging in order lets the best-backed entry win.
   */
  async applicable(
    make: string,
    model: string,
    year: number,
    vehicleId: string,
    minConfirmations: number,
  ): Promise<AliasRow[]> {
    const rows = await this.list(make, model, year);
    const mine = new Set(
      (
        await this.db
          .selectFrom('alias_confirmations')
          .select('alias_id')
          .where('vehicle_id', '=', vehicleId)
          .execute()
      ).map((r) => r.alias_id),
    );
    const specificity = (r: AliasRow) => (r.model === '' ? 0 : 1) + (r.year === 0 ? 0 : 1);
    return rows
      .filter((r) => mine.has(r.id) || r.confirmations >= minConfirmations)
      .sort((a, b) => specificity(a) - specificity(b) || a.confirmations - b.confirmations);
  }
}
