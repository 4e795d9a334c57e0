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
  /**
   * Instances in the same group split the messages between them (`$share/<group>/…`). Without one this
   * instance subscribes on its own and gets every message, and the broker keeps that subscription over its
   * own restart (Mosquitto 2.0 does not keep shared ones: decision 0015).
   */
  shareGroup?: string;
  topics: DeviceTopics;
  /** The vehicle a topic names, by VIN or id (topics take either). */
  vehicleIdByVin(vinOrId: string): Promise<string | null>;
  /** Keeps a message for a VIN no vehicle has as a dead letter; resolves once committed. */
  rejectUnknown(topic: string, vin: string, payload: Buffer): Promise<unknown>;
  logger: Logger;
  /** Messages the broker may have sent us unacknowledged at once (MQTT 5 receive maximum); default 5,000. */
  receiveMaximum?: number;
}

/**
 * PUBACKs wait for the commit, so this bounds what the server holds from the broker: a backlog there (a
 * slow database, a restart after a long outage) stays at the broker instead of filling this process.
 * Room for a full batch being written and the next one filling.
 */
const RECEIVE_MAXIMUM = 5000;

/** The group every Tacho used before the share group became a setting (a session may still hold it). */
const FORMER_SHARE_GROUP = 'tacho';

/** MQTT 5 DISCONNECT reason: another connection with our client id took the session over. */
const SESSION_TAKEN_OVER = 0x8e;

export interface ExternalIngest {
  readonly client: MqttClient;
  /** True while connected to the broker and subscribed. */
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
 * id and a session that outlives the connection, QoS 1 (through a shared subscription when a group is
 * set), and each PUBACK sent only after commit (`customHandleAcks`): a message the server took but did
 * not store is delivered again by the broker, to this instance or another.
 */
export async function startExternalIngest(options: ExternalIngestOptions): Promise<ExternalIngest> {
  const subscription = (filter: string) =>
    options.shareGroup ? `$share/${options.shareGroup}/${filter}` : filter;
  /** What an earlier run with another mode or group may have left in the session, for this filter. */
  const leftovers = (filter: string) =>
    [filter, `$share/${FORMER_SHARE_GROUP}/${filter}`].filter((f) => f !== subscription(filter));
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
    await family.handle({ vehicleId, vin: vin === vehicleId ? null : vin }, topic, payload);
  }

  const receiveMaximum = options.receiveMaximum ?? RECEIVE_MAXIMUM;
  /** Messages taken from the broker and not yet committed. */
  let uncommitted = 0;
  const client = mqtt.connect(options.url, {
    clientId: options.clientId,
    clean: false,
    protocolVersion: 5,
    // MQTT 5 ends a session when the connection ends unless told otherwise: keep it a week. The broker
    // sends at most `receiveMaximum` messages before it sees their PUBACKs (MQTT 5 §4.9).
    properties: {
      sessionExpiryInterval: 7 * 24 * 3600,
      receiveMaximum,
    },
    ...(options.username ? { username: options.username } : {}),
    ...(options.password ? { password: options.password } : {}),
    // Short: Mosquitto (2.0) forgets shared subscriptions over its own restart even when it keeps the
    // session, so in a share group messages published before we subscribe again are dropped.
    reconnectPeriod: 250,
    connectTimeout: 10_000,
    resubscribe: false,
    customHandleAcks: (topic, message, packet, done) => {
      const stored = handle(topic, message);
      stored.catch((error: unknown) =>
        options.logger.warn({ err: error, topic }, 'external MQTT message not stored'),
      );
      uncommitted++;
      const settled = () => {
        uncommitted--;
      };
      stored.then(settled, settled);
      if (!deferAck(client, packet.messageId, stored) || uncommitted > receiveMaximum) {
        // Answering once committed makes mqtt.js read no further meanwhile, so the broker's messages wait
        // in the socket and at the broker. Without the deferral hook that is every message (correct but
        // slow); with it, only beyond the receive maximum, which a broker that miscounts its quota
        // (Mosquitto 2.0.11 after partial acknowledgements) could otherwise overrun without bound.
        stored.then(
          () => done(0),
          () => {},
        );
        return;
      }
      done(0);
    },
  });
  // QoS 0 (the publisher's choice: fleet-telemetry's default): mqtt.js gives such messages to
  // `customHandleAcks` never, only to `handleMessage`, whose answer it awaits before reading on. They are
  // stored too (nothing to acknowledge): the answer comes at once while at most `receiveMaximum` messages
  // wait for their commit (a group of Tesla fields needs the next messages read before it commits), and
  // at the commit beyond that, so a flood waits at the broker, not in this process.
  const handleMessage = client.handleMessage.bind(client);
  client.handleMessage = (packet, callback) => {
    if (packet.qos !== 0) return handleMessage(packet, callback);
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const stored = handle(packet.topic, payload);
    stored.catch((error: unknown) =>
      options.logger.warn({ err: error, topic: packet.topic }, 'external MQTT message not stored'),
    );
    uncommitted++;
    const settled = () => {
      uncommitted--;
    };
    stored.then(settled, settled);
    if (uncommitted > receiveMaximum)
      stored.then(
        () => callback(),
        () => callback(),
      );
    else callback();
  };
  let subscribed = false;
  client.on('close', () => {
    subscribed = false;
  });
  client.on('connect', (connack) => {
    (client.stream as Partial<Socket>).setNoDelay?.(true);
    options.logger.info(
      { url: redact(options.url), sessionPresent: connack.sessionPresent },
      'connected to MQTT broker',
    );
    const filters = families().map((t) => t.external!.filter);
    client.subscribe(filters.map(subscription), { qos: 1 }, (error) => {
      if (error) options.logger.error({ err: error }, 'MQTT subscription failed');
      else subscribed = true;
    });
    // A resumed session keeps its subscriptions: one from before a change of mode would go on delivering
    // every message a second time (or, in a group, all of them besides this instance's share).
    if (connack.sessionPresent) client.unsubscribe(filters.flatMap(leftovers), () => {});
  });
  let takenOverLogged = 0;
  client.on('disconnect', (packet) => {
    // Two instances with one client id take the session from each other at every reconnect: say so once a
    // minute, not four times a second.
    if (packet.reasonCode !== SESSION_TAKEN_OVER || Date.now() - takenOverLogged < 60_000) return;
    takenOverLogged = Date.now();
    options.logger.error(
      { clientId: options.clientId },
      'another MQTT client with this client id took over the session: give each instance its own TACHO_MQTT_CLIENT_ID',
    );
  });
  client.on('error', (error) => options.logger.warn({ err: error.message }, 'MQTT broker connection error'));
  client.on('offline', () => options.logger.warn('MQTT broker unreachable; reconnecting'));

