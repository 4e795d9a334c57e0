import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import {
  type CognitoCredentials,
  type VinFastCloud,
  VinFastSignInRefused,
  VinFastUnauthorized,
} from './vinfast-cloud.js';
import { presignIotUrl } from './vinfast-sigv4.js';

/** Cognito credentials live an hour; new ones (and a new URL) are fetched this long before they expire. */
export const RENEW_BEFORE_MS = 5 * 60_000;
/** The app publishes a heartbeat this often (mvn-bachhuynh-dn/VFDashboard `heartbeatInterval`). */
export const HEARTBEAT_MS = 120_000;
const BACKOFF_FIRST_MS = 5_000;
const BACKOFF_MAX_MS = 60_000;
/** The app's MQTT keep-alive, seconds. */
const KEEPALIVE_S = 300;

export const pushTopic = (vin: string) => `/mobile/${vin}/push`;
const heartbeatTopic = (vin: string) => `/vehicles/${vin}/push/connected/heartbeat`;

export type StreamState = 'connecting' | 'live' | 'waiting' | 'reauth' | 'stopped';

export interface VinFastStreamDeps {
  readonly clock: Clock;
  readonly cloud: VinFastCloud;
  readonly logger: Logger;
  /** Who this stream is (an account id), for logs and the MQTT client id. */
  readonly name: string;
  /** Runs `fn` with the account's access token; refreshes once on a 401 and retries. */
  withAccess<T>(fn: (accessToken: string) => Promise<T>): Promise<T>;
  /** The account's ID token; `afterRefresh` refreshes the tokens first (Cognito refused the old one). */
  idToken(afterRefresh: boolean): Promise<string>;
  /** VINs to receive now. */
  vins(): readonly string[];
  /** Device keys to ask each car to push (list_resource). */
  resources(vin: string): ReadonlyArray<{ objectId: string; instanceId: string; resourceId: string }>;
  onMessage(vin: string, topic: string, payload: Buffer): Promise<void>;
  onState(state: StreamState, reason?: string): void;
}

/**
 * One account's live connection to AWS IoT: Cognito credentials federated from the Auth0 ID token (renewed
 * 5 minutes before they expire), a SigV4-presigned MQTT-over-WebSocket connection (MQTT 3.1.1, clean
 * session), `/mobile/<VIN>/push` per vehicle, the push started with list_resource after each connect, a
 * heartbeat every 120 s, reconnects with back-off 5 → 60 s. Time comes from the clock, and `tick()` does
 * whatever is due, so a test drives an hour with a manual clock; the owner calls `tick()` every second.
 */
export class VinFastStream {
  private client: MqttClient | null = null;
  private credentials: CognitoCredentials | null = null;
  private subscribed = new Set<string>();
  private attempt = 0;
  private nextAttemptMs = 0;
  private lastHeartbeatMs = 0;
  private busy: Promise<void> | null = null;
  private stopped = false;
  private state: StreamState | null = null;
  private connections = 0;

  constructor(private readonly deps: VinFastStreamDeps) {}

