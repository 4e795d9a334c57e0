import {
  type ConnectVinFast,
  isValidVin,
  normalizeVin,
  type VinFastAccount,
  type VinFastAccountList,
  type VinFastVehicleList,
} from '@tacho/protocol';
import type { VinFastConfig } from '../../config.js';
import type { Clock } from '../../lib/clock.js';
import { Conflict, Invalid, NotFound, Unauthorized, Unavailable } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { isAdmin, requireScope } from '../auth/permissions.js';
import type { Principal } from '../auth/principal.js';
import { VaultError } from '../vault/index.js';
import type { Vehicles } from '../vehicles/index.js';
import { adoptVehicle, connectingUser, visibleAccount } from './access.js';
import type { AccountTokens, ConnectorAccount, ConnectorAccounts } from './accounts.js';
import {
  endpointsFor,
  VINFAST_REGIONS,
  VinFastCallFailed,
  VinFastCloud,
  type VinFastRegion,
  VinFastSignInRefused,
  type VinFastTokens,
  VinFastUnauthorized,
  type VinFastVehicleInfo,
  xHashSigner,
} from './vinfast-cloud.js';

/** What the account shows when only a new sign-in helps. */
export const REAUTH_REASON = 'sign in to VinFast again';
const REFRESH_LOCK_MS = 30_000;

/** The connector's notes on an account (connector_accounts.data): the live stream's state. */
interface AccountData {
  stream?: { state: VinFastAccount['stream']; reason: string | null };
}

/** Raised when the account's tokens are gone or refused: the owner must sign in again. */
export class VinFastReauthNeeded extends VinFastSignInRefused {
  override name = 'VinFastReauthNeeded';
}

/**
 * VinFast accounts of Tacho users: sign-in with email and password (the password goes to VinFast's Auth0
 * and nowhere else: not stored, not logged), the account's vehicles, adding one as a Tacho vehicle,
 * disconnecting; and, for the stream, API calls with a refresh on 401 (one refresh at a time across
 * instances). Only the account's owner sees it (an admin sees and disconnects every one); others get 404.
 */
export class VinFastService {
  private readonly clouds = new Map<string, VinFastCloud>();

  constructor(
    private readonly deps: {
      config: VinFastConfig;
      accounts: ConnectorAccounts;
      vehicles: Vehicles;
      clock: Clock;
      logger: Logger;
      instanceId: string;
      /** Called after an account is removed, so its stream stops at once on this instance. */
      onRemoved?: (accountId: string) => void;
    },
  ) {}

  cloud(region: string): VinFastCloud {
    const r = (VINFAST_REGIONS as readonly string[]).includes(region) ? (region as VinFastRegion) : 'vn';
    let cloud = this.clouds.get(r);
    if (!cloud) {
      const key = this.deps.config.signingKey;
      cloud = new VinFastCloud(endpointsFor(r, this.deps.config), key ? xHashSigner(key) : null, () =>
        this.deps.clock.now(),
      );
      this.clouds.set(r, cloud);
    }
    return cloud;
  }

  /** Operators and admins connect accounts: the vehicles that come with them are theirs. */

  /** Signs in at VinFast and keeps the tokens (sealed); the same VinFast account again replaces them. */
  async connect(principal: Principal, input: ConnectVinFast): Promise<VinFastAccount> {
    const user = connectingUser(principal);
    const email = input.email.trim().toLowerCase();
    if (!(VINFAST_REGIONS as readonly string[]).includes(input.region))
      throw new Invalid(`region must be one of ${VINFAST_REGIONS.join(', ')}`, 'invalid_region');
    const cloud = this.cloud(input.region);
    let tokens: VinFastTokens;
    try {
      tokens = await cloud.signIn(email, input.password);
      // The vehicle list proves the token works against the API (and the signing key, when one is set).
      await cloud.vehicles(tokens.accessToken);
    } catch (error) {
      throw this.replyError(error);
    }
    const saved = {
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      idToken: tokens.idToken,
      pendingRefreshToken: null,
    };
    const accessExpiresMs = tokens.expiresInS ? this.deps.clock.now() + tokens.expiresInS * 1000 : null;
    const existing = await this.deps.accounts.findByExternal('vinfast', user.userId, email);
    let account: ConnectorAccount;
    if (existing) {
      await this.deps.accounts.saveTokens(existing.id, saved, { accessExpiresMs });
      await this.deps.accounts.setState(existing.id, 'connected');
      account = (await this.deps.accounts.get(existing.id))!;
    } else {
      account = await this.deps.accounts.create({
        kind: 'vinfast',
        ownerId: user.userId,
        externalId: email,
        label: email,
        region: input.region,
        tokens: saved,
        accessExpiresMs,
      });
    }
    this.deps.logger.info({ accountId: account.id, userId: user.userId }, 'vinfast account connected');
    return this.view(account);
  }

