import {
  isValidVin,
  normalizeVin,
  type TeslaAccount,
  type TeslaAccountList,
  type TeslaSignInOutcome,
  type TeslaVehicleList,
} from '@tacho/protocol';
import type { TeslaConfig } from '../../config.js';
import type { Clock } from '../../lib/clock.js';
import { Conflict, Invalid, NotFound, Unavailable } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { Audit } from '../auth/audit.js';
import { isAdmin, requireScope } from '../auth/permissions.js';
import type { Principal } from '../auth/principal.js';
import type { Vehicles } from '../vehicles/index.js';
import { adoptVehicle, connectingUser, visibleAccount } from './access.js';
import type { ConnectorAccount, ConnectorAccounts } from './accounts.js';
import {
  authorizeUrl,
  jwtClaims,
  pkcePair,
  TESLA_REFRESH_TOKEN_MS,
  type TeslaClient,
  TeslaError,
} from './tesla.js';
import { ReauthNeeded, type TeslaTokenKeeper } from './tesla-tokens.js';

/** How long a sign-in may stay at Tesla. */
export const TESLA_ATTEMPT_MS = 10 * 60_000;

/** Where the callback sends the browser: the dashboard's Connected accounts page. */
export const CONNECTED_ACCOUNTS_PAGE = '/settings/connected-accounts';

/**
 * Tesla accounts of Tacho users: sign-in (authorization code + PKCE, the attempt bound to the signed-in
 * user), the account's vehicles, adding one as a Tacho vehicle, disconnecting. Only the account's owner
 * sees it (an admin sees and disconnects every one); anyone else gets 404.
 */
export class TeslaService {
  constructor(
    private readonly deps: {
      config: TeslaConfig | undefined;
      accounts: ConnectorAccounts;
      client: TeslaClient | null;
      tokens: TeslaTokenKeeper | null;
      vehicles: Vehicles;
      clock: Clock;
      logger: Logger;
      audit: Audit;
    },
  ) {}

  private connector(): { config: TeslaConfig; client: TeslaClient; tokens: TeslaTokenKeeper } {
    const { config, client, tokens } = this.deps;
    if (!config || !client || !tokens)
      throw new NotFound(
        'no Tesla application is configured (TACHO_TESLA_CLIENT_ID)',
        'tesla_not_configured',
      );
    return { config, client, tokens };
  }

  /** Operators and admins connect accounts: the vehicles that come with them are theirs. */

  /** Tesla's sign-in URL for this user's new attempt. */
  async start(principal: Principal, redirectUri: string): Promise<{ url: string }> {
    const user = connectingUser(principal);
    const { config } = this.connector();
    const { verifier, challenge } = pkcePair();
    const state = await this.deps.accounts.createAttempt({
      kind: 'tesla',
      userId: user.userId,
      codeVerifier: verifier,
      region: config.region,
      ttlMs: TESLA_ATTEMPT_MS,
    });
    return { url: authorizeUrl({ ...config, redirectUri }, state, challenge) };
  }

