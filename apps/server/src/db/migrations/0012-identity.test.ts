import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { insertVehicle, testVin } from '../../features/telemetry/test-fixtures.js';
import { describeEngines } from '../../test/storage.js';
import { migrate } from '../database.js';

describeEngines('migration 0012: identity', (ctx) => {
  /** Puts the schema back as 0010 left it, so the migration runs again over existing rows. */
  async function backTo0010(): Promise<void> {
    const { db } = ctx.storage;
    for (const table of ['cli_logins', 'oidc_attempts', 'user_identities'] as const)
      await db.schema.dropTable(table).execute();
    await db.schema.alterTable('api_tokens').dropColumn('cli_host').execute();
    await db.schema.alterTable('logins').dropColumn('method').execute();
    await db.schema.alterTable('users').dropColumn('provider_only_ms').execute();
    await db.schema.alterTable('vehicles').dropColumn('kind').execute();
    await db.schema
      .alterTable('vehicles')
      .alterColumn('vin', (c) => c.setNotNull())
      .execute();
    await sql`delete from kysely_migration where name = '0012-identity'`.execute(db);
  }

  it('keeps every vehicle, login and token as it was; vehicles become cars, logins password logins', async () => {
    const { db } = ctx.storage;
    await backTo0010();
    const vehicleId = await insertVehicle(db, testVin(12));
    const before = await db.selectFrom('vehicles').selectAll().executeTakeFirstOrThrow();
    const owner = before.owner_id;
    await sql`insert into logins (id, user_id, device, ip, created_ms, last_used_ms, expires_ms, revoked_ms, revoked_reason)
      values ('l1', ${owner}, 'Firefox on Linux', null, 1, 2, 3, null, null)`.execute(db);
    await sql`insert into api_tokens (id, user_id, vehicle_id, name, token_hash, prefix, scopes, vehicle_ids, created_ms, expires_ms, last_used_ms, revoked_ms)
      values ('t1', ${owner}, ${vehicleId}, 'device', 'h', 'tacho_abc', '["publish"]', null, 1, null, null, null)`.execute(
      db,
    );

    expect(await migrate(ctx.storage)).toEqual(['0012-identity']);

    const after = await db.selectFrom('vehicles').selectAll().executeTakeFirstOrThrow();
    expect(after).toEqual({ ...before, kind: 'car' });
    const login = await db.selectFrom('logins').selectAll().where('id', '=', 'l1').executeTakeFirstOrThrow();
    expect(login.method).toBe('password');
    expect(login.device).toBe('Firefox on Linux');
    const token = await db
      .selectFrom('api_tokens')
      .selectAll()
      .where('id', '=', 't1')
      .executeTakeFirstOrThrow();
    expect(token.cli_host).toBeNull();
    expect(token.vehicle_id).toBe(vehicleId);

    // A vehicle without a VIN now fits; two of them too; a VIN stays unique.
    const row = (id: string, vin: string | null) => ({
      id,
      vin,
      kind: 'phone' as const,
      name: id,
      make: null,
      model: null,
      year: null,
      owner_id: owner,
      created_ms: 1,
      updated_ms: 1,
    });
    await db.insertInto('vehicles').values(row('p1', null)).execute();
    await db.insertInto('vehicles').values(row('p2', null)).execute();
    await expect(db.insertInto('vehicles').values(row('p3', before.vin)).execute()).rejects.toThrow();
    // Nothing that hangs off the vehicle was touched (no table was rebuilt, no cascade ran).
    expect(await db.selectFrom('api_tokens').select('id').execute()).toHaveLength(1);
  });
});
