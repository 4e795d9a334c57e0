import { type ExpressionBuilder, sql } from 'kysely';
import type { ConnectorAccountsTable, ConnectorVehiclesTable, Database, Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import { newId, randomToken } from '../../lib/crypto.js';
import type { Vault } from '../vault/index.js';

/**
 * The storage every maker connector shares (issues 21, 22; decision 0028): connected accounts
 * with their tokens sealed by the vault, the maker vehicles linked to Tacho vehicles, and OAuth attempts.
 * Storage only: what a token means and when to refresh it is the connector's business.
 */

export type ConnectorKind = 'tesla' | 'vinfast';
export type AccountState = 'connected' | 'refreshing' | 'reauth_needed' | 'error';

export interface ConnectorAccount {
  readonly id: string;
  readonly kind: ConnectorKind;
  readonly ownerId: string;
  readonly externalId: string;
  readonly label: string;
  readonly region: string;
  readonly state: AccountState;
  readonly stateReason: string | null;
  readonly accessExpiresMs: number | null;
  readonly refreshExpiresMs: number | null;
  /** Requests counted today (UTC), 0 on a new day. */
  readonly budgetUsed: number;
  readonly data: Record<string, unknown>;
  readonly createdMs: number;
  readonly updatedMs: number;
}

export interface AccountTokens {
  readonly accessToken: string | null;
  readonly refreshToken: string | null;
  readonly idToken: string | null;
  readonly pendingRefreshToken: string | null;
}

const TOKEN_COLUMNS = {
  accessToken: 'access_token',
  refreshToken: 'refresh_token',
  idToken: 'id_token',
  pendingRefreshToken: 'pending_refresh_token',
} as const;

export interface LinkedVehicle {
  readonly accountId: string;
  readonly vehicleId: string;
  readonly externalId: string;
  readonly state: string | null;
  readonly data: Record<string, unknown>;
  readonly nextPollMs: number | null;
}

export interface ConnectorAttempt {
  readonly state: string;
  readonly kind: ConnectorKind;
  readonly userId: string;
  readonly codeVerifier: string;
  readonly region: string | null;
}

const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

function toAccount(row: ConnectorAccountsTable, nowMs: number): ConnectorAccount {
  return {
    id: row.id,
    kind: row.kind as ConnectorKind,
    ownerId: row.owner_id,
    externalId: row.external_id,
    label: row.label,
    region: row.region,
    state: row.state as AccountState,
    stateReason: row.state_reason,
    accessExpiresMs: row.access_expires_ms === null ? null : Number(row.access_expires_ms),
    refreshExpiresMs: row.refresh_expires_ms === null ? null : Number(row.refresh_expires_ms),
    budgetUsed: row.budget_day === utcDay(nowMs) ? Number(row.budget_used) : 0,
    data: JSON.parse(row.data) as Record<string, unknown>,
    createdMs: Number(row.created_ms),
    updatedMs: Number(row.updated_ms),
  };
}

function toLinked(row: ConnectorVehiclesTable): LinkedVehicle {
  return {
    accountId: row.account_id,
    vehicleId: row.vehicle_id,
    externalId: row.external_id,
    state: row.state,
    data: JSON.parse(row.data) as Record<string, unknown>,
    nextPollMs: row.next_poll_ms === null ? null : Number(row.next_poll_ms),
  };
}

export class ConnectorAccounts {
  constructor(private readonly deps: { db: Db; vault: Vault; clock: Clock }) {}

  async create(input: {
    kind: ConnectorKind;
    ownerId: string;
    externalId: string;
    label: string;
    region: string;
    tokens: Partial<AccountTokens>;
    accessExpiresMs?: number | null;
    refreshExpiresMs?: number | null;
    data?: Record<string, unknown>;
  }): Promise<ConnectorAccount> {
    const id = newId();
    const now = this.deps.clock.now();
    await this.deps.db
      .insertInto('connector_accounts')
      .values({
        id,
        kind: input.kind,
        owner_id: input.ownerId,
        external_id: input.externalId,
        label: input.label,
        region: input.region,
        state: 'connected',
        state_reason: null,
        ...(await this.sealTokens(id, input.tokens)),
        access_expires_ms: input.accessExpiresMs ?? null,
        refresh_expires_ms: input.refreshExpiresMs ?? null,
        budget_used: 0,
        data: JSON.stringify(input.data ?? {}),
        created_ms: now,
        updated_ms: now,
      })
      .execute();
    return (await this.get(id)) as ConnectorAccount;
  }

  /**
   * The account of this user and maker id, if it is connected already (signing in again to the same
   * maker account replaces its tokens rather than adding a second account).
   */
  async findByExternal(
    kind: ConnectorKind,
    ownerId: string,
    externalId: string,
  ): Promise<ConnectorAccount | null> {
    const row = await this.deps.db
      .selectFrom('connector_accounts')
      .selectAll()
      .where('kind', '=', kind)
      .where('owner_id', '=', ownerId)
      .where('external_id', '=', externalId)
      .executeTakeFirst();
    return row ? toAccount(row, this.deps.clock.now()) : null;
  }

  async get(id: string): Promise<ConnectorAccount | null> {
    const row = await this.deps.db
      .selectFrom('connector_accounts')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toAccount(row, this.deps.clock.now()) : null;
  }

  /** Accounts, oldest first; of one user and/or one maker when given. */
  async list(filter: { ownerId?: string; kind?: ConnectorKind } = {}): Promise<ConnectorAccount[]> {
    let q = this.deps.db.selectFrom('connector_accounts').selectAll().orderBy('created_ms').orderBy('id');
    if (filter.ownerId !== undefined) q = q.where('owner_id', '=', filter.ownerId);
    if (filter.kind !== undefined) q = q.where('kind', '=', filter.kind);
    const now = this.deps.clock.now();
    return (await q.execute()).map((r) => toAccount(r, now));
  }

  /** The account's tokens, opened. Throws VaultError when one does not open (the account needs a new sign-in). */
  async tokens(id: string): Promise<AccountTokens> {
    const row = await this.deps.db
      .selectFrom('connector_accounts')
      .select(['access_token', 'refresh_token', 'id_token', 'pending_refresh_token'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    const out: Record<string, string | null> = {};
    for (const [name, column] of Object.entries(TOKEN_COLUMNS)) {
      const sealed = row[column];
      out[name] =
        sealed === null
          ? null
          : await this.deps.vault.open(sealed, { table: 'connector_accounts', column, rowId: id });
    }
    return out as unknown as AccountTokens;
  }

  /**
   * Replaces the tokens given (undefined: kept; null: dropped) and the expiries given, in one statement,
   * so a new pair is committed whole before anything forgets the old one.
   */
  async saveTokens(
    id: string,
    tokens: Partial<AccountTokens>,
    expiries: { accessExpiresMs?: number | null; refreshExpiresMs?: number | null } = {},
  ): Promise<void> {
    await this.deps.db
      .updateTable('connector_accounts')
      .set({
        ...(await this.sealTokens(id, tokens)),
        ...(expiries.accessExpiresMs !== undefined ? { access_expires_ms: expiries.accessExpiresMs } : {}),
        ...(expiries.refreshExpiresMs !== undefined ? { refresh_expires_ms: expiries.refreshExpiresMs } : {}),
        updated_ms: this.deps.clock.now(),
      })
      .where('id', '=', id)
      .execute();
  }

  async setState(id: string, state: AccountState, reason: string | null = null): Promise<void> {
    await this.deps.db
      .updateTable('connector_accounts')
      .set({ state, state_reason: reason, updated_ms: this.deps.clock.now() })
      .where('id', '=', id)
      .execute();
  }

  async setData(id: string, data: Record<string, unknown>): Promise<void> {
    await this.deps.db
      .updateTable('connector_accounts')
      .set({ data: JSON.stringify(data), updated_ms: this.deps.clock.now() })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Runs `fn` while `holder` alone holds the account's refresh lock, across instances: a row lease taken
   * by a conditional update, so it needs no open transaction while `fn` talks to the maker, and one that
   * an instance which died holding it loses after `ttlMs`. Returns `{ locked: false }` when another holds it.
   */
  async withRefreshLock<T>(
    id: string,
    holder: string,
    ttlMs: number,
    fn: () => Promise<T>,
  ): Promise<{ locked: true; value: T } | { locked: false }> {
    const now = this.deps.clock.now();
    const taken = await this.deps.db
      .updateTable('connector_accounts')
      .set({ refresh_lock_owner: holder, refresh_lock_until_ms: now + ttlMs })
      .where('id', '=', id)
      .where((eb) =>
        eb.or([
          eb('refresh_lock_until_ms', 'is', null),
          eb('refresh_lock_until_ms', '<', now),
          eb('refresh_lock_owner', '=', holder),
        ]),
      )
      .executeTakeFirst();
    if (Number(taken.numUpdatedRows) === 0) return { locked: false };
    try {
      return { locked: true, value: await fn() };
    } finally {
      await this.deps.db
        .updateTable('connector_accounts')
        .set({ refresh_lock_owner: null, refresh_lock_until_ms: null })
        .where('id', '=', id)
        .where('refresh_lock_owner', '=', holder)
        .execute();
    }
  }

  /**
   * Takes or renews the runtime lease of every account of `kind` that no live instance holds, and returns
   * the accounts `instanceId` runs now (one owner per account across instances; a dead instance's
   * accounts move once its leases run out).
   */
  async claimLeases(kind: ConnectorKind, instanceId: string, leaseMs: number): Promise<ConnectorAccount[]> {
    const now = this.deps.clock.now();
    const claimable = (eb: ExpressionBuilder<Database, 'connector_accounts'>) =>
      eb.or([
        eb('lease_until_ms', 'is', null),
        eb('lease_until_ms', '<', now),
        eb('lease_owner', '=', instanceId),
      ]);
    // A read first: with nothing to take or renew (no account of this maker) no write lock is asked for,
    // which on SQLite would wait on this thread behind the ingest writer's commits.
    const any = await this.deps.db
      .selectFrom('connector_accounts')
      .select('id')
      .where('kind', '=', kind)
      .where(claimable)
      .limit(1)
      .executeTakeFirst();
    if (any)
      await this.deps.db
        .updateTable('connector_accounts')
        .set({ lease_owner: instanceId, lease_until_ms: now + leaseMs })
        .where('kind', '=', kind)
        .where(claimable)
        .execute();
    const rows = await this.deps.db
      .selectFrom('connector_accounts')
      .selectAll()
      .where('kind', '=', kind)
      .where('lease_owner', '=', instanceId)
      .orderBy('created_ms')
      .orderBy('id')
      .execute();
    return rows.map((r) => toAccount(r, now));
  }

  /** Gives up this instance's leases (a clean stop: another instance takes over at once). */
  async releaseLeases(kind: ConnectorKind, instanceId: string): Promise<void> {
    await this.deps.db
      .updateTable('connector_accounts')
      .set({ lease_owner: null, lease_until_ms: null })
      .where('kind', '=', kind)
      .where('lease_owner', '=', instanceId)
      .execute();
  }

  /** Counts one request to the maker against the account's day (UTC) and returns the day's count. */
  async countRequest(id: string): Promise<number> {
    const day = utcDay(this.deps.clock.now());
    await this.deps.db
      .updateTable('connector_accounts')
      .set({
        budget_used: sql<number>`case when budget_day = ${day} then budget_used + 1 else 1 end`,
        budget_day: day,
      })
      .where('id', '=', id)
      .execute();
    const row = await this.deps.db
      .selectFrom('connector_accounts')
      .select('budget_used')
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(row?.budget_used ?? 0);
  }

  /** Deletes the account, its tokens and its vehicle links (the Tacho vehicles and their data stay). */
  async remove(id: string): Promise<void> {
    await this.deps.db.deleteFrom('connector_accounts').where('id', '=', id).execute();
  }

  async linkVehicle(
    accountId: string,
    vehicleId: string,
    externalId: string,
    data: Record<string, unknown> = {},
  ): Promise<void> {
    const now = this.deps.clock.now();
    await this.deps.db
      .insertInto('connector_vehicles')
      .values({
        account_id: accountId,
        vehicle_id: vehicleId,
        external_id: externalId,
        state: null,
        data: JSON.stringify(data),
        next_poll_ms: null,
        created_ms: now,
        updated_ms: now,
      })
      .onConflict((oc) =>
        oc.columns(['account_id', 'vehicle_id']).doUpdateSet({ external_id: externalId, updated_ms: now }),
      )
      .execute();
  }

  async vehicles(accountId: string): Promise<LinkedVehicle[]> {
    const rows = await this.deps.db
      .selectFrom('connector_vehicles')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('created_ms')
      .orderBy('vehicle_id')
      .execute();
    return rows.map(toLinked);
  }

  async unlinkVehicle(accountId: string, vehicleId: string): Promise<void> {
    await this.deps.db
      .deleteFrom('connector_vehicles')
      .where('account_id', '=', accountId)
      .where('vehicle_id', '=', vehicleId)
      .execute();
  }

  async setVehicleState(
    accountId: string,
    vehicleId: string,
    update: { state?: string | null; data?: Record<string, unknown>; nextPollMs?: number | null },
  ): Promise<void> {
    await this.deps.db
      .updateTable('connector_vehicles')
      .set({
        ...(update.state !== undefined ? { state: update.state } : {}),
        ...(update.data !== undefined ? { data: JSON.stringify(update.data) } : {}),
        ...(update.nextPollMs !== undefined ? { next_poll_ms: update.nextPollMs } : {}),
        updated_ms: this.deps.clock.now(),
      })
      .where('account_id', '=', accountId)
      .where('vehicle_id', '=', vehicleId)
      .execute();
  }

  /** Starts an OAuth sign-in: returns the `state` that names it (256 random bits). */
  async createAttempt(input: {
    kind: ConnectorKind;
    userId: string;
    codeVerifier: string;
    region?: string | null;
    ttlMs: number;
  }): Promise<string> {
    const state = randomToken(32);
    const now = this.deps.clock.now();
    // Attempts that were never finished go when a new one starts.
    await this.deps.db.deleteFrom('connector_attempts').where('expires_ms', '<', now).execute();
    await this.deps.db
      .insertInto('connector_attempts')
      .values({
        state,
        kind: input.kind,
        user_id: input.userId,
        code_verifier: await this.deps.vault.seal(input.codeVerifier, {
          table: 'connector_attempts',
          column: 'code_verifier',
          rowId: state,
        }),
        region: input.region ?? null,
        created_ms: now,
        expires_ms: now + input.ttlMs,
      })
      .execute();
    return state;
  }

  /** Takes an attempt (single use: it is deleted); null when unknown, of another maker, or expired. */
  async takeAttempt(state: string, kind: ConnectorKind): Promise<ConnectorAttempt | null> {
    const row = await this.deps.db
      .deleteFrom('connector_attempts')
      .where('state', '=', state)
      .returningAll()
      .executeTakeFirst();
    if (!row || row.kind !== kind || Number(row.expires_ms) < this.deps.clock.now()) return null;
    return {
      state: row.state,
      kind,
      userId: row.user_id,
      codeVerifier: await this.deps.vault.open(row.code_verifier, {
        table: 'connector_attempts',
        column: 'code_verifier',
        rowId: state,
      }),
      region: row.region,
    };
  }

  private async sealTokens(
    id: string,
    tokens: Partial<AccountTokens>,
  ): Promise<Partial<Record<(typeof TOKEN_COLUMNS)[keyof AccountTokens], string | null>>> {
    const out: Partial<Record<(typeof TOKEN_COLUMNS)[keyof AccountTokens], string | null>> = {};
    for (const [name, column] of Object.entries(TOKEN_COLUMNS) as Array<
      [keyof AccountTokens, (typeof TOKEN_COLUMNS)[keyof AccountTokens]]
    >) {
      const value = tokens[name];
      if (value === undefined) continue;
      out[column] =
        value === null
          ? null
          : await this.deps.vault.seal(value, { table: 'connector_accounts', column, rowId: id });
    }
    return out;
  }
}
