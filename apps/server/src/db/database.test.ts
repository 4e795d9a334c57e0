import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { ownTables } from '../test/dump.js';
import { describeEngines } from '../test/storage.js';
import { migrate } from './database.js';
import { migrations } from './migrations/index.js';

const tables = [
  'users',
  'logins',
  'refresh_tokens',
  'api_tokens',
  'vehicles',
  'vehicle_access',
  'samples',
  'vehicle_state',
  'raw_keys',
  'dead_letters',
  'settings',
];

describeEngines('storage', (ctx) => {
  it('creates every first-wave table and records each migration once', async () => {
    const names = await ownTables(ctx.storage);
    for (const table of tables) expect(names).toContain(table);
    const applied = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
      ctx.storage.db,
    );
    expect(applied.rows.map((r) => r.name)).toEqual(migrations.map(([name]) => name));
  });

  it('runs migrations idempotently: a second start applies nothing', async () => {
    expect(await migrate(ctx.storage)).toEqual([]);
  });

  it('round-trips epoch milliseconds as exact numbers', async () => {
    const { db } = ctx.storage;
    const ts = 1_790_000_000_123;
    await db.insertInto('settings').values({ key: 'k', value: 'v', updated_ms: ts }).execute();
    const row = await db.selectFrom('settings').selectAll().where('key', '=', 'k').executeTakeFirstOrThrow();
    expect(row.updated_ms).toBe(ts);
    expect(typeof row.updated_ms).toBe('number');
  });

  it('stores a sample once per (vehicle, ts, seq), whatever the redelivery', async () => {
    const { db } = ctx.storage;
    const row = {
      vehicle_id: 'v1',
      ts_ms: 1_790_000_000_000,
      seq: 0,
      received_ms: 1_790_000_000_100,
      source: 'test',
      metrics: '{"battery_level_pct":80}',
      lat: null,
      lon: null,
      alt_m: null,
      heading_deg: null,
      speed_kmh: null,
      accuracy_m: null,
    };
    const first = await db
      .insertInto('samples')
      .values(row)
      .onConflict((oc) => oc.doNothing())
      .returning('ts_ms')
      .execute();
    const again = await db
      .insertInto('samples')
      .values(row)
      .onConflict((oc) => oc.doNothing())
      .returning('ts_ms')
      .execute();
    const next = await db
      .insertInto('samples')
      .values({ ...row, seq: 1 })
      .onConflict((oc) => oc.doNothing())
      .returning('ts_ms')
      .execute();
    expect([first.length, again.length, next.length]).toEqual([1, 0, 1]);
    const count = await db
      .selectFrom('samples')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(2);
  });

  it('numbers dead letters in arrival order', async () => {
    const { db } = ctx.storage;
    for (const reason of ['a', 'b', 'c']) {
      await db
        .insertInto('dead_letters')
        .values({
          source: 'mqtt',
          topic: 't',
          vehicle_id: null,
          reason,
          payload: '',
          received_ms: 1,
          bytes: 64,
        })
        .execute();
    }
    const rows = await db.selectFrom('dead_letters').select(['id', 'reason']).orderBy('id').execute();
    expect(rows.map((r) => r.reason)).toEqual(['a', 'b', 'c']);
    expect(rows[0]!.id).toBeLessThan(rows[2]!.id);
  });
});
