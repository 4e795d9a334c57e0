import type { Clock } from '../../lib/clock.js';
import type { Auth, Principal } from '../auth/index.js';
import type {
  DeviceIdentity,
  DeviceTopics,
  FleetIdentity,
  FleetLogin,
  IngestSource,
} from '../telemetry/index.js';
import type { Vehicles } from '../vehicles/index.js';
import type { DecodeDeadLetter, Decoded } from './decoded.js';
import type { FormatResult } from './formats.service.js';
import { decodeSafely } from './http-body.js';
import {
  decodeTeslaEvent,
  decodeTeslaFields,
  describeTeslaField,
  parseTeslaTopic,
  readFieldPayload,
  teslaTopicVin,
} from './tesla.js';

/** The MQTT username Tesla's fleet-telemetry server logs in to the embedded broker with. */
export const TESLA_FLEET_USERNAME = 'tesla-fleet-telemetry';

/**
 * How long a vehicle's field messages are gathered into one sample: a group closes once no field has come
 * for TESLA_GROUP_WINDOW_MS, and TESLA_GROUP_MAX_MS after it opened at the latest. fleet-telemetry
 * publishes the fields of one vehicle record back to back (in no fixed order: a Go map), and sends
 * records at most once a second per field; with QoS 1 it waits 2.5 s (publish_timeout_ms) for the
 * PUBACKs, which leave after the group's commit. A gap rather than a fixed span keeps a record whole when
 * a busy server reads its messages late.
 */
export const TESLA_GROUP_WINDOW_MS = 250;
export const TESLA_GROUP_MAX_MS = 1000;

/** A record has ~250 fields at most; beyond this a group is closed and the next one opened. */
const MAX_FIELDS_PER_GROUP = 500;

/** How long a fleet login's answer for a VIN (managed or not) is kept before it is asked again. */
const ACCESS_CACHE_MS = 10_000;

interface Group {
  readonly vehicleId: string;
  readonly vin: string;
  readonly startMs: number;
  /** performance.now() when it opened (the clock above may be a test's). */
  readonly openedAt: number;
  readonly fields: Map<string, unknown>;
  readonly deadLetters: DecodeDeadLetter[];
  readonly timer: NodeJS.Timeout;
  readonly done: Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** FNV-1a of the sorted field names, 31 bits: two samples of one millisecond with other fields differ. */
function fieldSetSeq(fields: Iterable<string>): number {
  let h = 0x811c9dc5;
  for (const ch of [...fields].sort().join(',')) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h & 0x7fffffff;
}

/**
 * Tesla fleet-telemetry messages into the pipeline. Field messages carry no time: those of one vehicle
 * that arrive each within `windowMs` of the previous (`maxMs` in all) become one sample timed at the
 * first one's receipt; a field that comes again closes the group and opens the next, so nothing is
 * overwritten and nothing stored twice. Each message's promise settles with its group's commit (the
 * transport sends the PUBACKs then). Connectivity, alerts and errors are events, stored at once.
 */
export class TeslaStream {
  private readonly open = new Map<string, Group>();
  /** The last sample time given per vehicle: a group of the same millisecond gets the next one. */
  private readonly lastTs = new Map<string, number>();

  constructor(
    private readonly deps: {
      base: string;
      clock: Clock;
      store(source: IngestSource, decoded: Decoded): Promise<FormatResult>;
      windowMs?: number;
      maxMs?: number;
    },
  ) {}

  /** Ingests one message of a topic under the base; resolves after commit. */
  handle(device: DeviceIdentity, topic: string, payload: Buffer): Promise<unknown> {
    const parsed = parseTeslaTopic(this.deps.base, topic);
    if (parsed?.kind !== 'field') {
      const nowMs = this.deps.clock.now();
      const decoded = parsed
        ? decodeSafely(() => decodeTeslaEvent(parsed, payload, nowMs), payload, {})
        : {
            messages: [],
            events: [],
            deadLetters: [
              { reason: 'tesla: topic is not under the topic base', payload: payload.toString() },
            ],
          };
      return this.deps.store({ source: 'tesla', topic, vehicleId: device.vehicleId }, decoded);
    }
    const read = readFieldPayload(parsed.field, payload);
    const group = this.groupFor(device.vehicleId, parsed.vin, parsed.field);
    if ('deadLetter' in read) group.deadLetters.push(read.deadLetter);
    // null is Tesla's "invalid": nothing to keep, but the message is acknowledged with its group.
    else if (read.value !== null) group.fields.set(parsed.field, read.value);
    if (group.fields.size >= MAX_FIELDS_PER_GROUP) this.close(group);
    else group.timer.refresh();
    return group.done;
  }

