import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { FormatIngest } from '../formats/index.js';
import type { ConnectorAccount, ConnectorAccounts } from './accounts.js';
import { REAUTH_REASON, type VinFastService } from './vinfast.service.js';
import { type StreamState, VinFastStream } from './vinfast-stream.js';

/** How long this instance's hold on an account lasts without renewal (another instance takes over after). */
export const VINFAST_LEASE_MS = 60_000;
/** How often leases (and the accounts' linked vehicles) are read again. */
const CLAIM_EVERY_MS = 15_000;

interface Running {
  readonly stream: VinFastStream;
  vins: Map<string, LinkedCar>;
}

type Resource = { objectId: string; instanceId: string; resourceId: string };

interface LinkedCar {
  readonly vehicleId: string;
  /** The device keys Tacho maps for the car's model: what list_resource asks the car to push. */
  readonly resources: Resource[];
}

/**
 * Runs the live streams of the VinFast accounts this instance holds: one owner per account across
 * instances (the runtime lease in connector_accounts), one stream per account with linked vehicles.
 * Pushed messages go to the VinFast decoder and the one ingestion pipeline, as if the car had published
 * `/mobile/<VIN>/push` to Tacho's own broker.
 */
export class VinFastRuntime {
  private readonly running = new Map<string, Running>();
  private lastClaimMs = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;
  private busy: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly deps: {
      db: Db;
      accounts: ConnectorAccounts;
      service: VinFastService;
      ingest: FormatIngest;
      clock: Clock;
      logger: Logger;
      instanceId: string;
    },
  ) {}

  /** Ticks every `tickMs` of real time until `stop`. */
  start(tickMs: number): void {
    this.timer = setInterval(() => {
      this.tick().catch((error: unknown) =>
        this.deps.logger.warn(
          { err: error instanceof Error ? error.message : 'unknown' },
          'vinfast runtime tick failed',
        ),
      );
    }, tickMs);
    this.timer.unref();
  }

  /** Claims leases when due, starts and stops streams, and lets each stream do what is due. */
  tick(): Promise<void> {
    if (!this.busy) {
      this.busy = this.step().finally(() => {
        this.busy = null;
      });
    }
    return this.busy;
  }

  /** The stream of an account on this instance (tests). */
  stream(accountId: string): VinFastStream | undefined {
    return this.running.get(accountId)?.stream;
  }

  /** Forgets an account at once (it was disconnected here). */
  removed(accountId: string): void {
    const running = this.running.get(accountId);
    if (!running) return;
    this.running.delete(accountId);
    void running.stream.stop();
  }

  /** Reads leases on the next tick (a vehicle was added). */
  refreshSoon(): void {
    this.lastClaimMs = Number.NEGATIVE_INFINITY;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.busy?.catch(() => {});
    await Promise.all([...this.running.values()].map((r) => r.stream.stop()));
    this.running.clear();
    await this.deps.accounts.releaseLeases('vinfast', this.deps.instanceId).catch(() => {});
  }

  private async step(): Promise<void> {
    if (this.stopped) return;
    const now = this.deps.clock.now();
    if (now - this.lastClaimMs >= CLAIM_EVERY_MS) {
      this.lastClaimMs = now;
      const held = await this.deps.accounts.claimLeases('vinfast', this.deps.instanceId, VINFAST_LEASE_MS);
      await this.reconcile(held);
    }
    await Promise.all([...this.running.values()].map((r) => r.stream.tick()));
  }

  private async reconcile(held: readonly ConnectorAccount[]): Promise<void> {
    const wanted = new Map<string, ConnectorAccount>();
    for (const account of held) if (account.state !== 'reauth_needed') wanted.set(account.id, account);
    for (const [id, running] of this.running) {
      if (wanted.has(id)) continue;
      this.running.delete(id);
      await running.stream.stop();
    }
    for (const account of wanted.values()) {
      const vins = await this.linkedVins(account.id);
      const running = this.running.get(account.id);
      if (running && !running.stream.needsSignIn) {
        running.vins = vins;
        continue;
      }
      // The owner signed in again since this stream gave up: start afresh.
      if (running) await running.stream.stop();
      if (vins.size === 0) continue;
      this.running.set(account.id, { stream: this.newStream(account), vins });
    }
  }

  private async linkedVins(accountId: string): Promise<Running['vins']> {
    const rows = await this.deps.db
      .selectFrom('connector_vehicles')
      .innerJoin('vehicles', 'vehicles.id', 'connector_vehicles.vehicle_id')
      .select([
        'connector_vehicles.external_id as vin',
        'vehicles.id',
        'vehicles.make',
        'vehicles.model',
        'vehicles.year',
      ])
      .where('connector_vehicles.account_id', '=', accountId)
      .execute();
    const out: Running['vins'] = new Map();
    for (const r of rows) {
      const mappings = await this.deps.ingest.mappingsFor({
        id: r.id,
        make: r.make,
        model: r.model,
        year: r.year,
      });
      const resources = [...mappings.keys()].map((key) => {
        const [objectId, instanceId, resourceId] = key.split('_').map((p) => String(Number(p))) as [
          string,
          string,
          string,
        ];
        return { objectId, instanceId, resourceId };
      });
      out.set(r.vin, { vehicleId: r.id, resources });
    }
    return out;
  }

  private newStream(account: ConnectorAccount): VinFastStream {
    const { service, ingest, logger } = this.deps;
    const id = account.id;
    const vinsOf = (): Running['vins'] => this.running.get(id)?.vins ?? new Map();
    return new VinFastStream({
      clock: this.deps.clock,
      cloud: service.cloud(account.region),
      logger,
      name: id,
      withAccess: (fn) => service.withAccess(id, fn),
      idToken: (afterRefresh) => service.idToken(id, afterRefresh),
      vins: () => [...vinsOf().keys()],
      resources: (vin) => vinsOf().get(vin)?.resources ?? [],
      onMessage: async (vin, topic, payload) => {
        const car = vinsOf().get(vin);
        if (!car) return;
        await ingest.vinfastMqtt({ vehicleId: car.vehicleId, vin }, topic, payload);
      },
      onState: (state: StreamState, reason?: string) => {
        void this.saveState(account, state, reason ?? null);
      },
    });
  }

  private async saveState(
    account: ConnectorAccount,
    state: StreamState,
    reason: string | null,
  ): Promise<void> {
    try {
      const current = await this.deps.accounts.get(account.id);
      if (!current) return;
      await this.deps.accounts.setData(account.id, { ...current.data, stream: { state, reason } });
      if (state === 'reauth' && current.state !== 'reauth_needed')
        await this.deps.accounts.setState(account.id, 'reauth_needed', REAUTH_REASON);
    } catch (error) {
      this.deps.logger.warn(
        { err: error instanceof Error ? error.message : 'unknown' },
        'vinfast stream state not saved',
      );
    }
  }
}
