import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { insertVehicle, testVin } from '../../features/telemetry/test-fixtures.js';
import { describeEngines } from '../../test/storage.js';
import { migrate } from '../database.js';

describeEngines('migration 0007: dead-letter retention', (ctx) => {
  /** Puts the schema back as 0006 left it, so the migration runs again over existing dead letters. */
  async function backTo0006(): Promise<void> {
    const { db } = ctx.storage;
    await db.schema.dropTable('vehicle_refusals').execute();
    await db.schema.dropTable('dead_letter_usage').execute();
    await db.schema.dropIndex('dead_letters_received').execute();
    await db.schema.alterTable('dead_letters').dropColumn('bytes').execute();
    await sql`delete from kysely_migration where name = '0007-dead-letter-retention'`.execute(db);
  }

  it('weighs the dead letters already kept and counts them per vehicle', async () => {
    const { db } = ctx.storage;
    const vehicleId = await insertVehicle(db, testVin(1));
    await backTo0006();
    const letter = (vehicle_id: string | null, reason: string, received_ms: number, payload = 'é') => ({
      source: 'mqtt',
      topic: 't',
      vehicle_id,
      reason,
      payload,
      received_ms,
    });
    await sql`insert into dead_letters (source, topic, vehicle_id, reason, payload, received_ms)
      values ${sql.join(
        [
          letter(vehicleId, 'first', 1000),
          letter(vehicleId, 'latest', 3000),
          letter(vehicleId, 'between', 2000),
          letter(null, 'unknown vin', 4000),
          letter('gone', 'deleted vehicle', 5000),
        ].map(
          (l) => sql`(${l.source}, ${l.topic}, ${l.vehicle_id}, ${l.reason}, ${l.payload}, ${l.received_ms})`,
        ),
      )}`.execute(db);

    expect(await migrate(ctx.storage)).toEqual(['0007-dead-letter-retention']);

    const rows = await db.selectFrom('dead_letters').select(['reason', 'bytes']).orderBy('id').execute();
    // 'é' is two bytes; 'mqtt' and 't' five; 64 for the row.
    expect(rows.map((r) => [r.reason, Number(r.bytes)])).toEqual([
      ['first', 2 + 5 + 5 + 64],
      ['latest', 2 + 6 + 5 + 64],
      ['between', 2 + 7 + 5 + 64],
      ['unknown vin', 2 + 11 + 5 + 64],
      ['deleted vehicle', 2 + 15 + 5 + 64],
    ]);
    const usage = await db.selectFrom('dead_letter_usage').select(['shard', 'bytes']).execute();
    expect(usage.map((u) => [u.shard, Number(u.bytes)])).toEqual([
      [0, rows.reduce((sum, r) => sum + Number(r.bytes), 0)],
    ]);
    const refusals = await db.selectFrom('vehicle_refusals').selectAll().execute();
    expect(
      refusals.map((r) => ({
        ...r,
        refused: Number(r.refused),
        first_ms: Number(r.first_ms),
        last_ms: Number(r.last_ms),
      })),
    ).toEqual([{ vehicle_id: vehicleId, refused: 3, first_ms: 1000, last_ms: 3000, last_reason: 'latest' }]);
  });
});
