import {
  type CreatedToken,
  type CreateVehicleRequest,
  isValidVin,
  normalizeVin,
  type ShareVehicleRequest,
  type TokenView,
  type UpdateVehicleRequest,
  type VehicleAccessLevel,
  type VehicleAccessView,
  type VehicleKind,
  type VehicleRefusals,
  type VehicleView,
} from '@tacho/protocol';
import type { Db, Vehicle } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import { newId } from '../../lib/crypto.js';
import { Conflict, Forbidden, Invalid, NotFound } from '../../lib/errors.js';
import type { EventBus } from '../../lib/events.js';
import type { ApiTokens } from '../auth/api-tokens.js';
import type { Audit } from '../auth/audit.js';
import { isAdmin, requireScope } from '../auth/permissions.js';
import type { Principal } from '../auth/principal.js';
import { accessLevel, decide, type Grant, type VehicleAction } from './access.js';
import { VehiclesRepo } from './vehicles.repo.js';

/** A vehicle as seen by someone allowed to see it, with their access level. */
export type VisibleVehicle = Vehicle & { readonly access: VehicleAccessLevel };

export function toVehicleView(v: VisibleVehicle): VehicleView {
  return {
    id: v.id,
    vin: v.vin,
    kind: v.kind ?? 'car',
    name: v.name,
    make: v.make,
    model: v.model,
    year: v.year,
    ownerId: v.owner_id,
    access: v.access,
    createdMs: v.created_ms,
    updatedMs: v.updated_ms,
  };
}

/**
 * Vehicles and who may do what with them. Every vehicle-scoped operation, here and in later features,
 * goes through `can`; a vehicle the caller may not read answers 404, so ids do not leak.
 */
export class Vehicles {
  private readonly repo: VehiclesRepo;

  constructor(
    db: Db,
    private readonly clock: Clock,
    private readonly events: EventBus,
    private readonly tokens: ApiTokens,
    private readonly audit: Audit,
  ) {
    this.repo = new VehiclesRepo(db);
  }

  private async grantFor(principal: Principal, vehicle: Vehicle): Promise<Grant> {
    if (principal.kind !== 'user' || vehicle.owner_id === principal.userId || principal.role === 'admin')
      return null;
    return this.repo.grant(vehicle.id, principal.userId);
  }

  /** Whether `principal` may do `action` with `vehicle`. */
  async can(principal: Principal, action: VehicleAction, vehicle: Vehicle): Promise<boolean> {
    return decide(principal, action, vehicle, await this.grantFor(principal, vehicle));
  }

  /** The vehicle, if the principal may read it (a vehicle token: its own vehicle); else 404. */
  async getVisibleVehicle(principal: Principal, id: string): Promise<VisibleVehicle> {
    const vehicle = await this.repo.byId(id);
    return this.visible(principal, vehicle);
  }

  /** Like getVisibleVehicle, by VIN or id (routes and formats that name a vehicle by VIN take either). */
  async getVisibleVehicleByRef(principal: Principal, ref: string): Promise<VisibleVehicle> {
    return this.visible(principal, await this.repo.byRef(ref));
  }

  /** The vehicle with this VIN or id, with no access check: for transports that authenticate by it (MQTT). */
  async findByRef(ref: string): Promise<Vehicle | null> {
    return (await this.repo.byRef(ref)) ?? null;
  }

  /**
   * The vehicle if the principal may do `action` with it: 404 when they may not even see it, 403 when
   * they may see it but not do this (a vehicle token sees only its own vehicle, and may only publish).
   */
  async authorize(principal: Principal, action: VehicleAction, id: string): Promise<VisibleVehicle> {
    const vehicle = await this.getVisibleVehicle(principal, id);
    if (!(await this.can(principal, action, vehicle))) {
      throw new Forbidden(`you may not ${action} this vehicle`);
    }
    return vehicle;
  }

  /**
   * The vehicle, to those who may read it, with how many of its messages were refused and the last
   * reason: what tells its people that a device is misconfigured (a clock running fast, a bad mapping).
   */
  async getWithRefusals(
    principal: Principal,
    id: string,
  ): Promise<{ vehicle: VisibleVehicle; refusals: VehicleRefusals | null }> {
    const vehicle = await this.authorize(principal, 'read', id);
    return { vehicle, refusals: await this.repo.refusals(vehicle.id) };
  }

