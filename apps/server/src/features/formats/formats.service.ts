import type { NativeMessage } from '@tacho/protocol';
import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import { Forbidden, Invalid, NotFound, PayloadTooLarge, Unauthorized } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { boundedJson } from '../../lib/safe-text.js';
import type { Aliases } from '../aliases/index.js';
import type { Principal } from '../auth/principal.js';
import {
  type DeviceIdentity,
  type IngestPipeline,
  type IngestSource,
  TooLargeBody,
} from '../telemetry/index.js';
import { type Vault, VaultError } from '../vault/index.js';
import type { Vehicles, VisibleVehicle } from '../vehicles/index.js';
import type { Decoded, FormatEvent } from './decoded.js';
import { type DeviceBinding, DeviceBindingsRepo, type DeviceKind } from './device-bindings.repo.js';
import { isStrongDeviceId, OSMAND_ID_REFUSAL, OWNTRACKS_ID_REFUSAL } from './device-ids.js';
import { decodeSafely, type OsmandInput, splitOversized, withTooLarge } from './http-body.js';
import { decodeOsmandFields, decodeOsmandJson, type OsmandDecoded } from './osmand.js';
import { decodeOverland } from './overland.js';
import { decodeOwntracks } from './owntracks.js';
import type { AliasMapping } from './vinfast/catalog.js';
import { canonicalUnit, decodeVinfast } from './vinfast.js';

/** Counts after commit: stored, duplicates, and elements refused (decoder or validation). */
export interface FormatResult {
  stored: number;
  duplicates: number;
  rejected: number;
  errors: string[];
}

const MAPPINGS_CACHE_MS = 30_000;
const MAX_EVENT_TEXT = 1024;

/**
 * Events (OwnTracks lwt / transition, Overland visits and lifecycle actions) are kept as raw-only
 * samples at their own time: they land in `samples` (no metrics, no position) and in `raw_keys`, so the
 * deep scan shows the latest of each kind. The seq comes from the kind, so an event never collides with a
 * position fix of the same second.
 */
export function eventMessage(event: FormatEvent): NativeMessage {
  let h = 0x811c9dc5;
  for (const ch of event.type) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return {
    ts: event.tsMs,
    seq: (h & 0x7ffffffe) + 1,
    // Bounded: an event's data may nest deeper than JSON.stringify can follow (decision 0012).
    raw: { [event.type]: boundedJson(event.data, MAX_EVENT_TEXT) },
  };
}

/** Where a binding's sealed secret lives (its row id is `kind/device id`). */
function bindingSecretPlace(kind: DeviceKind, deviceId: string) {
  return { table: 'device_bindings', column: 'secret', rowId: `${kind}/${deviceId}` };
}

/**
 * Source formats on the ingest path: find the vehicle (token or bound device id), decode, and hand the
 * result to the one ingestion pipeline. Decoder dead letters are kept like validation ones.
 */
export class FormatIngest {
  private readonly bindings: DeviceBindingsRepo;
  /** Weak Traccar ids bound before the rule, already named in the log (once per process each). */
  private readonly weakIdsWarned = new Set<string>();
  private readonly mappingsCache = new Map<
    string,
    { mappings: ReadonlyMap<string, AliasMapping>; untilMs: number }
  >();

  constructor(
    private readonly deps: {
      db: Db;
      /** OwnTracks secrets are sealed at rest (decision 0026). */
      vault: Vault;
      clock: Clock;
      vehicles: Vehicles;
      aliases: Aliases;
      pipeline: IngestPipeline;
      logger: Logger;
    },
  ) {
    this.bindings = new DeviceBindingsRepo(deps.db);
  }

  /** Writes a decoded payload through the pipeline, its dead letters in the same batch; resolves after commit. */
  async store(source: IngestSource, decoded: Decoded): Promise<FormatResult> {
    const messages = [...decoded.messages, ...decoded.events.map(eventMessage)];
    const result = await this.deps.pipeline.ingest(source, messages, decoded.deadLetters);
    return {
      stored: result.stored,
      duplicates: result.duplicates,
      rejected: result.rejected.length + decoded.deadLetters.length,
      errors: [...decoded.deadLetters.map((d) => d.reason), ...result.rejected.map((r) => r.reason)],
    };
  }

