import type { Aedes, AuthenticateError, Client } from 'aedes';
import type { Audit, Principal } from '../../features/auth/index.js';
import {
  commandsTopicRef,
  type DeviceIdentity,
  type DeviceTopics,
  type FleetIdentity,
  type FleetLogin,
  namesDevice,
} from '../../features/telemetry/index.js';
import type { EventBus } from '../../lib/events.js';
import type { Logger } from '../../lib/logger.js';
import { ClientIdOwners, DeviceSessions } from './device-sessions.js';
import { RefusalAudit } from './refusal-audit.js';

export interface DeviceIngestDeps {
  /** MQTT: username = VIN or vehicle id, password = that vehicle's token (features/auth). */
  authenticateDevice(username: string, password: string): Promise<Principal | null>;
  topics: DeviceTopics;
  logger: Logger;
  /** Revocations (token revoked, vehicle deleted or unshared, rights lowered) end device connections. */
  events: EventBus;
  /** Of these device tokens, the ids that still authenticate (features/auth). */
  validDeviceTokens(tokenIds: readonly string[]): Promise<ReadonlySet<string>>;
  /** Refused connects, publishes and subscriptions are audit lines. */
  audit: Audit;
  /** How often every connection's token is re-checked, in case a revocation's event was lost (10 s). */
  recheckMs?: number;
}

// CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3); aedes maps them for MQTT 5 clients.
const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

/** QoS 1 messages a device may have read but not yet committed before its reads wait for commits. */
const MAX_UNCOMMITTED = 100;
/**
 * The same for a fleet login: one connection carries every car's fields (one message per field), each
 * held for its group's window before it commits, so a bound of 100 would let a fleet through at 100
 * messages per window.
 */
const MAX_UNCOMMITTED_FLEET = 20_000;

interface PendingAck {
  readonly messageId: number;
  /** null until the commit settles; then true (stored) or why it was not. */
  result: true | Error | null;
}