  /**
   * Tesla sent the browser back. The attempt must be this signed-in user's: a code arriving in someone
   * else's browser (a link an attacker sent) attaches neither the attacker's Tesla account to them nor
   * theirs to the attacker. Says `connected` with the account, or the error in a word.
   */
  async complete(
    principal: Principal | null,
    query: { code?: string | undefined; state?: string | undefined; error?: string | undefined },
  ): Promise<TeslaSignInOutcome> {
    const failed = (error: string): TeslaSignInOutcome => ({ outcome: 'error', error });
    if (!this.deps.config) return failed('not_configured');
    const attempt = query.state ? await this.deps.accounts.takeAttempt(query.state, 'tesla') : null;
    if (!attempt) return failed('expired');
    if (principal?.kind !== 'user' || principal.userId !== attempt.userId) return failed('signed_out');
    if (query.error) return failed(query.error === 'access_denied' ? 'denied' : 'refused');
    if (!query.code) return failed('refused');
    const { client } = this.connector();
    try {
      const tokens = await client.exchangeCode(query.code, attempt.codeVerifier);
      const claims = { ...jwtClaims(tokens.accessToken), ...jwtClaims(tokens.idToken) };
      const sub = typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : null;
      if (!sub) return failed('refused');
      const label =
        typeof claims.email === 'string' && claims.email !== ''
          ? claims.email
          : `Tesla account ${sub.slice(0, 8)}`;
      const refreshExpiresMs = this.deps.clock.now() + TESLA_REFRESH_TOKEN_MS;
      const existing = await this.deps.accounts.findByExternal('tesla', attempt.userId, sub);
      const saved = {
        accessToken: tokens.accessToken,
        refreshToken: tokens.refreshToken,
        idToken: tokens.idToken,
        pendingRefreshToken: null,
      };
      let id: string;
      if (existing) {
        // Signing in again to the same Tesla account replaces its tokens (and clears "sign in again").
        await this.deps.accounts.saveTokens(existing.id, saved, {
          accessExpiresMs: tokens.accessExpiresMs,
          refreshExpiresMs,
        });
        await this.deps.accounts.setState(existing.id, 'connected');
        id = existing.id;
      } else {
        const created = await this.deps.accounts.create({
          kind: 'tesla',
          ownerId: attempt.userId,
          externalId: sub,
          label,
          region: attempt.region ?? this.deps.config.region,
          tokens: saved,
          accessExpiresMs: tokens.accessExpiresMs,
          refreshExpiresMs,
        });
        id = created.id;
      }
      this.deps.audit.log('connector.connected', { userId: attempt.userId, kind: 'tesla', accountId: id });
      return { outcome: 'connected', accountId: id };
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'tesla sign-in failed');
      return failed(error instanceof TeslaError && error.failure === 'transient' ? 'unreachable' : 'refused');
    }
  }

  /** `POST …/finish`: the sign-in of a browser that came back signed out, posted once logged in again. */
  finish(
    principal: Principal,
    query: { code?: string | undefined; state: string; error?: string | undefined },
  ): Promise<TeslaSignInOutcome> {
    connectingUser(principal);
    return this.complete(principal, query);
  }

  /**
   * Where the callback sends the browser. Signed in: the sign-in is finished here and the page gets its
   * outcome. Not signed in (the dashboard's short-lived access cookie ran out while the owner was at
   * Tesla): the page gets what Tesla sent in its fragment (never sent to a server, dropped from the
   * address at once), renews its login and finishes with `POST /api/v1/connectors/tesla/finish`.
   */
  async callback(
    principal: Principal | null,
    query: { code?: string; state?: string; error?: string },
  ): Promise<string> {
    if (principal === null && query.state) {
      const pass = new URLSearchParams();
      for (const key of ['code', 'state', 'error'] as const) {
        const value = query[key];
        if (value !== undefined) pass.set(key, value);
      }
      return `${CONNECTED_ACCOUNTS_PAGE}#tesla_finish=${encodeURIComponent(pass.toString())}`;
    }
    const outcome = await this.complete(principal, query);
    const params: Record<string, string> =
      outcome.outcome === 'connected'
        ? { tesla: 'connected', account: outcome.accountId ?? '' }
        : { tesla_error: outcome.error ?? 'refused' };
    return `${CONNECTED_ACCOUNTS_PAGE}?${new URLSearchParams(params)}`;
  }

  async list(principal: Principal): Promise<TeslaAccountList> {
    const user = requireScope(principal, 'read');
    const accounts = await this.deps.accounts.list({
      kind: 'tesla',
      ...(isAdmin(user) ? {} : { ownerId: user.userId }),
    });
    const items: TeslaAccount[] = [];
    for (const account of accounts) items.push(await this.view(account));
    return { items, configured: this.deps.config !== undefined };
  }

  private async view(account: ConnectorAccount): Promise<TeslaAccount> {
    const linked = await this.deps.accounts.vehicles(account.id);
    return {
      id: account.id,
      label: account.label,
      region: account.region,
      ownerId: account.ownerId,
      state: account.state,
      stateReason: account.stateReason,
      requestsToday: account.budgetUsed,
      requestBudget: this.deps.config?.dailyRequests ?? 0,
      vehicleCount: linked.length,
      createdMs: account.createdMs,
    };
  }

  /** Tesla's list of the account's vehicles (one request, wakes nothing), with which are Tacho vehicles. */
  async vehicles(principal: Principal, id: string): Promise<TeslaVehicleList> {
    const account = await visibleAccount(this.deps.accounts, principal, id, 'tesla', 'Tesla');
    const cars = await this.teslaVehicles(account);
    const linked = await this.deps.accounts.vehicles(account.id);
    return {
      items: cars.map((car) => {
        const link = linked.find((l) => l.externalId === car.id);
        return {
          vin: car.vin,
          name: car.displayName,
          state: car.state,
          vehicleId: link?.vehicleId ?? null,
          pollState: link?.state ?? null,
        };
      }),
    };
  }

  private async teslaVehicles(account: ConnectorAccount) {
    const { client, tokens } = this.connector();
    try {
      let token = await tokens.accessToken(account.id);
      await this.deps.accounts.countRequest(account.id);
      try {
        return await client.vehicles(token);
      } catch (error) {
        if (!(error instanceof TeslaError && error.failure === 'unauthorized')) throw error;
        // Refused before its time (revoked, or Tesla rotated it): once more with a refreshed one.
        token = await tokens.refresh(account.id, { stale: token });
        await this.deps.accounts.countRequest(account.id);
        return await client.vehicles(token);
      }
    } catch (error) {
      if (error instanceof ReauthNeeded) throw new Conflict(error.message, 'tesla_reauth_needed');
      if (error instanceof TeslaError && error.failure === 'rate_limited')
        throw new Unavailable('Tesla asks to wait before the next request', 'tesla_rate_limited', {
          retryAfterS: error.retryAfterS ?? 60,
        });
      if (error instanceof TeslaError)
        throw new Unavailable(`Tesla did not answer as expected: ${error.message}`, 'tesla_unavailable');
      throw error;
    }
  }

  /** Makes the account's vehicle with this VIN a Tacho vehicle of the account's owner (make Tesla). */
  async addVehicle(principal: Principal, id: string, rawVin: string): Promise<{ vehicleId: string }> {
    const user = connectingUser(principal);
    const account = await visibleAccount(this.deps.accounts, principal, id, 'tesla', 'Tesla');
    const vin = normalizeVin(rawVin);
    if (!isValidVin(vin)) throw new Invalid('vin must be a 17-character VIN', 'invalid_vin');
    const car = (await this.teslaVehicles(account)).find((v) => v.vin === vin);
    if (!car)
      throw new NotFound('this Tesla account has no vehicle with that VIN', 'tesla_vehicle_not_found');
    const vehicleId = await adoptVehicle(this.deps.vehicles, principal, user, account, {
      name: car.displayName ?? `Tesla ${vin.slice(-6)}`,
      vin,
      make: 'Tesla',
      kind: 'car',
    });
    await this.deps.accounts.linkVehicle(account.id, vehicleId, car.id);
    this.deps.audit.log('connector.vehicle_linked', {
      userId: user.userId,
      accountId: account.id,
      vehicleId,
    });
    return { vehicleId };
  }

  /**
   * Forgets the account: its tokens and vehicle links go (the Tacho vehicles and their data stay). Tesla
   * documents no endpoint that revokes a third-party token; the owner removes Tacho's access on their
   * Tesla account's security page (the dashboard says so).
   */
  async disconnect(principal: Principal, id: string): Promise<void> {
    const account = await visibleAccount(this.deps.accounts, principal, id, 'tesla', 'Tesla');
    requireScope(principal, 'write');
    await this.deps.accounts.remove(account.id);
    this.deps.audit.log('connector.disconnected', { accountId: account.id, kind: 'tesla' });
  }
}
