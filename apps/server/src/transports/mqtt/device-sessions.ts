import type { Client } from 'aedes';
import type { EventBus } from '../../lib/events.js';
import type { Logger } from '../../lib/logger.js';

/** What a device connection was authenticated with: its vehicle and the token (and who made it). */
export interface DeviceCredentials {
  readonly vehicleId: string;
  readonly tokenId: string;
}

export interface DeviceSessionsDeps {
  events: EventBus;
  /** Of these device tokens, the ids that still authenticate (Auth.validDeviceTokens). */
  validDeviceTokens(tokenIds: readonly string[]): Promise<ReadonlySet<string>>;
  /**
   * Ends a connection whose credentials no longer count. It must refuse the connection's publishes from
   * this moment, before the socket is gone.
   */
  end(client: Client, reason: string): void;
  /** How often every connection's token is re-checked, in case a revocation's event was lost. */
  recheckMs: number;
  logger: Logger;
}

/**
 * The device connections of this instance's broker, by the token and vehicle that authenticated them, so
 * a revocation finds them: a revoked token ends its connections at once; a vehicle's deletion, an
 * unshare or a lowered right re-checks the tokens concerned (one query per 500 connections), and so
 * does a periodic round, the backstop for an event lost between instances. The publish path itself only
 * looks the connection up in memory.
 */
export class DeviceSessions {
  private readonly byClient = new Map<Client, DeviceCredentials>();
  private readonly timer: NodeJS.Timeout;
  private readonly offs: Array<() => void>;
  private rechecking = false;

  constructor(private readonly deps: DeviceSessionsDeps) {
    this.offs = [
      deps.events.on('token.revoked', ({ tokenId }) => {
        for (const [client, c] of this.byClient) if (c.tokenId === tokenId) this.end(client, 'token revoked');
      }),
      deps.events.on('access.revoked', ({ vehicleId }) =>
        this.recheck((c) => vehicleId === undefined || c.vehicleId === vehicleId),
      ),
    ];
    this.timer = setInterval(() => void this.recheckAll(), deps.recheckMs);
    this.timer.unref();
  }

  add(client: Client, credentials: DeviceCredentials): void {
    this.byClient.set(client, credentials);
  }

  /** The connection is gone. */
  delete(client: Client): void {
    this.byClient.delete(client);
  }

  get size(): number {
    return this.byClient.size;
  }

  /** Re-checks the tokens of the connections that `which` selects; ends those that no longer count. */
  async recheck(which: (c: DeviceCredentials) => boolean): Promise<void> {
    const chosen = [...this.byClient].filter(([, c]) => which(c));
    if (chosen.length === 0) return;
    let valid: ReadonlySet<string>;
    try {
      valid = await this.deps.validDeviceTokens([...new Set(chosen.map(([, c]) => c.tokenId))]);
    } catch (error) {
      // The database is away: the next event or round checks again.
      this.deps.logger.warn({ err: error }, 'mqtt device re-check failed');
      return;
    }
    for (const [client, c] of chosen) {
      if (!valid.has(c.tokenId) && this.byClient.get(client) === c) this.end(client, 'credentials revoked');
    }
  }

  /** The periodic round: every connection; a slow round is not overlapped by the next. */
  private async recheckAll(): Promise<void> {
    if (this.rechecking) return;
    this.rechecking = true;
    try {
      await this.recheck(() => true);
    } finally {
      this.rechecking = false;
    }
  }

  private end(client: Client, reason: string): void {
    this.byClient.delete(client);
    this.deps.end(client, reason);
  }

  close(): void {
    clearInterval(this.timer);
    for (const off of this.offs) off();
  }
}

/**
 * Which vehicle holds each MQTT client id on this broker: by a connection, or by a session the broker
 * keeps for it (clean = false: subscriptions and queued messages under that id). aedes would let a
 * CONNECT with a taken id close the connection holding it and take its session over; a device of another
 * vehicle must be refused instead (the same vehicle's device reconnecting takes over, as MQTT says).
 */
export class ClientIdOwners {
  /** client id → the vehicle holding it, and the connection (null once gone with its session kept). */
  private readonly owners = new Map<string, { vehicleId: string; client: Client | null }>();

  /** Claims the client's id for the vehicle; false when another vehicle holds it. */
  claim(client: Client, vehicleId: string): boolean {
    const owner = this.owners.get(client.id);
    if (owner && owner.vehicleId !== vehicleId && holds(owner.client)) return false;
    this.owners.set(client.id, { vehicleId, client });
    return true;
  }

  /** The connection ended: its id is free again, unless the broker keeps its session. */
  release(client: Client): void {
    const owner = this.owners.get(client.id);
    if (owner?.client !== client) return;
    if (client.clean) this.owners.delete(client.id);
    else owner.client = null;
  }
}

/**
 * Whether a claim still stands: a kept session does, and so does an open connection; a connection that
 * closed before the broker registered it (so no release came) holds only if its session is kept.
 */
function holds(client: Client | null): boolean {
  return client === null || !client.closed || !client.clean;
}
