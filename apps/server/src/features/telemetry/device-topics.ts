import type { Logger } from '../../lib/logger.js';
import { errorText } from '../../lib/safe-text.js';
import type { Principal } from '../auth/index.js';
import type { Rejection } from './validate.js';

/** An authenticated device: MQTT username = VIN or vehicle id, password = that vehicle's token. */
export interface DeviceIdentity {
  readonly vehicleId: string;
  /** Null for a vehicle without a VIN (a phone, a tracker): its topics name it by id. */
  readonly vin: string | null;
}

/**
 * Whether a topic's vehicle segment names this device's vehicle: its VIN or its id, whichever the
 * device logged in with (topics that name a vehicle by VIN take its id as well).
 */
export function namesDevice(segment: string | null | undefined, device: DeviceIdentity): boolean {
  if (segment == null) return false;
  return segment === device.vehicleId || (device.vin !== null && segment === device.vin);
}

/**
 * An MQTT topic family devices publish to, with the format that reads it. The native format is built
 * in; source formats (VinFast `/mobile/<VIN>/push`, OwnTracks) register theirs with `add`.
 */
export interface DeviceTopic {
  /** Names the format in logs (`native`, `vinfast`). */
  readonly name: string;
  /** Whether this authenticated device may publish to `topic` (embedded broker ACL). */
  matches(topic: string, device: DeviceIdentity): boolean;
  /** Ingests one payload; resolves after commit (the PUBACK is sent then). */
  handle(device: DeviceIdentity, topic: string, payload: Buffer): Promise<unknown>;
  /**
   * External broker: the topic filter to subscribe to (without `$share/…`), and how to find the VIN in
   * a topic, since there the broker has authenticated the device, not Tacho.
   */
  readonly external?: { readonly filter: string; vinOf(topic: string): string | null };
  /**
   * Its messages are held a moment to be grouped with the next ones into one sample (Tesla's one message
   * per field): the broker must read on before one commits, so a QoS 0 publish is not answered at its
   * commit (which would let one message through per group) but at once, within a bound.
   */
  readonly groups?: boolean;
}

/** What every topic family's messages go through first (decision 0012). */
export interface DeviceTopicGuard {
  /** The largest MQTT message, whatever its topic (TACHO_MAX_PAYLOAD_BYTES). */
  readonly maxPayloadBytes: number;
  /** Keeps a payload refused as a whole as a dead letter; resolves once committed. */
  refuse(
    source: { source: string; topic: string; vehicleId: string },
    rejection: Rejection,
    payload: Buffer,
  ): Promise<unknown>;
  readonly logger: Logger;
}

/**
 * A service that publishes for many vehicles under one broker login, not a device: Tesla's
 * fleet-telemetry server (username `tesla-fleet-telemetry`, password an API token with the `telemetry`
 * scope). It may publish only to `matches` topics, and only for the vehicles its token's user manages;
 * it may not subscribe.
 */
export interface FleetLogin {
  /** The MQTT username it logs in with. */
  readonly username: string;
  /** The login, or why not: `bad_credentials` (no such token) or `not_authorized` (token lacks the scope). */
  authenticate(password: string): Promise<FleetIdentity | 'bad_credentials' | 'not_authorized'>;
  /** Whether it may publish to this topic at all (under its topic base, naming a vehicle). */
  matches(topic: string): boolean;
  /**
   * Ingests one message; resolves after commit, or with `refused` (nothing stored) when the topic's
   * vehicle is not one the login may publish for.
   */
  handle(identity: FleetIdentity, topic: string, payload: Buffer): Promise<{ refused?: string }>;
}

/** Who a fleet login authenticated as: the token and its user (the principal the access rule sees). */
export interface FleetIdentity {
  readonly userId: string;
  readonly tokenId: string;
  readonly principal: Principal;
}

export class DeviceTopics {
  private readonly topics: DeviceTopic[] = [];
  private readonly fleetLogins = new Map<string, FleetLogin>();

  /** With a guard, every family's messages are held to one size limit and a throw never escapes. */
  constructor(private readonly guard?: DeviceTopicGuard) {}

  add(topic: DeviceTopic): void {
    this.topics.push(this.guard ? guarded(topic, this.guard) : topic);
  }

  /** The topic family a device's publish belongs to, or undefined (the publish is then refused). */
  find(topic: string, device: DeviceIdentity): DeviceTopic | undefined {
    return this.topics.find((t) => t.matches(topic, device));
  }

  all(): readonly DeviceTopic[] {
    return this.topics;
  }

  addFleetLogin(login: FleetLogin): void {
    this.fleetLogins.set(login.username, login);
  }

  /** The fleet login with this MQTT username, if one is registered. */
  fleetLogin(username: string): FleetLogin | undefined {
    return this.fleetLogins.get(username);
  }
}

/**
 * A topic family whose `handle` refuses a message larger than the limit (whatever the family: a VinFast
 * push is held to the same limit as a native message), and turns a synchronous throw (a bug) into a
 * dead letter of that message, acknowledged once committed, instead of an exception in the broker's
 * packet handler (which ended the process, and a persistent session resent the message after every
 * restart). Failures to store (a rejected promise: shutting down, the database away) are left to the
 * transport: the message is not acknowledged and comes again. Allocates nothing per message.
 */
function guarded(family: DeviceTopic, guard: DeviceTopicGuard): DeviceTopic {
  const source = family.name === 'native' ? 'mqtt' : family.name;
  return {
    ...family,
    handle(device, topic, payload) {
      if (payload.length > guard.maxPayloadBytes) {
        return guard.refuse(
          { source, topic, vehicleId: device.vehicleId },
          {
            code: 'too_large',
            reason: `payload is ${payload.length} bytes, the limit is ${guard.maxPayloadBytes}`,
          },
          payload,
        );
      }
      try {
        return family.handle(device, topic, payload);
      } catch (error) {
        guard.logger.error({ err: error, topic }, 'mqtt message could not be handled; dead-lettered');
        return guard.refuse(
          { source, topic, vehicleId: device.vehicleId },
          { code: 'internal', reason: `internal: ${errorText(error)}` },
          payload,
        );
      }
    },
  };
}

/** The native telemetry topic of a vehicle, by VIN or id. */
export function nativeTopic(vinOrId: string): string {
  return `tacho/v1/${vinOrId}/telemetry`;
}

/** The topic a device subscribes to for commands, by VIN or id. */
export function commandsTopic(vinOrId: string): string {
  return `tacho/v1/${vinOrId}/commands`;
}

/** The vehicle segment of a native telemetry topic. */
export const nativeTopicRef = (topic: string): string | null =>
  /^tacho\/v1\/([^/]+)\/telemetry$/.exec(topic)?.[1] ?? null;

/** The vehicle segment of a commands topic. */
export const commandsTopicRef = (topic: string): string | null =>
  /^tacho\/v1\/([^/]+)\/commands$/.exec(topic)?.[1] ?? null;