  await new Promise<void>((resolve) => {
    // Start even when the broker is down: the client keeps reconnecting and /ready says so meanwhile.
    const timer = setTimeout(resolve, 5000);
    client.once('packetreceive', function onPacket(packet) {
      if (packet.cmd !== 'suback') return void client.once('packetreceive', onPacket);
      clearTimeout(timer);
      resolve();
    });
  });

  return {
    client,
    connected: () => client.connected && subscribed,
    close: () =>
      new Promise<void>((resolve) => {
        client.end(false, {}, () => resolve());
      }),
  };
}

type SendPacket = (packet: { cmd: string; messageId?: number }, cb?: () => void, ...rest: unknown[]) => void;

const deferrals = new WeakMap<
  MqttClient,
  (messageId: number | undefined, stored: Promise<unknown>) => boolean
>();

/**
 * mqtt.js reads the next packet only after the previous one's PUBACK is sent, and sends it as soon as
 * `customHandleAcks` answers. Waiting there for the commit would cap ingestion at one message per batch
 * flush. So the answer is given at once and the PUBACK itself is held (mqtt.js's `_sendPacket`, its one
 * writer) until the message is committed, in the order the messages came, as MQTT requires. PUBACKs held
 * from a connection that has since dropped are never sent: the broker redelivers those messages.
 */
function deferAck(client: MqttClient, messageId: number | undefined, stored: Promise<unknown>): boolean {
  let defer = deferrals.get(client);
  if (!defer) {
    const target = client as unknown as { _sendPacket?: SendPacket };
    const original = target._sendPacket?.bind(client);
    if (!original) return false;
    const held = new Map<number, Promise<unknown>>();
    let chain: Promise<unknown> = Promise.resolve();
    let generation = 0;
    client.on('close', () => {
      generation++;
      held.clear();
      chain = Promise.resolve();
    });
    target._sendPacket = (packet, cb, ...rest) => {
      const commit =
        packet.cmd === 'puback' && packet.messageId !== undefined ? held.get(packet.messageId) : undefined;
      if (!commit) return original(packet, cb, ...rest);
      held.delete(packet.messageId!);
      const at = generation;
      chain = Promise.all([chain, commit]).then(
        () => {
          if (at === generation) original(packet, undefined, ...rest);
        },
        () => {
          // Not stored (shutting down): no PUBACK; later ones wait behind it until the connection ends.
          return new Promise(() => {});
        },
      );
      cb?.();
    };
    defer = (id, commit) => {
      if (id === undefined) return false;
      held.set(id, commit);
      return true;
    };
    deferrals.set(client, defer);
  }
  return defer(messageId, stored);
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}
