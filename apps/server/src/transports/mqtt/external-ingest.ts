import type { Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import type { DeviceTopic, DeviceTopics } from '../../features/telemetry/index.js';
import type { Logger } from '../../lib/logger.js';

export interface ExternalIngestOptions {
  url: string;
  username?: string;
  password?: string;
  /** Fixed, so the broker keeps the session (and the messages queued for it) while we are away. */
  clientId: string;
  /** Instances in the same group split the messages between them. */
  shareGroup?: string;
  topics: DeviceTopics;
  vehicleIdByVin(vin: string): Promise<string | null>;
  /** Keeps a message for a VIN no vehicle has as a dead letter; resolves once committed. */
  rejectUnknown(topic: string, vin: string, payload: Buffer): Promise<unknown>;
  logger: Logger;
}

export interface ExternalIngest {
  readonly client: MqttClient;
  /** True while connected to the broker. */
  connected(): boolean;
  close(): Promise<void>;
}

/** Whether an MQTT topic matches a filter with `+` and `#` wildcards. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * Subscribes to an external broker (Mosquitto, EMQX) instead of hosting one. MQTT 5 with a fixed client
 * id and a session that outlives the connection, QoS 1 through a shared subscription, and each PUBACK
 * sent only after commit (`customHandleAcks`): a message the server took but did not store is delivered
 * again by the broker, to this instance or another.
 */
export async function startExternalIngest(options: ExternalIngestOptions): Promise<ExternalIngest> {
  const group = options.shareGroup ?? 'tacho';
  // Read on each use: source formats may add their topic families after this started.
  const families = () => options.topics.all().filter((t) => t.external);

  async function handle(topic: string, payload: Buffer): Promise<void> {
    const family: DeviceTopic | undefined = families().find((t) => topicMatches(t.external!.filter, topic));
    if (!family) return;
    const vin = family.external!.vinOf(topic);
    const vehicleId = vin ? await options.vehicleIdByVin(vin) : null;
    if (!vin || !vehicleId) {
      await options.rejectUnknown(topic, vin ?? '', payload);
      return;
    }
    await family.handle({ vehicleId, vin }, topic, payload);
  }

  const client = mqtt.connect(options.url, {
    clientId: options.clientId,
    clean: false,
    protocolVersion: 5,
    // MQTT 5 ends a session when the connection ends unless told otherwise: keep it a week.
    properties: { sessionExpiryInterval: 7 * 24 * 3600 },
    ...(options.username ? { username: options.username } : {}),
    ...(options.password ? { password: options.password } : {}),
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    resubscribe: false,
    customHandleAcks: (topic, message, _packet, done) => {
      handle(topic, message).then(
        () => done(0),
        (error: unknown) => {
          // Not stored (shutting down): no PUBACK, so the broker delivers it again later.
          options.logger.warn({ err: error, topic }, 'external MQTT message not stored');
        },
      );
    },
  });
  client.on('connect', (connack) => {
    (client.stream as Partial<Socket>).setNoDelay?.(true);
    options.logger.info(
      { url: redact(options.url), sessionPresent: connack.sessionPresent },
      'connected to MQTT broker',
    );
    const filters = families().map((t) => `$share/${group}/${t.external!.filter}`);
    client.subscribe(filters, { qos: 1 }, (error) => {
      if (error) options.logger.error({ err: error }, 'MQTT subscription failed');
    });
  });
  client.on('error', (error) => options.logger.warn({ err: error.message }, 'MQTT broker connection error'));
  client.on('offline', () => options.logger.warn('MQTT broker unreachable; reconnecting'));

  await new Promise<void>((resolve) => {
    // Start even when the broker is down: the client keeps reconnecting and /ready says so meanwhile.
    const timer = setTimeout(resolve, 5000);
    client.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
  });

  return {
    client,
    connected: () => client.connected,
    close: () =>
      new Promise<void>((resolve) => {
        client.end(false, {}, () => resolve());
      }),
  };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}