  private async visible(principal: Principal, vehicle: Vehicle | undefined): Promise<VisibleVehicle> {
    if (vehicle) {
      if (principal.kind === 'vehicle') {
        if (principal.vehicleId === vehicle.id) return { ...vehicle, access: 'viewer' };
      } else {
        const grant = await this.grantFor(principal, vehicle);
        const level = accessLevel(principal, vehicle, grant);
        if (level !== null && decide(principal, 'read', vehicle, grant)) return { ...vehicle, access: level };
      }
    }
    throw new NotFound('no such vehicle');
  }

  /**
   * Of these vehicles, the ones the principal may read now: one query however many (an open live
   * socket's subscriptions are re-checked with it).
   */
  async readableAmong(principal: Principal, ids: readonly string[]): Promise<Set<string>> {
    const readable = new Set<string>();
    if (principal.kind !== 'user') return readable;
    for (let i = 0; i < ids.length; i += 500) {
      for (const row of await this.repo.ownersAndGrants(ids.slice(i, i + 500), principal.userId)) {
        if (decide(principal, 'read', row, row.grant ?? null)) readable.add(row.id);
      }
    }
    return readable;
  }

  /** The vehicles the principal may see. */
  async list(principal: Principal): Promise<VisibleVehicle[]> {
    const user = requireScope(principal, 'read');
    const rows = isAdmin(user)
      ? (await this.repo.all()).map((v) => ({ ...v, grant: null as Grant }))
      : await this.repo.visibleTo(user.userId);
    const out: VisibleVehicle[] = [];
    for (const { grant, ...vehicle } of rows) {
      const level = accessLevel(user, vehicle, grant);
      if (level !== null) out.push({ ...vehicle, access: level });
    }
    return out;
  }

  /** Adds a vehicle owned by the caller (operators and admins). */
  async create(principal: Principal, input: CreateVehicleRequest): Promise<VisibleVehicle> {
    const user = requireScope(principal, 'write');
    if (user.role === 'viewer') throw new Forbidden('viewers cannot add vehicles');
    const given = input.vin == null ? '' : normalizeVin(input.vin);
    const vin = given === '' ? null : given;
    if (vin !== null && !isValidVin(vin))
      throw new Invalid(
        'vin must be 17 characters: digits and capital letters except I, O and Q (or left out)',
        'invalid_vin',
      );
    if (vin !== null && (await this.repo.byVin(vin)))
      throw new Conflict(`a vehicle with VIN ${vin} exists already`, 'duplicate_vin');
    const now = this.clock.now();
    const vehicle: Vehicle = {
      id: newId(),
      vin,
      kind: input.kind ?? 'car',
      name: input.name.trim(),
      make: input.make ?? null,
      model: input.model ?? null,
      year: input.year ?? null,
      owner_id: user.userId,
      created_ms: now,
      updated_ms: now,
      session_settings: null,
    };
    try {
      await this.repo.insert(vehicle);
    } catch (error) {
      // Two requests with the same VIN at once: the unique index decides.
      if (vin !== null && (await this.repo.byVin(vin)))
        throw new Conflict(`a vehicle with VIN ${vin} exists already`, 'duplicate_vin');
      throw error;
    }
    this.audit.log('vehicle.created', { userId: user.userId, vehicleId: vehicle.id });
    return { ...vehicle, access: accessLevel(user, vehicle, null) ?? 'owner' };
  }

  /**
   * The caller's own vehicle of this kind and name, made when there is none yet: what a phone app asks
   * for on its first post (`POST /api/v1/me/vehicles`). `created` says which.
   */
  async createOwn(
    principal: Principal,
    input: { kind: VehicleKind; name: string },
  ): Promise<{ vehicle: VisibleVehicle; created: boolean }> {
    const user = requireScope(principal, 'write');
    const name = input.name.trim();
    const mine = (await this.repo.ownedBy(user.userId)).find((v) => v.kind === input.kind && v.name === name);
    if (mine)
      return { vehicle: { ...mine, access: accessLevel(user, mine, null) ?? 'owner' }, created: false };
    return { vehicle: await this.create(principal, { kind: input.kind, name }), created: true };
  }

