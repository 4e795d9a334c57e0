import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { IngestPipeline } from '../telemetry/index.js';
import type { ConnectorAccount, ConnectorAccounts, LinkedVehicle } from './accounts.js';
import { type TeslaClient, TeslaError, type TeslaVehicle } from './tesla.js';
import { readVehicleData } from './tesla-data.js';
import {
  defaultPollSettings,
  firstPlan,
  nextPoll,
  type Observation,
  type PollPlan,
  type PollSettings,
  pace,
} from './tesla-poll.js';
import { ReauthNeeded, type TeslaTokenKeeper } from './tesla-tokens.js';

/** What the samples read from Tesla's Fleet API are stored as coming from. */
/** An account with nothing to poll refreshes its tokens once its access token is this long expired. */
export const KEEP_ALIVE_AFTER_MS = 7 * 86_400_000;

export const TESLA_API_SOURCE = 'tesla-api';

/** How often the account leases are claimed and renewed (they last `leaseMs`, a minute by default). */
const CLAIM_EVERY_MS = 5_000;

export interface TeslaPollerDeps {
  accounts: ConnectorAccounts;
  client: TeslaClient;
  tokens: TeslaTokenKeeper;
  pipeline: IngestPipeline;
  clock: Clock;
  logger: Logger;
  instanceId: string;
  dailyRequests: number;
  settings?: PollSettings;
  /** How long this instance holds an account once claimed (renewed every tick). */
  leaseMs?: number;
}

interface Due {
  readonly vehicle: LinkedVehicle;
  plan: PollPlan;
  touched: boolean;
}

/**
 * Polls every Tesla account this instance holds the lease of (one instance per account, however many
 * run), each vehicle by its plan (tesla-poll.ts), and hands what it reads to the one ingestion pipeline.
 * All decisions use the injected clock; `tick()` does what is due now, so tests drive it step by step.
 */
export class TeslaPoller {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  /** When this instance last claimed its leases, and the accounts it holds since. */
  private claimedAtMs: number | null = null;
  private held: string[] = [];

  constructor(private readonly deps: TeslaPollerDeps) {}

