import type { Aedes, AuthenticateError, Client } from 'aedes';
import type { Principal } from '../../features/auth/index.js';
import { commandsTopic, type DeviceIdentity, type DeviceTopics } from '../../features/telemetry/index.js';
import type { Logger } from '../../lib/logger.js';

export interface DeviceIngestDeps {
  /** MQTT: username = VIN, password = that vehicle's token (features/auth). */
  authenticateDevice(vin: string, password: string): Promise<Principal | null>;
  topics: DeviceTopics;
  logger: Logger;
}

// CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3); aedes maps them for MQTT 5 clients.
const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;

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

  aedes.authenticate = (client, username, password, done) => {
    if (typeof client.id === 'string' && hasWildcard(client.id)) {
      done(refusal(IDENTIFIER_REJECTED, 'client id must not contain + or #'), false);
      return;
    }
    if (!username || !password || password.length === 0 || hasWildcard(username)) {
      done(refusal(BAD_USERNAME_OR_PASSWORD, 'username (VIN) and password (vehicle token) required'), false);
      return;
    }
    deps.authenticateDevice(username, password.toString('utf8')).then(
      (principal) => {
        if (principal?.kind !== 'vehicle') {
          deps.logger.info({ clientId: client.id }, 'mqtt login refused');
          done(refusal(BAD_USERNAME_OR_PASSWORD, 'bad username or password'), false);
          return;
        }
        devices.set(client, { vehicleId: principal.vehicleId, vin: principal.vin });
        done(null, true);
      },
      (error: unknown) => {
        deps.logger.error({ err: error }, 'mqtt authentication failed');
        done(refusal(BAD_USERNAME_OR_PASSWORD, 'authentication unavailable'), false);
      },
    );
  };

  // Ingestion happens here rather than in `published`: aedes writes the QoS 1 PUBACK right after this
  // callback and before `published` runs, so this is the only hook that can hold the PUBACK until commit.
  aedes.authorizePublish = (client, packet, done) => {
    // The broker's own messages ($SYS) have no client.
    if (!client) return done(null);
    const device = devices.get(client);
    const topic = device ? deps.topics.find(packet.topic, device) : undefined;
    if (!device || !topic) {
      deps.logger.info({ clientId: client.id, topic: packet.topic }, 'mqtt publish refused');
      return done(new Error(`publishing to ${packet.topic} is not allowed`));
    }
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    topic.handle(device, packet.topic, payload).then(
      () => done(null),
      (error: unknown) => {
        // Not stored (shutting down): no PUBACK. The error closes the connection, so the device sends
        // the message again after reconnecting instead of waiting on a stalled session.
        deps.logger.warn({ err: error, clientId: client.id }, 'mqtt message not stored');
        done(error as Error);
      },
    );
  };

  aedes.authorizeSubscribe = (client, subscription, done) => {
    const device = devices.get(client);
    if (device && subscription.topic === commandsTopic(device.vin)) return done(null, subscription);
    deps.logger.info({ clientId: client.id, topic: subscription.topic }, 'mqtt subscription refused');
    // A null subscription is answered with the SUBACK failure code 0x80; the connection stays.
    done(null, null);
  };

  // Devices receive nothing but their own commands, even if a broker-side publish would match more.
  aedes.authorizeForward = (client, packet) => {
    const device = devices.get(client);
    return device && packet.topic === commandsTopic(device.vin) ? packet : null;
  };
}
