import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import type { Db } from '../../db/index.js';
import { ManualClock } from '../../lib/clock.js';
import { newId } from '../../lib/crypto.js';
import { moveSealedToken } from '../../test/connector-accounts.js';
import { dumpText } from '../../test/dump.js';
import { describeEngines } from '../../test/storage.js';
import { Vault, VaultError } from '../vault/vault.js';
import { ConnectorAccounts } from './accounts.js';

async function user(db: Db): Promise<string> {
  const id = newId();
  await db
    .insertInto('users')
    .values({
      id,
      email: `${id}@example.test`,
      name: 'owner',
      password_hash: null,
      role: 'operator',
      disabled_ms: null,
      tokens_valid_after_ms: 0,
      created_ms: 0,
      updated_ms: 0,
    })
    .execute();
  return id;
}

describeEngines('connector accounts', (ctx) => {
  function setup() {
    const clock = new ManualClock(Date.UTC(2026, 11, 6, 10));
    const vault = new Vault(ctx.storage.db, new Uint8Array(randomBytes(32)));
    return { clock, accounts: new ConnectorAccounts({ db: ctx.storage.db, vault, clock }) };
  }

  it('keeps tokens sealed at rest and opens them; a value moved to another row does not open', async () => {
    const { accounts } = setup();
    const owner = await user(ctx.storage.db);
    const a = await accounts.create({
      kind: 'tesla',
      ownerId: owner,
      externalId: 'sub-a',
      label: 'a@example.test',
      region: 'eu',
      tokens: { accessToken: 'access-AAAA-secret', refreshToken: 'refresh-AAAA-secret' },
      accessExpiresMs: 1000,
    });
    const b = await accounts.create({
      kind: 'tesla',
      ownerId: owner,
      externalId: 'sub-b',
      label: 'b@example.test',
      region: 'eu',
      tokens: { accessToken: 'access-BBBB-secret' },
    });
    expect(a).toMatchObject({ kind: 'tesla', state: 'connected', accessExpiresMs: 1000, budgetUsed: 0 });
    expect(await accounts.tokens(a.id)).toEqual({
      accessToken: 'access-AAAA-secret',
      refreshToken: 'refresh-AAAA-secret',
      idToken: null,
      pendingRefreshToken: null,
    });
    const dump = (await dumpText(ctx.storage)).join('\n');
    expect(dump).not.toContain('AAAA');
    expect(dump).not.toContain('BBBB');

    // A new pair replaces the old one in one statement; undefined keeps, null drops.
    await accounts.saveTokens(
      a.id,
      { accessToken: 'access-2', refreshToken: 'refresh-2', pendingRefreshToken: null },
      { accessExpiresMs: 2000 },
    );
    expect(await accounts.tokens(a.id)).toMatchObject({ accessToken: 'access-2', refreshToken: 'refresh-2' });
    expect((await accounts.get(a.id))?.accessExpiresMs).toBe(2000);

    await moveSealedToken(
      ctx.storage.db,
      { accountId: a.id, column: 'access_token' },
      { accountId: b.id, column: 'access_token' },
    );
    await expect(accounts.tokens(b.id)).rejects.toThrow(VaultError);
  });

  it('lets one holder refresh at a time, and a dead holder lose the lock after its time', async () => {
    const { accounts, clock } = setup();
    const owner = await user(ctx.storage.db);
    const a = await accounts.create({
      kind: 'tesla',
      ownerId: owner,
      externalId: 'sub',
      label: 'x',
      region: 'na',
      tokens: {},
    });
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const first = accounts.withRefreshLock(a.id, 'instance-1', 30_000, async () => {
      await held;
      return 'refreshed';
    });
    // The first holder's conditional update has run once its callback waits; poll until the lock shows.
    for (;;) {
      const row = await ctx.storage.db
        .selectFrom('connector_accounts')
        .select('refresh_lock_owner')
        .where('id', '=', a.id)
        .executeTakeFirstOrThrow();
      if (row.refresh_lock_owner === 'instance-1') break;
      await new Promise((r) => setImmediate(r));
    }
    expect(await accounts.withRefreshLock(a.id, 'instance-2', 30_000, async () => 'no')).toEqual({
      locked: false,
    });
    release();
    expect(await first).toEqual({ locked: true, value: 'refreshed' });
    expect(await accounts.withRefreshLock(a.id, 'instance-2', 30_000, async () => 'yes')).toEqual({
      locked: true,
      value: 'yes',
    });

    // A holder that died: its lock row stays until the time runs out.
    await ctx.storage.db
      .updateTable('connector_accounts')
      .set({ refresh_lock_owner: 'dead', refresh_lock_until_ms: clock.now() + 30_000 })
      .where('id', '=', a.id)
      .execute();
    expect(await accounts.withRefreshLock(a.id, 'instance-2', 30_000, async () => 1)).toEqual({
      locked: false,
    });
    clock.advance(30_001);
    expect(await accounts.withRefreshLock(a.id, 'instance-2', 30_000, async () => 2)).toEqual({
      locked: true,
      value: 2,
    });
  });

  it('gives each account one runtime owner across instances, and moves it when the owner stops renewing', async () => {
    const { accounts, clock } = setup();
    const owner = await user(ctx.storage.db);
    for (const n of [1, 2, 3])
      await accounts.create({
        kind: 'vinfast',
        ownerId: owner,
        externalId: `u${n}`,
        label: 'x',
        region: 'vn',
        tokens: {},
      });
    await accounts.create({
      kind: 'tesla',
      ownerId: owner,
      externalId: 't',
      label: 'x',
      region: 'na',
      tokens: {},
    });
    expect(await accounts.claimLeases('vinfast', 'one', 20_000)).toHaveLength(3);
    expect(await accounts.claimLeases('vinfast', 'two', 20_000)).toHaveLength(0);
    clock.advance(10_000);
    expect(await accounts.claimLeases('vinfast', 'one', 20_000)).toHaveLength(3);
    clock.advance(20_001);
    expect(await accounts.claimLeases('vinfast', 'two', 20_000)).toHaveLength(3);
    await accounts.releaseLeases('vinfast', 'two');
    expect(await accounts.claimLeases('vinfast', 'one', 20_000)).toHaveLength(3);
  });

  it('counts requests per UTC day', async () => {
    const { accounts, clock } = setup();
    const owner = await user(ctx.storage.db);
    const a = await accounts.create({
      kind: 'tesla',
      ownerId: owner,
      externalId: 's',
      label: 'x',
      region: 'na',
      tokens: {},
    });
    expect(await accounts.countRequest(a.id)).toBe(1);
    expect(await accounts.countRequest(a.id)).toBe(2);
    expect((await accounts.get(a.id))?.budgetUsed).toBe(2);
    clock.advance(24 * 3600_000);
    expect((await accounts.get(a.id))?.budgetUsed).toBe(0);
    expect(await accounts.countRequest(a.id)).toBe(1);
  });

  it('takes an OAuth attempt once, only for its maker and before it expires', async () => {
    const { accounts, clock } = setup();
    const owner = await user(ctx.storage.db);
    const make = () =>
      accounts.createAttempt({ kind: 'tesla', userId: owner, codeVerifier: 'verifier-XYZW', ttlMs: 600_000 });
    const s1 = await make();
    expect((await dumpText(ctx.storage)).join('\n')).not.toContain('verifier-XYZW');
    expect(await accounts.takeAttempt(s1, 'tesla')).toMatchObject({
      userId: owner,
      codeVerifier: 'verifier-XYZW',
    });
    expect(await accounts.takeAttempt(s1, 'tesla')).toBeNull();
    expect(await accounts.takeAttempt(await make(), 'vinfast')).toBeNull();
    const s3 = await make();
    clock.advance(600_001);
    expect(await accounts.takeAttempt(s3, 'tesla')).toBeNull();
  });

  it('links maker vehicles to Tacho vehicles and drops the links with the account', async () => {
    const { accounts } = setup();
    const owner = await user(ctx.storage.db);
    const vehicleId = newId();
    await ctx.storage.db
      .insertInto('vehicles')
      .values({
        id: vehicleId,
        vin: null,
        name: 'car',
        make: 'Tesla',
        model: null,
        year: null,
        owner_id: owner,
        created_ms: 0,
        updated_ms: 0,
        kind: 'car',
      })
      .execute();
    const a = await accounts.create({
      kind: 'tesla',
      ownerId: owner,
      externalId: 's',
      label: 'x',
      region: 'na',
      tokens: {},
    });
    await accounts.linkVehicle(a.id, vehicleId, '1234567890');
    await accounts.setVehicleState(a.id, vehicleId, { state: 'asleep', nextPollMs: 5 });
    expect(await accounts.vehicles(a.id)).toEqual([
      { accountId: a.id, vehicleId, externalId: '1234567890', state: 'asleep', data: {}, nextPollMs: 5 },
    ]);
    await accounts.remove(a.id);
    expect(await accounts.vehicles(a.id)).toEqual([]);
    expect(await accounts.get(a.id)).toBeNull();
  });
});