  async update(principal: Principal, id: string, input: UpdateVehicleRequest): Promise<VisibleVehicle> {
    const vehicle = await this.authorize(principal, 'manage', id);
    const changes = {
      ...(input.name !== undefined ? { name: input.name.trim() } : {}),
      ...(input.kind !== undefined ? { kind: input.kind } : {}),
      ...(input.make !== undefined ? { make: input.make } : {}),
      ...(input.model !== undefined ? { model: input.model } : {}),
      ...(input.year !== undefined ? { year: input.year } : {}),
      updated_ms: this.clock.now(),
    };
    await this.repo.update(id, changes);
    return { ...vehicle, ...changes };
  }

  async delete(principal: Principal, id: string): Promise<void> {
    const vehicle = await this.authorize(principal, 'delete', id);
    const shared = await this.repo.delete(id);
    this.audit.log('vehicle.deleted', { userId: requireScope(principal, 'write').userId, vehicleId: id });
    for (const userId of new Set([vehicle.owner_id, ...shared])) {
      this.events.emit('access.revoked', { vehicleId: id, userId });
    }
  }

  async listAccess(principal: Principal, id: string): Promise<VehicleAccessView[]> {
    await this.authorize(principal, 'share', id);
    const rows = await this.repo.listAccess(id);
    return rows.map((r) => ({
      userId: r.user_id,
      email: r.email,
      name: r.name,
      role: r.role,
      createdMs: r.created_ms,
    }));
  }

  /** Gives the user with that email access (or changes their role). */
  async share(principal: Principal, id: string, input: ShareVehicleRequest): Promise<VehicleAccessView> {
    const vehicle = await this.authorize(principal, 'share', id);
    const email = input.email.trim().toLowerCase();
    const target = await this.repo.userIdByEmail(email);
    if (!target) throw new NotFound('no user with that email', 'user_not_found');
    if (target.id === vehicle.owner_id)
      throw new Invalid('the owner has full access already', 'already_owner');
    const before = await this.repo.grant(id, target.id);
    await this.repo.share(id, target.id, input.role, this.clock.now());
    this.audit.log('vehicle.shared', {
      userId: requireScope(principal, 'write').userId,
      vehicleId: id,
      targetUserId: target.id,
      role: input.role,
    });
    // Going from operator to viewer takes rights away: streams re-check.
    if (before === 'operator' && input.role === 'viewer')
      this.events.emit('access.revoked', { vehicleId: id, userId: target.id });
    const view = (await this.repo.listAccess(id)).find((r) => r.user_id === target.id)!;
    return {
      userId: view.user_id,
      email: view.email,
      name: view.name,
      role: view.role,
      createdMs: view.created_ms,
    };
  }

  /** Ends the access of the user with that email (the form the share request names them by). */
  async unshareByEmail(principal: Principal, id: string, email: string): Promise<void> {
    await this.authorize(principal, 'share', id);
    const target = await this.repo.userIdByEmail(email.trim().toLowerCase());
    if (!target) throw new NotFound('that user has no access to share');
    await this.unshare(principal, id, target.id);
  }

  async unshare(principal: Principal, id: string, userId: string): Promise<void> {
    await this.authorize(principal, 'share', id);
    if (!(await this.repo.unshare(id, userId))) throw new NotFound('that user has no access to share');
    await this.tokens.revokeUserVehicleTokens(userId, id);
    this.audit.log('vehicle.unshared', {
      userId: requireScope(principal, 'write').userId,
      vehicleId: id,
      targetUserId: userId,
    });
    this.events.emit('access.revoked', { vehicleId: id, userId });
  }

  /** A device token for the vehicle: it may only publish telemetry; the MQTT password (user = VIN or id). */
  async createToken(principal: Principal, id: string, name?: string): Promise<CreatedToken> {
    const vehicle = await this.authorize(principal, 'manage', id);
    const user = requireScope(principal, 'write');
    return this.tokens.create({
      userId: user.userId,
      vehicleId: vehicle.id,
      name: name?.trim() || `${vehicle.name} device`,
      scopes: ['publish'],
    });
  }

  async listTokens(principal: Principal, id: string): Promise<TokenView[]> {
    await this.authorize(principal, 'manage', id);
    return this.tokens.listForVehicle(id);
  }

  async revokeToken(principal: Principal, id: string, tokenId: string): Promise<void> {
    await this.authorize(principal, 'manage', id);
    await this.tokens.revokeVehicleToken(requireScope(principal, 'write').userId, id, tokenId);
  }
}
