import type { PublishResult } from '@tacho/protocol';
import type { Storage } from '../../db/index.js';
import { Invalid, NotFound, PayloadTooLarge } from '../../lib/errors.js';
import { requireAdmin } from '../auth/index.js';
import type { Principal } from '../auth/principal.js';
import type { Vehicles } from '../vehicles/index.js';
import { TooLargeBody } from './ingest-body.js';
import type { IngestPipeline } from './pipeline.js';
import { type DeadLetterPage, listDeadLetters } from './telemetry.repo.js';

export type { PublishResult };

const VIN_CACHE_MS = 30_000;
const VIN_CACHE_MAX = 100_000;

/**
 * Telemetry as people and devices use it: publish for a vehicle (checked with `can(…, 'publish', …)`),
 * resolve a topic's VIN to a vehicle, and list dead letters (admins).
 */
export class TelemetryService {
  private readonly vinCache = new Map<string, { id: string | null; untilMs: number }>();

  constructor(
    private readonly storage: Storage,
    private readonly vehicles: Vehicles,
    readonly pipeline: IngestPipeline,
  ) {}

  /**
   * Ingests a decoded HTTP body for the vehicle with this VIN. 404 when the caller may not see it, 403 when
   * they may see but not publish; a body that holds nothing valid is 400 with the first reason. Unknown
   * VINs and refused messages are kept as dead letters either way; a body over the limit is 413, and kept
   * (its beginning) only when the caller may publish for the vehicle.
   */
  async publish(
    principal: Principal,
    vin: string,
    body: Buffer | TooLargeBody,
    route: string,
    maxBytes: number,
  ): Promise<PublishResult> {
    let vehicleId: string;
    try {
      vehicleId = (await this.vehicles.authorize(principal, 'publish', await this.vehicleIdOrVin(vin))).id;
    } catch (error) {
      if (error instanceof NotFound && !(body instanceof TooLargeBody)) {
        await this.pipeline.rejectPayload(
          { source: 'http', topic: route, vehicleId: null },
          { code: 'unknown_vehicle', reason: `vin: no vehicle ${vin.slice(0, 32)} that this caller may see` },
          body,
        );
      }
      throw error;
    }
    const source = { source: 'http', topic: route, vehicleId };
    if (body instanceof TooLargeBody) {
      await this.pipeline.rejectPayload(source, { code: 'too_large', reason: body.reason }, body.head);
      throw new PayloadTooLarge(body.reason);
    }
    const result = await this.pipeline.ingestPayload(source, body, maxBytes);
    // Every message is stored, a duplicate or refused: 400 when all were refused.
    if (result.rejected.length > 0 && result.stored + result.duplicates === 0) {
      const first = result.rejected[0]!;
      throw new Invalid(first.reason, first.code);
    }
    return {
      stored: result.stored,
      duplicates: result.duplicates,
      rejected: result.rejected.length,
      errors: result.rejected.map(({ index, reason }) => ({ index, reason })),
    };
  }

  /** The id of the vehicle with this VIN or id, cached briefly: MQTT topics name vehicles by either. */
  async vehicleIdByVin(ref: string): Promise<string | null> {
    const now = Date.now();
    const cached = this.vinCache.get(ref);
    if (cached && cached.untilMs > now) return cached.id;
    const id = (await this.vehicles.findByRef(ref))?.id ?? null;
    if (this.vinCache.size >= VIN_CACHE_MAX) this.vinCache.clear();
    // Unknown VINs are remembered for a shorter time, so a vehicle added a moment ago starts to work soon.
    this.vinCache.set(ref, { id, untilMs: now + (id ? VIN_CACHE_MS : 2000) });
    return id;
  }

  /** Dead letters, newest first (admins only). */
  async deadLetters(
    principal: Principal,
    options: { limit: number; before?: number },
  ): Promise<DeadLetterPage> {
    requireAdmin(principal);
    return listDeadLetters(this.storage.db, options);
  }

  private async vehicleIdOrVin(ref: string): Promise<string> {
    // `authorize` takes an id; a VIN nobody has maps to an id nobody has, which answers 404 the same way.
    return (await this.vehicles.findByRef(ref))?.id ?? `vin:${ref}`;
  }
}