function refusal(returnCode: number, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/** Wildcards (and NUL) have no business in an identity; they would widen topic rules built from it. */
function hasWildcard(value: string): boolean {
  return value.includes('+') || value.includes('#') || value.includes('\0');
}

/**
 * Makes the embedded broker a device gateway: devices log in as their vehicle, may publish only to their
 * own topics and subscribe only to their own commands topic, and a QoS 1 PUBACK leaves only after the
 * message is committed (aedes sends it when the `published` callback runs).
 */
export function attachDeviceIngest(aedes: Aedes, deps: DeviceIngestDeps): void {
  const devices = new WeakMap<Client, DeviceIdentity>();
  /** Connections of a fleet login (Tesla's fleet-telemetry server): many vehicles, one user's token. */
  const fleets = new WeakMap<Client, { login: FleetLogin; identity: FleetIdentity }>();
  /** Per connection, QoS 0 messages of grouping topic families read and not yet committed. */
  const unanswered = new WeakMap<Client, number>();
  /** Per connection, the QoS 1 messages read and not yet acknowledged, in arrival order. */
  const acks = new WeakMap<Client, PendingAck[]>();
  /** QoS 1 packets handed to the pipeline, which aedes need not publish to subscribers (see below). */
  const ingested = new WeakSet<object>();
  /** Connections with a PUBACK flush already scheduled. */
  const flushing = new WeakSet<Client>();
  const refusals = new RefusalAudit(deps.audit);
  const clientIds = new ClientIdOwners();
  /** Who each connection authenticated as, kept for its audit lines after a revocation ends it. */
  const identities = new WeakMap<
    Client,
    { vin: string | undefined; vehicleId: string | undefined; tokenId: string }
  >();
  /** Connections ended because their credentials were revoked (their last refusals say so). */
  const revoked = new WeakSet<Client>();
  const sessions = new DeviceSessions({
    events: deps.events,
    validDeviceTokens: deps.validDeviceTokens,
    recheckMs: deps.recheckMs ?? 10_000,
    logger: deps.logger,
    // Forgetting the identity refuses every later publish and subscription of the connection at once
    // (authorizePublish finds no device), before the socket is gone.
    end: (client, reason) => {
      devices.delete(client);
      fleets.delete(client);
      revoked.add(client);
      deps.logger.info({ clientId: client.id, reason }, 'mqtt device disconnected');
      client.close();
    },
  });
  aedes.on('clientDisconnect', (client) => {
    sessions.delete(client);
    clientIds.release(client);
  });
  aedes.on('closed', () => sessions.close());
  const refuseConnect = (client: Client, vin: string | undefined, returnCode: number, reason: string) => {
    refusals.refuse('mqtt.connect_refused', client, { vin, reason });
    return refusal(returnCode, reason);
  };

  aedes.authenticate = (client, username, password, done) => {
    if (typeof client.id === 'string' && hasWildcard(client.id)) {
      done(refuseConnect(client, username, IDENTIFIER_REJECTED, 'client id must not contain + or #'), false);
      return;
    }
    if (!username || !password || password.length === 0 || hasWildcard(username)) {
      const reason = 'username (VIN or vehicle id) and password (vehicle token) required';
      done(refuseConnect(client, username, BAD_USERNAME_OR_PASSWORD, reason), false);
      return;
    }
    const fleet = deps.topics.fleetLogin?.(username);
    if (fleet) return authenticateFleet(client, fleet, password.toString('utf8'), done);
    deps.authenticateDevice(username, password.toString('utf8')).then(
      (principal) => {
        if (principal?.kind !== 'vehicle') {
          done(refuseConnect(client, username, BAD_USERNAME_OR_PASSWORD, 'bad username or password'), false);
          return;
        }
        // Gone while its token was looked up: aedes drops the answer, so nothing may be claimed for it.
        if (client.closed) return done(refusal(BAD_USERNAME_OR_PASSWORD, 'connection closed'), false);
        // Only a known device learns that an id is taken, so ids cannot be probed without a token.
        if (!clientIds.claim(client, principal.vehicleId)) {
          const reason = 'client id in use by another vehicle';
          done(refuseConnect(client, username, IDENTIFIER_REJECTED, reason), false);
          return;
        }
        devices.set(client, { vehicleId: principal.vehicleId, vin: principal.vin });
        const { vin, vehicleId, tokenId } = principal;
        identities.set(client, { vin: vin ?? undefined, vehicleId, tokenId });
        sessions.add(client, { vehicleId, tokenId });
        done(null, true);
      },
      (error: unknown) => {
        deps.logger.error({ err: error }, 'mqtt authentication failed');
        done(refusal(BAD_USERNAME_OR_PASSWORD, 'authentication unavailable'), false);
      },
    );
  };

  /**
   * A fleet login (username `tesla-fleet-telemetry`): its token must carry the login's scope (CONNACK 5,
   * not authorised, otherwise); it then publishes for the vehicles its user manages, checked per message.
   */
  function authenticateFleet(
    client: Client,
    login: FleetLogin,
    password: string,
    done: (error: AuthenticateError | null, success: boolean) => void,
  ): void {
    const username = login.username;
    login.authenticate(password).then(
      (identity) => {
        if (identity === 'bad_credentials') {
          done(refuseConnect(client, username, BAD_USERNAME_OR_PASSWORD, 'bad username or password'), false);
          return;
        }
        if (identity === 'not_authorized') {
          const reason = 'the token lacks the telemetry scope';
          done(refuseConnect(client, username, NOT_AUTHORIZED, reason), false);
          return;
        }
        if (client.closed) return done(refusal(BAD_USERNAME_OR_PASSWORD, 'connection closed'), false);
        if (!clientIds.claim(client, `fleet:${identity.userId}`)) {
          const reason = 'client id in use by a vehicle';
          done(refuseConnect(client, username, IDENTIFIER_REJECTED, reason), false);
          return;
        }
        fleets.set(client, { login, identity });
        identities.set(client, { vin: username, vehicleId: undefined, tokenId: identity.tokenId });
        // Its token is re-checked with the devices' (a revoked token ends the connection at once).
        sessions.add(client, { vehicleId: '', tokenId: identity.tokenId });
        done(null, true);
      },
      (error: unknown) => {
        deps.logger.error({ err: error }, 'mqtt authentication failed');
        done(refusal(BAD_USERNAME_OR_PASSWORD, 'authentication unavailable'), false);
      },
    );
  }

  // Ingestion happens here rather than in `published`: aedes would write the QoS 1 PUBACK right after
  // this callback and before `published` runs, so this is the only hook that sees a message before any
  // acknowledgement (see acknowledgeAfterCommit).
  aedes.authorizePublish = (client, packet, done) => {
    // The broker's own messages ($SYS) have no client.
    if (!client) return done(null);
    const fleet = fleets.get(client);
    if (fleet) return publishFleet(client, fleet, packet, done);
    const device = devices.get(client);
    const topic = device ? deps.topics.find(packet.topic, device) : undefined;
    if (!device || !topic) {
      refusePublish(client, packet.topic, device);
      return done(new Error(`publishing to ${packet.topic} is not allowed`));
    }
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    let handled: Promise<unknown>;
    try {
      handled = topic.handle(device, packet.topic, payload);
    } catch (error) {
      // An exception here would escape into aedes' packet handler and end the process (issue 24.1). The
      // telemetry feature's topic families turn a throw into a dead letter (decision 0012); this is the
      // last net, for one that does not: not stored, no PUBACK, the connection closes.
      handled = Promise.reject(error);
    }
    // Settles to true or the error, never rejects: a rejection nobody listens to yet would end the process.
    const outcome = handled.then(
      () => true as const,
      (error: unknown) => error as Error,
    );
    settle(client, packet, outcome, done, topic.groups === true);
  };

  /**
   * A fleet login's publish: under its topic base (else refused like a device's stray publish, which
   * closes the connection); a vehicle its user does not manage is dropped, acknowledged and audited, so
   * one misconfigured vehicle does not cut off the others it sends for.
   */
  function publishFleet(
    client: Client,
    fleet: { login: FleetLogin; identity: FleetIdentity },
    packet: { topic: string; payload: Buffer | string; qos: number; messageId?: number },
    done: (error?: Error | null) => void,
  ): void {
    if (!fleet.login.matches(packet.topic)) {
      if (!client.closed) {
        refusals.refuse('mqtt.publish_refused', client, {
          ...identityOf(client),
          reason: 'topic not under the fleet topic base',
          topic: packet.topic,
        });
      }
      done(new Error(`publishing to ${packet.topic} is not allowed`));
      return;
    }
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    let handled: Promise<{ refused?: string }>;
    try {
      handled = fleet.login.handle(fleet.identity, packet.topic, payload);
    } catch (error) {
      handled = Promise.reject(error);
    }
    const outcome = handled.then(
      (result) => {
        if (result.refused !== undefined) {
          refusals.refuse('mqtt.publish_refused', client, {
            ...identityOf(client),
            reason: result.refused,
            topic: packet.topic,
          });
        }
        return true as const;
      },
      (error: unknown) => error as Error,
    );
    settle(client, packet, outcome, done, true);
  }

  /**
   * Answers aedes for a message handed to the pipeline. QoS 1: PUBACK after commit. QoS 0 of a grouping
   * family: at once, while the connection has at most MAX_UNCOMMITTED (a fleet login:
   * MAX_UNCOMMITTED_FLEET) such messages waiting, since a group needs the next messages read before it
   * commits. Otherwise (QoS 0 and QoS 2, aedes' own handshake) the callback waits for the commit.
   */
  function settle(
    client: Client,
    packet: { qos: number; messageId?: number },
    outcome: Promise<true | Error>,
    done: (error?: Error | null) => void,
    groups: boolean,
  ): void {
    if (packet.qos === 1) {
      acknowledgeAfterCommit(client, packet, outcome, done);
      return;
    }
    if (packet.qos === 0 && groups) {
      const waiting = (unanswered.get(client) ?? 0) + 1;
      unanswered.set(client, waiting);
      void outcome.then((result) => {
        unanswered.set(client, (unanswered.get(client) ?? 1) - 1);
        if (result !== true) notStored(client, result);
        if (waiting > uncommittedLimit(client)) done(null);
      });
      if (waiting <= uncommittedLimit(client)) done(null);
      return;
    }
    void outcome.then((result) => {
      if (result === true) return done(null);
      notStored(client, result);
      done(result);
    });
  }

  /**
   * QoS 1: this server writes the PUBACK itself once the message is committed, in the order the PUBLISH
   * packets arrived (MQTT 3.1.1 §4.6), and tells aedes at once that the packet is fine — as QoS 0, so aedes
   * sends no PUBACK of its own. aedes reads a client's next packets only when every callback of the current
   * read has answered; answering at the commit allowed each device one read per commit. A device may have
   * up to MAX_UNCOMMITTED messages waiting; beyond that the callback waits for the commit again, so memory
   * stays bounded per connection. If a message cannot be stored, no PUBACK is sent and the connection is
   * closed: the device sends it again after reconnecting.
   */
  function acknowledgeAfterCommit(
    client: Client,
    packet: { qos: number; messageId?: number },
    outcome: Promise<true | Error>,
    done: (error?: Error | null) => void,
  ): void {
    let queue = acks.get(client);
    if (!queue) {
      queue = [];
      acks.set(client, queue);
    }
    const ack: PendingAck = { messageId: packet.messageId ?? 0, result: null };
    queue.push(ack);
    void outcome.then((result) => {
      ack.result = result;
      // A commit settles many messages of a device in one go: flush once they all have their result.
      if (flushing.has(client)) return;
      flushing.add(client);
      setImmediate(() => {
        flushing.delete(client);
        flushAcks(client);
      });
    });
    packet.qos = 0;
    ingested.add(packet);
    if (queue.length <= uncommittedLimit(client)) done(null);
    else void outcome.then(() => done(null));
  }

  function uncommittedLimit(client: Client): number {
    return fleets.has(client) ? MAX_UNCOMMITTED_FLEET : MAX_UNCOMMITTED;
  }

  /**
   * Writes the PUBACKs of the committed messages at the head of the client's queue, all in one write (a
   * batch commits many messages of a device at once); stops at the first message not committed yet.
   */
  function flushAcks(client: Client): void {
    const queue = acks.get(client);
    if (!queue) return;
    let n = 0;
    while (n < queue.length && queue[n]!.result === true) n++;
    const failed = queue[n]?.result;
    if (n > 0) {
      const conn = client.conn as { writable?: boolean; write(chunk: Buffer): boolean };
      if (!client.closed && conn.writable !== false) {
        // PUBACK: fixed header 0x40, remaining length 2, the packet identifier (MQTT 3.1.1 and 5 alike).
        const bytes = Buffer.allocUnsafe(4 * n);
        for (let i = 0; i < n; i++) {
          const id = queue[i]!.messageId;
          bytes[4 * i] = 0x40;
          bytes[4 * i + 1] = 0x02;
          bytes[4 * i + 2] = id >> 8;
          bytes[4 * i + 3] = id & 0xff;
        }
        try {
          conn.write(bytes);
        } catch (error) {
          // The connection broke under us: the device sends again after reconnecting.
          deps.logger.debug({ err: error, clientId: client.id }, 'mqtt PUBACK not written');
        }
      }
      queue.splice(0, n);
    }
    if (failed instanceof Error) {
      // Nothing after a message that was not stored is acknowledged either: the connection closes.
      queue.length = 0;
      notStored(client, failed);
    }
  }

  /** The VIN, vehicle and token a connection authenticated with, for its audit lines. */
  function identityOf(client: Client): { vin: string | undefined; vehicleId?: string; tokenId?: string } {
    const identity = identities.get(client);
    if (!identity) return { vin: undefined };
    const { vin, vehicleId, tokenId } = identity;
    // A fleet login names no vehicle: its token is still worth the line.
    return vehicleId === undefined ? { vin, tokenId } : { vin, vehicleId, tokenId };
  }

  /** Why a connection without a device identity is refused. */
  function refusedWhy(client: Client): string {
    if (revoked.has(client)) return 'credentials revoked';
    return fleets.has(client) ? 'a fleet login may only publish' : 'not authenticated as a device';
  }

  function refusePublish(client: Client, topic: string, device: DeviceIdentity | undefined): void {
    // The will of a connection being closed is refused too; that is no news worth a line.
    if (client.closed) return;
    const reason = device ? 'topic not allowed' : refusedWhy(client);
    refusals.refuse('mqtt.publish_refused', client, { ...identityOf(client), reason, topic });
  }

  function notStored(client: Client, error: Error): void {
    // Not stored (shutting down): no PUBACK. Closing the connection makes the device send the message
    // again after reconnecting instead of waiting on a stalled session.
    deps.logger.warn({ err: error, clientId: client.id }, 'mqtt message not stored');
    if (!client.closed) client.close();
  }

  // A telemetry message, once ingested, has nobody to go to: devices may subscribe to their commands only,
  // and Tacho reads telemetry from the pipeline, not from the broker. Skipping aedes' fan-out for it
  // (topic matching, retained store, delivery) saves a good part of the broker's work per message.
  // aedes calls it as publish(packet, client, done) from its handlers, publish(packet, done) from outside.
  type Done = (error?: Error | null) => void;
  const publish = aedes.publish.bind(aedes) as (packet: object, client?: unknown, done?: Done) => void;
  (aedes as unknown as { publish: typeof publish }).publish = (packet, client, done) => {
    if (!ingested.delete(packet)) return publish(packet, client, done);
    (typeof client === 'function' ? (client as Done) : done)?.(null);
  };

  aedes.authorizeSubscribe = (client, subscription, done) => {
    const device = devices.get(client);
    if (device && namesDevice(commandsTopicRef(subscription.topic), device)) return done(null, subscription);
    refusals.refuse('mqtt.subscribe_refused', client, {
      ...identityOf(client),
      reason: device ? 'not its commands topic' : refusedWhy(client),
      topic: subscription.topic,
    });
    // A null subscription is answered with the SUBACK failure code 0x80; the connection stays.
    done(null, null);
  };

  // Devices receive nothing but their own commands, even if a broker-side publish would match more.
  aedes.authorizeForward = (client, packet) => {
    const device = devices.get(client);
    return device && namesDevice(commandsTopicRef(packet.topic), device) ? packet : null;
  };
}