  /** The vehicle's open group, unless `field` is in it already (then it is closed and a new one opened). */
  private groupFor(vehicleId: string, vin: string, field: string): Group {
    const current = this.open.get(vehicleId);
    const maxMs = this.deps.maxMs ?? TESLA_GROUP_MAX_MS;
    if (current && !current.fields.has(field) && performance.now() - current.openedAt < maxMs) return current;
    if (current) this.close(current);
    let resolve!: (value: unknown) => void;
    let reject!: (error: unknown) => void;
    const done = new Promise<unknown>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Settled by the transport; a rejection must not go unhandled meanwhile.
    done.catch(() => {});
    const group: Group = {
      vehicleId,
      vin,
      startMs: this.deps.clock.now(),
      openedAt: performance.now(),
      fields: new Map(),
      deadLetters: [],
      timer: setTimeout(() => this.close(group), this.deps.windowMs ?? TESLA_GROUP_WINDOW_MS),
      done,
      resolve,
      reject,
    };
    group.timer.unref();
    this.open.set(vehicleId, group);
    return group;
  }

  private close(group: Group): void {
    clearTimeout(group.timer);
    if (this.open.get(group.vehicleId) !== group) return;
    this.open.delete(group.vehicleId);
    const tsMs = Math.max(group.startMs, (this.lastTs.get(group.vehicleId) ?? 0) + 1);
    if (this.lastTs.size > 100_000) this.lastTs.clear();
    this.lastTs.set(group.vehicleId, tsMs);
    const seq = fieldSetSeq(group.fields.keys());
    const fields = Object.fromEntries(group.fields);
    const decoded = decodeSafely(() => decodeTeslaFields(group.fields, tsMs, seq), fields, {});
    decoded.deadLetters.push(...group.deadLetters);
    if (decoded.messages.length === 0 && decoded.deadLetters.length === 0) {
      group.resolve(null);
      return;
    }
    const source: IngestSource = {
      source: 'tesla',
      topic: `${this.deps.base}/${group.vin}/v`,
      vehicleId: group.vehicleId,
      describeRawKey: describeTeslaField,
    };
    this.deps.store(source, decoded).then(group.resolve, group.reject);
  }
}

/**
 * The `tesla-fleet-telemetry` login of the embedded broker: password = an API token with the `telemetry`
 * scope. It may publish under `<base>/<VIN>/…` for the vehicles the token's user manages (the access
 * rule's `manage`, within the token's vehicle list), nothing else; its messages go to the `tesla` topic
 * family as if the vehicle had sent them.
 */
export function teslaFleetLogin(deps: {
  base: string;
  auth: Auth;
  vehicles: Vehicles;
  topics: DeviceTopics;
  clock: Clock;
}): FleetLogin {
  /**
   * Answers by token and VIN, as promises: the messages of one vehicle that wait for one answer go on
   * in the order they came (a lookup each would let a later field overtake an earlier one).
   */
  const access = new Map<string, { vehicle: Promise<DeviceIdentity | null>; untilMs: number }>();

  /** The vehicle a VIN names if the login's user manages it now, else null; answers kept briefly. */
  function managed(identity: FleetIdentity, vin: string): Promise<DeviceIdentity | null> {
    const key = `${identity.tokenId}\u0000${vin}`;
    const now = deps.clock.now();
    const cached = access.get(key);
    if (cached && cached.untilMs > now) return cached.vehicle;
    const vehicle = lookUp(identity, vin);
    if (access.size > 10_000) access.clear();
    access.set(key, { vehicle, untilMs: now + ACCESS_CACHE_MS });
    // A failed look-up (the database away) is not kept: the next message asks again.
    vehicle.catch(() => {
      if (access.get(key)?.vehicle === vehicle) access.delete(key);
    });
    return vehicle;
  }

  async function lookUp(identity: FleetIdentity, vin: string): Promise<DeviceIdentity | null> {
    // The user as they are now (role lowered, token revoked): the connection itself is re-checked too.
    const fresh = await deps.auth.recheck(identity.principal);
    if (fresh?.kind !== 'user') return null;
    const found = await deps.vehicles.findByRef(vin);
    if (!found) return null;
    // The telemetry scope stands in for `write`, for this one purpose: what the user may manage.
    const asUser: Principal = {
      kind: 'user',
      userId: fresh.userId,
      role: fresh.role,
      ...(fresh.vehicleIds ? { vehicleIds: fresh.vehicleIds } : {}),
    };
    return (await deps.vehicles.can(asUser, 'manage', found))
      ? { vehicleId: found.id, vin: found.vin }
      : null;
  }

  return {
    username: TESLA_FLEET_USERNAME,
    async authenticate(password) {
      const principal = await deps.auth.authenticateBearer(password);
      if (principal?.kind !== 'user' || principal.tokenId === undefined) return 'bad_credentials';
      if (!principal.scopes?.includes('telemetry')) return 'not_authorized';
      return { userId: principal.userId, tokenId: principal.tokenId, principal };
    },
    matches: (topic) => teslaTopicVin(deps.base, topic) !== null,
    async handle(identity, topic, payload) {
      const vin = teslaTopicVin(deps.base, topic);
      const vehicle = vin === null ? null : await managed(identity, vin);
      if (!vehicle) return { refused: "not a vehicle the token's user manages" };
      const family = deps.topics.find(topic, vehicle);
      if (!family) return { refused: 'topic not allowed' };
      await family.handle(vehicle, topic, payload);
      return {};
    },
  };
}