  /** Ticks every `tickMs` of real time until `stop`. */
  start(tickMs: number): void {
    const loop = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.tick()
          .catch((error) => this.deps.logger.error({ err: error }, 'tesla poller tick failed'))
          .finally(loop);
      }, tickMs);
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running.catch(() => {});
    await this.deps.accounts.releaseLeases('tesla', this.deps.instanceId).catch(() => {});
  }

  /** Does every request that is due now; calls never overlap. */
  tick(): Promise<void> {
    const next = this.running.catch(() => {}).then(() => this.tickNow());
    this.running = next;
    return next;
  }

  private async tickNow(): Promise<void> {
    if (this.stopped) return;
    const now = this.deps.clock.now();
    let accounts: ConnectorAccount[];
    // The leases are claimed (a write) every few seconds, not every tick: a lease lasts a minute, and in
    // between the accounts this instance holds are only read.
    if (this.claimedAtMs === null || now - this.claimedAtMs >= CLAIM_EVERY_MS) {
      accounts = await this.deps.accounts.claimLeases(
        'tesla',
        this.deps.instanceId,
        this.deps.leaseMs ?? 60_000,
      );
      this.claimedAtMs = now;
      this.held = accounts.map((a) => a.id);
    } else {
      accounts = [];
      for (const id of this.held) {
        const account = await this.deps.accounts.get(id);
        if (account) accounts.push(account);
      }
    }
    for (const account of accounts) {
      try {
        await this.pollAccount(account);
      } catch (error) {
        this.deps.logger.error({ err: error, accountId: account.id }, 'tesla account poll failed');
      }
    }
  }

  private async pollAccount(account: ConnectorAccount): Promise<void> {
    const { accounts, clock, client } = this.deps;
    if (account.state === 'reauth_needed') return;
    const now = clock.now();
    const blocked = typeof account.data.blockedUntilMs === 'number' ? account.data.blockedUntilMs : null;
    if (blocked !== null && blocked > now) return;
    const linked = await accounts.vehicles(account.id);
    const due: Due[] = linked
      .filter((v) => v.nextPollMs === null || v.nextPollMs <= now)
      .map((vehicle) => ({ vehicle, plan: storedPlan(vehicle) ?? firstPlan(now), touched: false }));
    if (due.length === 0) {
      // Nothing to poll (no vehicle added yet): the sign-in is kept alive all the same. Tesla's refresh
      // tokens lapse after three months unused; one refresh once the access token is a week past its
      // expiry keeps the account connected at a cost of a few refreshes a month.
      if (account.accessExpiresMs !== null && now - account.accessExpiresMs >= KEEP_ALIVE_AFTER_MS)
        await this.deps.tokens.accessToken(account.id).catch((error) => {
          if (!(error instanceof ReauthNeeded))
            this.deps.logger.warn(
              { accountId: account.id, err: error },
              'tesla token refresh failed; retrying later',
            );
        });
      return;
    }

    let token: string;
    try {
      token = await this.deps.tokens.accessToken(account.id);
    } catch (error) {
      if (!(error instanceof ReauthNeeded))
        this.deps.logger.warn(
          { accountId: account.id, err: error },
          'tesla token refresh failed; retrying later',
        );
      return;
    }
    let used = account.budgetUsed;
    let blockedUntilMs: number | null = null;
    const settings = this.deps.settings ?? defaultPollSettings;
    const observe = (d: Due, o: Observation) => {
      d.plan = nextPoll(d.plan.state, o, now, settings);
      d.touched = true;
    };
    const spend = async (): Promise<boolean> => {
      if (used >= this.deps.dailyRequests) return false;
      used = await accounts.countRequest(account.id);
      return true;
    };
    const failed = async (d: Due[], action: 'list' | 'data', error: unknown) => {
      if (error instanceof TeslaError && error.failure === 'rate_limited') {
        blockedUntilMs = now + (error.retryAfterS ?? 60) * 1000;
        await accounts.setData(account.id, { ...account.data, blockedUntilMs });
      } else if (error instanceof TeslaError && error.failure === 'unauthorized') {
        // The access token was refused before its time: refresh now, use it at the next tick.
        await this.deps.tokens.refresh(account.id, { stale: token }).catch(() => {});
      } else {
        this.deps.logger.warn({ accountId: account.id, err: error }, `tesla ${action} request failed`);
      }
      for (const x of d) observe(x, { kind: 'failed', action });
    };

    // The vehicle list: one request tells every sleeping car's state without waking any.
    const listing = due.filter((d) => d.plan.action === 'list');
    if (listing.length > 0 && (await spend())) {
      try {
        const listed: TeslaVehicle[] = await client.vehicles(token);
        for (const d of listing) {
          const car = listed.find((v) => v.id === d.vehicle.externalId);
          observe(d, { kind: 'listed', state: car?.state ?? 'unknown' });
        }
      } catch (error) {
        await failed(listing, 'list', error);
      }
    }
    // Data of the cars that are awake and due now.
    for (const d of due) {
      if (blockedUntilMs !== null) break;
      if (d.plan.action !== 'data' || d.plan.atMs > now) continue;
      if (!(await spend())) break;
      try {
        const data = await client.vehicleData(token, d.vehicle.externalId);
        const reading = readVehicleData(data);
        if (reading.message) {
          await this.deps.pipeline.ingest(
            { source: TESLA_API_SOURCE, topic: 'tesla-api/vehicle_data', vehicleId: d.vehicle.vehicleId },
            [reading.message],
          );
        }
        observe(d, {
          kind: 'data',
          driving: reading.driving,
          charging: reading.charging,
          busy: reading.busy,
        });
      } catch (error) {
        if (error instanceof TeslaError && error.failure === 'vehicle_unavailable')
          observe(d, { kind: 'unavailable' });
        else await failed([d], 'data', error);
      }
    }
    const budget = { limit: this.deps.dailyRequests, used, vehicles: linked.length };
    for (const d of due) {
      // Not touched: the budget was spent before its turn; it waits as `pace` says.
      await accounts.setVehicleState(account.id, d.vehicle.vehicleId, {
        state: d.plan.state.mode,
        data: { ...d.vehicle.data, plan: d.plan },
        nextPollMs: pace(d.plan, budget, now, blockedUntilMs),
      });
    }
  }
}

function storedPlan(vehicle: LinkedVehicle): PollPlan | null {
  const plan = vehicle.data.plan as PollPlan | undefined;
  return plan && typeof plan === 'object' && typeof plan.atMs === 'number' && plan.state ? plan : null;
}
