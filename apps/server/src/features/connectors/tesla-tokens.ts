import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { ConnectorAccounts } from './accounts.js';
import { TESLA_REFRESH_TOKEN_MS, type TeslaClient, TeslaError, type TeslaTokens } from './tesla.js';

/** Refresh this long before the access token expires (Tesla's live 8 hours). */
export const REFRESH_MARGIN_MS = 10 * 60_000;
/** The refresh lock outlives the longest token call (20 s timeout) with room to spare. */
const LOCK_MS = 60_000;

export const REAUTH_REASON = 'Tesla no longer accepts this sign-in: sign in to Tesla again';
export const INTERRUPTED_REASON =
  'a token refresh was interrupted and Tesla did not accept it again: sign in to Tesla again';

/** The account cannot be used until its owner signs in again (state `reauth_needed`). */
export class ReauthNeeded extends Error {
  override name = 'ReauthNeeded';
}

/**
 * Tesla's tokens of one account, refreshed with rotation (refresh tokens are single use):
 * - one refresh at a time per account, across instances (the account row's refresh lock);
 * - before the refresh token leaves, it is written down as `pending_refresh_token`; Tesla's answer (the
 *   new access and refresh token) replaces both in one statement, so the new pair is committed before the
 *   old one is forgotten;
 * - a process that died between Tesla's answer and that commit left `pending = refresh`: the next refresh
 *   sends the same token once more. Tesla decides: it answers (a grace reuse) and all is well, or it says
 *   `invalid_grant` and the account shows "sign in to Tesla again"; other accounts go on.
 */
export class TeslaTokenKeeper {
  constructor(
    private readonly deps: {
      accounts: ConnectorAccounts;
      client: TeslaClient;
      clock: Clock;
      logger: Logger;
      /** Names this instance as the lock holder. */
      instanceId: string;
      /** Tests: runs between Tesla's answer and the commit (throw to act out a crash there). */
      beforeCommit?: (accountId: string) => void | Promise<void>;
    },
  ) {}

  /**
   * A usable access token, refreshed first when it expires within the margin, or when a refresh was
   * interrupted (state `refreshing` with the refresh token still pending: the process that sent it died
   * before its answer was stored). That one retry is made at once rather than when the old access token
   * runs out, so the account says soon whether it needs a new sign-in.
   */
  async accessToken(accountId: string, force = false): Promise<string> {
    const account = await this.deps.accounts.get(accountId);
    if (!account) throw new ReauthNeeded('the account is gone');
    if (account.state === 'reauth_needed') throw new ReauthNeeded(account.stateReason ?? REAUTH_REASON);
    const tokens = await this.openTokens(accountId);
    const fresh = (account.accessExpiresMs ?? 0) - REFRESH_MARGIN_MS > this.deps.clock.now();
    const interrupted =
      account.state === 'refreshing' &&
      tokens.pendingRefreshToken !== null &&
      tokens.pendingRefreshToken === tokens.refreshToken;
    if (interrupted) return this.refresh(accountId, { stale: tokens.accessToken });
    if (tokens.accessToken && fresh && !force) return tokens.accessToken;
    return this.refresh(accountId, force ? { stale: tokens.accessToken } : { unlessFresh: true });
  }

  /**
   * Refreshes under the account's lock, always unless told otherwise: `unlessFresh` skips it when another
   * instance has refreshed meanwhile; `stale` (the access token Tesla refused) skips it when the stored one
   * is another, newer one.
   */
  async refresh(
    accountId: string,
    when: { unlessFresh?: boolean; stale?: string | null } = {},
  ): Promise<string> {
    const stale = when.stale ?? null;
    for (let attempt = 0; attempt < 20; attempt++) {
      const result = await this.deps.accounts.withRefreshLock(accountId, this.deps.instanceId, LOCK_MS, () =>
        this.refreshLocked(accountId, when.unlessFresh === true, stale),
      );
      if (result.locked) return result.value;
      // Another instance is refreshing: wait for its result instead of spending the token twice.
      await new Promise((resolve) => setTimeout(resolve, 250));
      const account = await this.deps.accounts.get(accountId);
      if (account?.state === 'reauth_needed') throw new ReauthNeeded(account.stateReason ?? REAUTH_REASON);
      const tokens = await this.openTokens(accountId);
      const fresh = (account?.accessExpiresMs ?? 0) - REFRESH_MARGIN_MS > this.deps.clock.now();
      if (tokens.accessToken && tokens.accessToken !== stale && fresh) return tokens.accessToken;
    }
    throw new TeslaError('transient', 'another instance holds the refresh lock');
  }

  private async refreshLocked(
    accountId: string,
    unlessFresh: boolean,
    stale: string | null,
  ): Promise<string> {
    const { accounts, clock } = this.deps;
    const account = await accounts.get(accountId);
    if (!account) throw new ReauthNeeded('the account is gone');
    if (account.state === 'reauth_needed') throw new ReauthNeeded(account.stateReason ?? REAUTH_REASON);
    const tokens = await this.openTokens(accountId);
    // Someone refreshed while this one waited for the lock.
    const fresh = (account.accessExpiresMs ?? 0) - REFRESH_MARGIN_MS > clock.now();
    const replaced = stale !== null && tokens.accessToken !== stale;
    if (tokens.accessToken && fresh && (unlessFresh || replaced)) return tokens.accessToken;
    if (!tokens.refreshToken) return this.reauth(accountId, REAUTH_REASON);
    const retrying =
      tokens.pendingRefreshToken !== null && tokens.pendingRefreshToken === tokens.refreshToken;
    if (!retrying) await accounts.saveTokens(accountId, { pendingRefreshToken: tokens.refreshToken });
    await accounts.setState(accountId, 'refreshing');
    let answer: TeslaTokens;
    try {
      answer = await this.deps.client.refresh(tokens.refreshToken);
    } catch (error) {
      if (error instanceof TeslaError && error.failure === 'invalid_grant')
        return this.reauth(accountId, retrying ? INTERRUPTED_REASON : REAUTH_REASON);
      // No answer: Tesla may or may not have rotated. `pending` stays, the next try is the one retry.
      await accounts.setState(accountId, 'connected');
      throw error;
    }
    await this.deps.beforeCommit?.(accountId);
    await accounts.saveTokens(
      accountId,
      {
        accessToken: answer.accessToken,
        refreshToken: answer.refreshToken,
        pendingRefreshToken: null,
        ...(answer.idToken ? { idToken: answer.idToken } : {}),
      },
      { accessExpiresMs: answer.accessExpiresMs, refreshExpiresMs: clock.now() + TESLA_REFRESH_TOKEN_MS },
    );
    await accounts.setState(accountId, 'connected');
    this.deps.logger.info({ accountId }, 'tesla tokens refreshed');
    return answer.accessToken;
  }

  private async openTokens(accountId: string) {
    try {
      return await this.deps.accounts.tokens(accountId);
    } catch (error) {
      // A token sealed with another vault key does not open: only a new sign-in helps.
      this.deps.logger.warn({ accountId, err: error }, 'tesla tokens do not open');
      return this.reauth(accountId, 'the stored Tesla tokens cannot be opened: sign in to Tesla again');
    }
  }

  private async reauth(accountId: string, reason: string): Promise<never> {
    await this.deps.accounts.setState(accountId, 'reauth_needed', reason);
    this.deps.logger.warn({ accountId }, 'tesla account needs a new sign-in');
    throw new ReauthNeeded(reason);
  }
}