  /** Stopped for good: the account needs a new sign-in (a new stream starts once it has one). */
  get needsSignIn(): boolean {
    return this.state === 'reauth';
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  /** Does what is due now; concurrent calls share one run. */
  tick(): Promise<void> {
    if (!this.busy) {
      this.busy = this.step().finally(() => {
        this.busy = null;
      });
    }
    return this.busy;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.busy?.catch(() => {});
    await this.disconnect();
    this.setState('stopped');
  }

  private setState(state: StreamState, reason?: string): void {
    if (this.state === state && state !== 'waiting') return;
    this.state = state;
    this.deps.onState(state, reason);
  }

  private async step(): Promise<void> {
    if (this.stopped || this.state === 'reauth') return;
    const now = this.deps.clock.now();
    const vins = this.deps.vins();
    if (vins.length === 0) {
      await this.disconnect();
      return;
    }
    if (now < this.nextAttemptMs) return;
    try {
      if (!this.credentials || this.credentials.expirationMs - RENEW_BEFORE_MS <= now) {
        this.setState('connecting');
        this.credentials = await this.fetchCredentials();
        // A new URL is signed with the new credentials; the old connection goes.
        await this.disconnect();
      }
      if (!this.connected) {
        this.setState('connecting');
        await this.connect();
        this.attempt = 0;
        this.setState('live');
        await this.startPush(vins);
        return;
      }
      await this.syncSubscriptions(vins);
      if (now - this.lastHeartbeatMs >= HEARTBEAT_MS) this.heartbeat(vins);
    } catch (error) {
      await this.failed(error);
    }
  }

  private async failed(error: unknown): Promise<void> {
    await this.disconnect();
    if (error instanceof VinFastSignInRefused) {
      this.credentials = null;
      this.setState('reauth', 'sign in to VinFast again');
      return;
    }
    this.scheduleRetry();
    const reason = error instanceof Error ? error.message : 'connection failed';
    this.deps.logger.warn({ account: this.deps.name, reason }, 'vinfast stream: will retry');
    this.setState('waiting', reason);
  }

  private scheduleRetry(): void {
    this.attempt += 1;
    const delay = Math.min(BACKOFF_FIRST_MS * 2 ** (this.attempt - 1), BACKOFF_MAX_MS);
    this.nextAttemptMs = this.deps.clock.now() + delay;
  }

  /** The delay before the next attempt, for tests and the account view. */
  get retryAtMs(): number {
    return this.nextAttemptMs;
  }

  private async fetchCredentials(): Promise<CognitoCredentials> {
    const { cloud } = this.deps;
    let creds: CognitoCredentials;
    try {
      creds = await cloud.credentials(await this.deps.idToken(false));
    } catch (error) {
      if (!(error instanceof VinFastUnauthorized)) throw error;
      // The ID token expired (it lives as long as the access token): refresh and try once more.
      creds = await cloud.credentials(await this.deps.idToken(true));
    }
    await this.deps.withAccess((token) => cloud.attachPolicy(token, creds.identityId));
    return creds;
  }

  private async connect(): Promise<void> {
    const { cloud } = this.deps;
    if (!cloud.endpoints.iotUrl) throw new Error('no AWS IoT endpoint is known for this region');
    const url = presignIotUrl({
      url: cloud.endpoints.iotUrl,
      region: cloud.endpoints.awsRegion,
      credentials: this.credentials!,
      nowMs: this.deps.clock.now(),
    });
    this.connections += 1;
    const client = mqtt.connect(url, {
      protocolVersion: 4,
      clean: true,
      keepalive: KEEPALIVE_S,
      reconnectPeriod: 0,
      connectTimeout: 15_000,
      clientId: `tacho-${this.deps.name.slice(0, 12)}-${this.connections}`,
    });
    // Errors are reported through 'close' and the connect promise; an unhandled 'error' would throw.
    client.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('close', () => reject(new Error('AWS IoT refused the connection')));
    });
    this.client = client;
    this.subscribed.clear();
    client.on('close', () => {
      if (this.client !== client) return;
      this.client = null;
      if (this.stopped) return;
      this.scheduleRetry();
      this.setState('waiting', 'connection lost');
    });
    client.on('message', (topic, payload) => {
      const vin = /^\/mobile\/([^/]+)\/push$/.exec(topic)?.[1];
      if (!vin || !this.subscribed.has(vin)) return;
      this.deps.onMessage(vin, topic, payload).catch((error: unknown) => {
        this.deps.logger.warn(
          { account: this.deps.name, err: error instanceof Error ? error.message : 'unknown' },
          'vinfast stream: a message was not stored',
        );
      });
    });
  }

  private async syncSubscriptions(vins: readonly string[]): Promise<string[]> {
    const client = this.client;
    if (!client) return [];
    const added: string[] = [];
    for (const vin of vins) {
      if (this.subscribed.has(vin)) continue;
      await client.subscribeAsync(pushTopic(vin), { qos: 1 });
      this.subscribed.add(vin);
      added.push(vin);
    }
    for (const vin of [...this.subscribed]) {
      if (vins.includes(vin)) continue;
      this.subscribed.delete(vin);
      await client.unsubscribeAsync(pushTopic(vin));
    }
    if (added.length > 0 && added.length !== vins.length) await this.register(added);
    return added;
  }

  /** After a connect: subscribe, then ask each car to push (device trust first, then list_resource). */
  private async startPush(vins: readonly string[]): Promise<void> {
    await this.syncSubscriptions(vins);
    this.heartbeat(vins);
    await this.register(vins);
  }

  private async register(vins: readonly string[]): Promise<void> {
    const { cloud } = this.deps;
    try {
      await this.deps.withAccess((token) => cloud.deviceTrust(token, `tacho-${this.deps.name}`));
      for (const vin of vins) {
        const resources = this.deps.resources(vin);
        if (resources.length === 0) continue;
        await this.deps.withAccess((token) => cloud.listResource(token, vin, resources));
      }
    } catch (error) {
      if (error instanceof VinFastSignInRefused) throw error;
      // The stream stays up: a car may push anyway, and the next connect asks again.
      this.deps.logger.warn(
        { account: this.deps.name, reason: error instanceof Error ? error.message : 'unknown' },
        'vinfast stream: could not start the push',
      );
    }
  }

  private heartbeat(vins: readonly string[]): void {
    const client = this.client;
    if (!client) return;
    this.lastHeartbeatMs = this.deps.clock.now();
    for (const vin of vins) {
      const payload = JSON.stringify({
        version: '1.2',
        timestamp: this.lastHeartbeatMs,
        trans_id: randomUUID(),
        content: { '34183': { '1': { '54': '2' } } },
      });
      client.publish(heartbeatTopic(vin), payload, { qos: 0 });
    }
  }

  private async disconnect(): Promise<void> {
    const client = this.client;
    this.client = null;
    this.subscribed.clear();
    if (client) await client.endAsync(true).catch(() => {});
  }
}