  /** The vehicle with this VIN or id if the principal may publish to it (404 / 403 otherwise). */
  async publishableByVin(principal: Principal, vin: string): Promise<VisibleVehicle> {
    const vehicle = await this.deps.vehicles.getVisibleVehicleByRef(principal, vin);
    if (!(await this.deps.vehicles.can(principal, 'publish', vehicle))) {
      throw new Forbidden('you may not publish for this vehicle');
    }
    return vehicle;
  }

  private async publishableById(principal: Principal, id: string): Promise<VisibleVehicle> {
    return this.deps.vehicles.authorize(principal, 'publish', id);
  }

  /** Device key mappings for a vehicle (static catalog + confirmed registry entries), cached briefly. */
  async mappingsFor(
    vehicle: VisibleVehicle | { id: string; make: string | null; model: string | null; year: number | null },
  ) {
    const now = this.deps.clock.now();
    const cached = this.mappingsCache.get(vehicle.id);
    if (cached && cached.untilMs > now) return cached.mappings;
    const mappings = await this.deps.aliases.mappingsFor(vehicle);
    if (this.mappingsCache.size > 10_000) this.mappingsCache.clear();
    this.mappingsCache.set(vehicle.id, { mappings, untilMs: now + MAPPINGS_CACHE_MS });
    return mappings;
  }

  private vinfastSource(
    source: string,
    topic: string,
    vehicleId: string,
    mappings: ReadonlyMap<string, AliasMapping>,
  ) {
    return {
      source,
      topic,
      vehicleId,
      describeRawKey: (deviceKey: string) => {
        const m = mappings.get(deviceKey);
        return m ? { canonicalKey: m.canonical, unit: canonicalUnit(m.canonical) } : null;
      },
    };
  }

  /** The largest message, whatever the transport (TACHO_MAX_PAYLOAD_BYTES). */
  get maxMessageBytes(): number {
    return this.deps.pipeline.maxMessageBytes;
  }

  /**
   * A body over the route's limit, from a caller who may publish for the vehicle: its beginning is kept
   * as a dead letter, and the answer is 413.
   */
  private async refuseTooLarge(source: IngestSource, body: TooLargeBody): Promise<never> {
    await this.deps.pipeline.rejectPayload(source, { code: 'too_large', reason: body.reason }, body.head);
    throw new PayloadTooLarge(body.reason);
  }

  async vinfastHttp(principal: Principal, vin: string, body: unknown, route: string): Promise<FormatResult> {
    const vehicle = await this.publishableByVin(principal, vin);
    const mappings = await this.mappingsFor(vehicle);
    const source = this.vinfastSource('vinfast', route, vehicle.id, mappings);
    if (body instanceof TooLargeBody) return this.refuseTooLarge(source, body);
    const split = splitOversized(this.maxMessageBytes, 'vinfast', body, 'data');
    const decoded = decodeSafely(() => decodeVinfast(split.value, { mappings }), split.value, {});
    return this.store(source, withTooLarge(decoded, split));
  }

  async vinfastMqtt(device: DeviceIdentity, topic: string, payload: Buffer): Promise<FormatResult> {
    const vehicle = await this.deps.db
      .selectFrom('vehicles')
      .select(['id', 'make', 'model', 'year'])
      .where('id', '=', device.vehicleId)
      .executeTakeFirst();
    if (!vehicle) throw new NotFound('vehicle gone');
    const mappings = await this.mappingsFor(vehicle);
    return this.store(
      this.vinfastSource('vinfast', topic, vehicle.id, mappings),
      decodeSafely(() => decodeVinfast(payload, { mappings }), payload, {}),
    );
  }

  /**
   * OwnTracks over HTTP. A vehicle token names the vehicle (a binding of `user/device`, if any, must be to
   * the same vehicle and gives the encryption secret); a user's token or login needs the binding.
   */
  async owntracksHttp(
    principal: Principal,
    user: string,
    device: string,
    body: unknown,
    route: string,
  ): Promise<FormatResult> {
    const binding = await this.bindings.find('owntracks', `${user}/${device}`);
    const vehicleId = await this.bindingVehicle(principal, binding, `OwnTracks ${user}/${device}`);
    const source = { source: 'owntracks', topic: route, vehicleId };
    if (body instanceof TooLargeBody) return this.refuseTooLarge(source, body);
    const split = splitOversized(this.maxMessageBytes, 'owntracks', body, null);
    const ctx = { nowMs: this.deps.clock.now(), secret: await this.secretOf(binding) };
    const decoded = decodeSafely(() => decodeOwntracks(split.value, ctx), split.value, {});
    return this.store(source, withTooLarge(decoded, split));
  }