  /** Our API's answer for a failure at VinFast: never a token, never the password. */
  private replyError(error: unknown): Error {
    if (error instanceof VinFastReauthNeeded)
      return new Conflict(`${REAUTH_REASON}: the account's sign-in expired`, 'vinfast_reauth_needed');
    if (error instanceof VinFastSignInRefused)
      return new Unauthorized('VinFast refused this email and password', 'vinfast_sign_in_refused');
    if (error instanceof VinFastCallFailed) {
      if (error.status === 403)
        return new Unavailable(
          `VinFast refused the request (${error.message}); its API may need the request signing key (TACHO_VINFAST_SIGNING_KEY_FILE)`,
          'vinfast_refused',
        );
      return new Unavailable(error.message, 'vinfast_unavailable');
    }
    if (error instanceof VinFastUnauthorized) return new Unavailable(error.message, 'vinfast_unavailable');
    return error instanceof Error ? error : new Error('VinFast call failed');
  }

  async list(principal: Principal): Promise<VinFastAccountList> {
    const user = requireScope(principal, 'read');
    const accounts = await this.deps.accounts.list({
      kind: 'vinfast',
      ...(isAdmin(user) ? {} : { ownerId: user.userId }),
    });
    const items: VinFastAccount[] = [];
    for (const account of accounts) items.push(await this.view(account));
    return { items };
  }

  private async view(account: ConnectorAccount): Promise<VinFastAccount> {
    const linked = await this.deps.accounts.vehicles(account.id);
    const data = account.data as AccountData;
    return {
      id: account.id,
      label: account.label,
      region: account.region,
      ownerId: account.ownerId,
      state: account.state,
      stateReason: account.stateReason,
      stream: data.stream?.state ?? null,
      streamReason: data.stream?.reason ?? null,
      vehicleCount: linked.length,
      createdMs: account.createdMs,
    };
  }

  private async vinfastVehicles(account: ConnectorAccount): Promise<VinFastVehicleInfo[]> {
    const cloud = this.cloud(account.region);
    try {
      return await this.withAccess(account.id, (token) => cloud.vehicles(token));
    } catch (error) {
      throw this.replyError(error);
    }
  }

  /** The account's vehicles at VinFast, and which are Tacho vehicles. */
  async vehicles(principal: Principal, id: string): Promise<VinFastVehicleList> {
    const account = await visibleAccount(this.deps.accounts, principal, id, 'vinfast', 'VinFast');
    const cars = await this.vinfastVehicles(account);
    const linked = await this.deps.accounts.vehicles(account.id);
    return {
      items: cars.map((car) => ({
        vin: car.vin,
        name: car.name,
        model: car.model,
        year: car.year,
        vehicleId: linked.find((l) => l.externalId === car.vin)?.vehicleId ?? null,
      })),
    };
  }

  /** Makes the account's vehicle with this VIN a Tacho vehicle (make VinFast, model and year from VinFast). */
  async addVehicle(principal: Principal, id: string, rawVin: string): Promise<{ vehicleId: string }> {
    const user = connectingUser(principal);
    const account = await visibleAccount(this.deps.accounts, principal, id, 'vinfast', 'VinFast');
    const vin = normalizeVin(rawVin);
    if (!isValidVin(vin)) throw new Invalid('vin must be a 17-character VIN', 'invalid_vin');
    const car = (await this.vinfastVehicles(account)).find((v) => normalizeVin(v.vin) === vin);
    if (!car)
      throw new NotFound('this VinFast account has no vehicle with that VIN', 'vinfast_vehicle_not_found');
    const vehicleId = await adoptVehicle(this.deps.vehicles, principal, user, account, {
      name: car.name ?? `VinFast ${vin.slice(-6)}`,
      vin,
      make: 'VinFast',
      kind: 'car',
      ...(car.model ? { model: car.model.slice(0, 60) } : {}),
      ...(car.year ? { year: car.year } : {}),
    });
    await this.deps.accounts.linkVehicle(account.id, vehicleId, vin, { model: car.model, year: car.year });
    this.deps.logger.info({ accountId: account.id, vehicleId }, 'vinfast vehicle linked');
    return { vehicleId };
  }