  /** OwnTracks over MQTT: `owntracks/<VIN>/<device>[/<kind>]`, the device logged in with the vehicle token. */
  async owntracksMqtt(device: DeviceIdentity, topic: string, payload: Buffer): Promise<FormatResult> {
    const [, user, dev] = topic.split('/');
    const binding = await this.bindings.find('owntracks', `${user}/${dev}`);
    const secret = binding && binding.vehicle_id === device.vehicleId ? await this.secretOf(binding) : null;
    const ctx = { nowMs: this.deps.clock.now(), secret };
    const decoded = decodeSafely(() => decodeOwntracks(payload, ctx), payload, {});
    return this.store({ source: 'owntracks', topic, vehicleId: device.vehicleId }, decoded);
  }

  /**
   * Traccar Client / OsmAnd. The vehicle comes from a vehicle token (header or `token` field), or from the
   * device id registered on a vehicle; an unknown id without a token is 401.
   */
  async osmand(principal: Principal | null, input: OsmandInput, route: string): Promise<FormatResult> {
    const nowMs = this.deps.clock.now();
    const tooLarge = 'json' in input ? input.json : input.tooLarge;
    if (tooLarge instanceof TooLargeBody) return this.osmandTooLarge(principal, input, tooLarge, route);
    const split = splitOversized(
      this.maxMessageBytes,
      'osmand',
      'json' in input ? input.json : undefined,
      'location',
    );
    const fallback = { deviceId: null };
    const decoded = withTooLarge(
      'json' in input
        ? decodeSafely<OsmandDecoded>(() => decodeOsmandJson(split.value, nowMs), split.value, fallback)
        : decodeSafely<OsmandDecoded>(() => decodeOsmandFields(input.fields, nowMs), input.fields, fallback),
      split,
    );
    if (!decoded.deviceId) {
      // Kept (unattributed) like any unreadable payload, then refused: Traccar needs a 400 to show the error.
      const reason = decoded.deadLetters[0]?.reason ?? 'osmand: id is missing';
      const payload = decoded.deadLetters[0]?.payload ?? '';
      await this.deps.pipeline.rejectPayload(
        { source: 'osmand', topic: route, vehicleId: null },
        { code: 'decode_failed', reason },
        payload,
      );
      throw new Invalid(reason, 'missing_id');
    }
    const binding = await this.bindings.find('osmand', decoded.deviceId);
    const vehicleId = principal
      ? await this.bindingVehicle(principal, binding, `Traccar device ${decoded.deviceId}`)
      : this.vehicleOfIdAlone(binding);
    return this.store({ source: 'osmand', topic: route, vehicleId }, decoded);
  }

  /**
   * A Traccar body over its limit: kept (its beginning) when the sender is known to own the vehicle — a
   * vehicle token, or a device id bound to it, from the query string — then 413.
   */
  private async osmandTooLarge(
    principal: Principal | null,
    input: OsmandInput,
    body: TooLargeBody,
    route: string,
  ): Promise<never> {
    const fields = 'fields' in input ? input.fields : {};
    const id = fields.id ?? fields.deviceid;
    const deviceId = typeof id === 'string' && id.trim() !== '' ? id.trim() : null;
    const binding = deviceId ? await this.bindings.find('osmand', deviceId) : undefined;
    const vehicleId = principal
      ? await this.bindingVehicle(principal, binding, `Traccar device ${deviceId}`)
      : this.vehicleOfIdAlone(binding);
    return this.refuseTooLarge({ source: 'osmand', topic: route, vehicleId }, body);
  }

  /** Overland: a vehicle token, or a user token with `vehicleId`. */
  async overland(
    principal: Principal,
    vehicleId: string | undefined,
    body: unknown,
    route: string,
  ): Promise<FormatResult> {
    let id: string;
    if (principal.kind === 'vehicle') id = principal.vehicleId;
    else if (vehicleId) id = (await this.publishableById(principal, vehicleId)).id;
    else throw new Invalid('vehicleId: required with a user token (or use a vehicle token)');
    const source = { source: 'overland', topic: route, vehicleId: id };
    if (body instanceof TooLargeBody) return this.refuseTooLarge(source, body);
    const split = splitOversized(this.maxMessageBytes, 'overland', body, 'locations');
    const nowMs = this.deps.clock.now();
    const decoded = decodeSafely(() => decodeOverland(split.value, nowMs), split.value, {});
    return this.store(source, withTooLarge(decoded, split));
  }

  /**
   * The vehicle a Traccar id sent without a token stands for. Only an id that meets the rule
   * (device-ids.ts) authenticates alone; a weaker one, bound before the rule existed, is answered like an
   * unknown id, so the answer confirms nothing, and the log tells the operator once (decision 0016).
   */
  private vehicleOfIdAlone(binding: DeviceBinding | undefined): string {
    if (binding && isStrongDeviceId(binding.device_id)) return binding.vehicle_id;
    if (binding && !this.weakIdsWarned.has(binding.device_id)) {
      this.weakIdsWarned.add(binding.device_id);
      // The id itself is a credential, however weak: its length says enough to find it in the list.
      this.deps.logger.warn(
        { vehicleId: binding.vehicle_id, idLength: binding.device_id.length },
        'a Traccar Client id bound to this vehicle is too weak to authenticate alone (docs/formats.md): its positions are refused until the app sends a vehicle token (token=…) or a new id of at least 12 random characters is bound',
      );
    }
    throw new Unauthorized('unknown device id: register it on a vehicle or send a vehicle token');
  }

  private async bindingVehicle(
    principal: Principal,
    binding: DeviceBinding | undefined,
    what: string,
  ): Promise<string> {
    if (principal.kind === 'vehicle') {
      if (binding && binding.vehicle_id !== principal.vehicleId) {
        throw new Forbidden(`${what} is bound to another vehicle`);
      }
      return principal.vehicleId;
    }
    if (!binding) throw new NotFound(`${what} is not bound to a vehicle: bind it or use the vehicle's token`);
    return (await this.publishableById(principal, binding.vehicle_id)).id;
  }

  // Device bindings, managed by who manages the vehicle.

  async listBindings(principal: Principal, vehicleId: string): Promise<DeviceBinding[]> {
    await this.deps.vehicles.authorize(principal, 'manage', vehicleId);
    return this.bindings.list(vehicleId);
  }

  async bind(
    principal: Principal,
    vehicleId: string,
    input: { kind: DeviceKind; deviceId: string; secret?: string | null },
  ): Promise<DeviceBinding> {
    await this.deps.vehicles.authorize(principal, 'manage', vehicleId);
    const deviceId = input.deviceId.trim();
    // One answer for an id that is malformed, too weak, or bound to another vehicle: a distinct answer
    // for the last would confirm to anyone that someone uses the id.
    const refusal = new Invalid(
      input.kind === 'osmand' ? OSMAND_ID_REFUSAL : OWNTRACKS_ID_REFUSAL,
      'invalid_device_id',
    );
    const acceptable =
      input.kind === 'osmand' ? isStrongDeviceId(deviceId) : /^[^/#+\s]+\/[^/#+\s]+$/.test(deviceId);
    if (!acceptable) throw refusal;
    if (input.kind === 'osmand' && input.secret) throw new Invalid('secret: only OwnTracks devices encrypt');
    const stored = await this.bindings.bind({
      kind: input.kind,
      device_id: deviceId,
      vehicle_id: vehicleId,
      secret: input.secret
        ? await this.deps.vault.seal(input.secret, bindingSecretPlace(input.kind, deviceId))
        : null,
      created_by: principal.kind === 'user' ? principal.userId : null,
      created_ms: this.deps.clock.now(),
    });
    if (stored.vehicle_id !== vehicleId) throw refusal;
    return stored;
  }

  /**
   * A binding's OwnTracks secret, opened. One that does not open (sealed under a key this server lacks)
   * counts as none, so encrypted payloads are refused as dead letters, never read another way; the log
   * says to enter the secret again.
   */
  private async secretOf(binding: DeviceBinding | undefined): Promise<string | null> {
    if (!binding?.secret) return null;
    try {
      return await this.deps.vault.open(binding.secret, bindingSecretPlace(binding.kind, binding.device_id));
    } catch (error) {
      if (!(error instanceof VaultError)) throw error;
      this.deps.logger.warn(
        { kind: binding.kind, vehicleId: binding.vehicle_id },
        'an OwnTracks secret does not open with this encryption key: bind the device again with its secret',
      );
      return null;
    }
  }

  async unbind(principal: Principal, vehicleId: string, kind: DeviceKind, deviceId: string): Promise<void> {
    await this.deps.vehicles.authorize(principal, 'manage', vehicleId);
    if (!(await this.bindings.remove(kind, deviceId, vehicleId)))
      throw new NotFound('no such device binding');
  }
}