  /**
   * Forgets the account: its tokens and vehicle links go (the Tacho vehicles and their data stay), and its
   * stream stops. VinFast has no documented endpoint to revoke a refresh token.
   */
  async disconnect(principal: Principal, id: string): Promise<void> {
    const account = await visibleAccount(this.deps.accounts, principal, id, 'vinfast', 'VinFast');
    requireScope(principal, 'write');
    await this.deps.accounts.remove(account.id);
    this.deps.onRemoved?.(account.id);
    this.deps.logger.info({ accountId: account.id }, 'vinfast account disconnected');
  }

  // ---- for the stream ----

  private async openTokens(id: string): Promise<AccountTokens> {
    try {
      return await this.deps.accounts.tokens(id);
    } catch (error) {
      if (error instanceof VaultError) {
        await this.deps.accounts.setState(id, 'reauth_needed', REAUTH_REASON);
        throw new VinFastReauthNeeded(REAUTH_REASON);
      }
      throw error;
    }
  }

  /** Runs `fn` with the account's access token; on a 401 refreshes once and runs it again. */
  async withAccess<T>(id: string, fn: (accessToken: string) => Promise<T>): Promise<T> {
    const tokens = await this.openTokens(id);
    if (!tokens.accessToken) throw new VinFastReauthNeeded(REAUTH_REASON);
    try {
      return await fn(tokens.accessToken);
    } catch (error) {
      if (!(error instanceof VinFastUnauthorized)) throw error;
    }
    const fresh = await this.refresh(id, tokens.accessToken);
    return fn(fresh.accessToken!);
  }

  /** The ID token Cognito wants; `afterRefresh`: refresh first (Cognito refused the one we had). */
  async idToken(id: string, afterRefresh: boolean): Promise<string> {
    let tokens = await this.openTokens(id);
    if (afterRefresh) tokens = await this.refresh(id, tokens.accessToken);
    if (!tokens.idToken) throw new VinFastReauthNeeded(REAUTH_REASON);
    return tokens.idToken;
  }

  /**
   * Refreshes the tokens unless another caller did since `stale` was read. One refresh at a time per
   * account across instances (the refresh lock); a revoked refresh token marks the account
   * "sign in to VinFast again" and forgets the tokens.
   */
  async refresh(id: string, stale: string | null): Promise<AccountTokens> {
    for (let attempt = 0; attempt < 50; attempt += 1) {
      const out = await this.deps.accounts.withRefreshLock(
        id,
        this.deps.instanceId,
        REFRESH_LOCK_MS,
        async () => {
          const current = await this.openTokens(id);
          if (current.accessToken && current.accessToken !== stale) return current;
          if (!current.refreshToken) throw new VinFastReauthNeeded(REAUTH_REASON);
          const account = await this.deps.accounts.get(id);
          if (!account) throw new VinFastReauthNeeded(REAUTH_REASON);
          try {
            const next = await this.cloud(account.region).refresh(current.refreshToken);
            const saved = {
              accessToken: next.accessToken,
              idToken: next.idToken ?? current.idToken,
              // Auth0 keeps the refresh token unless rotation is on; a new one replaces the old.
              refreshToken: next.refreshToken ?? current.refreshToken,
            };
            await this.deps.accounts.saveTokens(id, saved, {
              accessExpiresMs: next.expiresInS ? this.deps.clock.now() + next.expiresInS * 1000 : null,
            });
            if (account.state !== 'connected') await this.deps.accounts.setState(id, 'connected');
            return { ...current, ...saved };
          } catch (error) {
            if (error instanceof VinFastSignInRefused) {
              await this.deps.accounts.saveTokens(id, {
                accessToken: null,
                refreshToken: null,
                idToken: null,
              });
              await this.deps.accounts.setState(id, 'reauth_needed', REAUTH_REASON);
              this.deps.logger.warn(
                { accountId: id },
                'vinfast refresh refused: the owner must sign in again',
              );
              throw new VinFastReauthNeeded(REAUTH_REASON);
            }
            throw error;
          }
        },
      );
      if (out.locked) return out.value;
      // Another instance or stream is refreshing: wait for its result.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Unavailable('another refresh of this VinFast account is taking too long', 'vinfast_busy');
  }
}
