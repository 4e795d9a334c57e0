import {
  type AliasQuery,
  type AliasRegistryList,
  type AliasRegistryQuery,
  type AliasSeenList,
  type AliasSeenModel,
  type AliasView,
  type CreateAliasRequest,
  metricCatalog,
  type UpdateAliasRequest,
} from '@tacho/protocol';
import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import { newId } from '../../lib/crypto.js';
import { Conflict, Forbidden, Invalid, NotFound } from '../../lib/errors.js';
import { requireAdmin, requireScope } from '../auth/index.js';
import type { Principal } from '../auth/principal.js';
import {
  type AliasMapping,
  aliasName,
  mergeTables,
  normalizeDeviceKey,
  staticTables,
} from '../formats/vinfast/catalog.js';
import type { Vehicles } from '../vehicles/index.js';
import { AliasesRepo, type AliasKey, type AliasRow } from './aliases.repo.js';

/** A registry entry applies to other vehicles once this many distinct vehicles confirmed it. */
export const MIN_CONFIRMATIONS = 2;

const POSITION_FIELDS = new Set(['position.lat', 'position.lon', 'position.alt_m', 'position.heading_deg']);
const VINFAST = 'VINFAST';

/** Make and model are compared without case or spaces: "VinFast VF 9" and "VINFAST VF9" are one model. */
export function normalizeName(value: string | null | undefined): string {
  return (value ?? '').trim().toUpperCase().replace(/\s+/g, '');
}

function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === '23505' || (typeof code === 'string' && /^SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)$/.test(code))
  );
}

function toView(row: AliasRow): AliasView {
  const name = aliasName(row.device_key);
  return {
    id: row.id,
    source: 'registry',
    make: row.make,
    model: row.model,
    year: row.year,
    deviceKey: row.device_key,
    ...(name ? { name } : {}),
    canonicalKey: row.canonical_key,
    unit: row.unit,
    scale: row.scale,
    contributorId: row.contributor_id,
    confirmations: row.confirmations,
    createdMs: row.created_ms,
    updatedMs: row.updated_ms,
  };
}

/**
 * The known-aliases registry: what users discovered about their cars' device keys, shared per make, model
 * and year. Anyone with write access may add and confirm entries; only an admin changes or deletes them.
 */
export class Aliases {
  private readonly repo: AliasesRepo;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly vehicles: Vehicles,
  ) {
    this.repo = new AliasesRepo(db);
  }

  /** Registry entries and, for VinFast, the built-in catalog entries for that model. */
  async list(principal: Principal | null, query: AliasQuery): Promise<AliasView[]> {
    requireScope(principal, 'read');
    const make = normalizeName(query.make);
    const model = query.model === undefined ? null : normalizeName(query.model);
    const year = query.year ?? null;
    const registry = (await this.repo.list(make, model, year)).map(toView);
    if (make !== VINFAST) return registry;
    const catalog = mergeTables(staticTables(model, year));
    const builtIn = [...catalog].map(
      ([deviceKey, m]): AliasView => ({
        id: `catalog:${deviceKey}`,
        source: 'catalog',
        make: VINFAST,
        model: model ?? '',
        year: 0,
        deviceKey,
        ...(aliasName(deviceKey) ? { name: aliasName(deviceKey)! } : {}),
        canonicalKey: m.canonical,
        unit: m.deviceUnit ?? '',
        scale: m.scale ?? 1,
        contributorId: null,
        confirmations: 0,
        createdMs: 0,
        updatedMs: 0,
      }),
    );
    return [...registry, ...builtIn];
  }

  /**
   * Registry entries (not the built-in catalog) with their state: pending until MIN_CONFIRMATIONS distinct
   * vehicles confirmed them, applied after. What the Aliases page shows, so a proposal is visibly there.
   */
  async registry(principal: Principal | null, query: AliasRegistryQuery): Promise<AliasRegistryList> {
    requireScope(principal, 'read');
    const rows = await this.repo.all(
      query.make === undefined ? null : normalizeName(query.make),
      query.model === undefined ? null : normalizeName(query.model),
    );
    return {
      needed: MIN_CONFIRMATIONS,
      items: rows.map((row) => ({
        ...toView(row),
        state: row.confirmations >= MIN_CONFIRMATIONS ? 'applied' : 'pending',
      })),
    };
  }

  /**
   * The VinFast device keys the caller's cars actually sent, per model (make, model, year): what the
   * connector and pushes report, with what each is decoded as today. The unmapped ones are what is left to
   * propose (from a car's deep scan).
   */
  async seen(principal: Principal | null): Promise<AliasSeenList> {
    const user = requireScope(principal, 'read');
    const cars = (await this.vehicles.list(user)).filter((v) => normalizeName(v.make) === VINFAST);
    const byModel = new Map<string, { model: string; year: number; ids: string[] }>();
    for (const car of cars) {
      const model = normalizeName(car.model);
      const year = car.year ?? 0;
      const group = byModel.get(`${model}/${year}`) ?? { model, year, ids: [] };
      group.ids.push(car.id);
      byModel.set(`${model}/${year}`, group);
    }
    const models: AliasSeenModel[] = [];
    for (const group of byModel.values()) {
      const rows = await this.db
        .selectFrom('raw_keys')
        .select(['vehicle_id', 'device_key', 'canonical_key'])
        .where('vehicle_id', 'in', group.ids)
        .execute();
      const keys = new Map<string, { vehicles: Set<string>; canonicalKey: string | null }>();
      for (const row of rows) {
        if (!/^\d+_\d{5}_\d{5}$/.test(row.device_key)) continue;
        const key = keys.get(row.device_key) ?? { vehicles: new Set<string>(), canonicalKey: null };
        key.vehicles.add(row.vehicle_id);
        key.canonicalKey ??= row.canonical_key;
        keys.set(row.device_key, key);
      }
      if (keys.size === 0) continue;
      models.push({
        make: VINFAST,
        model: group.model,
        year: group.year,
        vehicles: group.ids.length,
        keys: [...keys.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([deviceKey, k]) => ({
            deviceKey,
            ...(aliasName(deviceKey) ? { name: aliasName(deviceKey)! } : {}),
            vehicles: k.vehicles.size,
            canonicalKey: k.canonicalKey,
          })),
      });
    }
    return { models: models.sort((a, b) => a.model.localeCompare(b.model) || a.year - b.year) };
  }

  async get(principal: Principal | null, id: string): Promise<AliasView> {
    requireScope(principal, 'read');
    const row = await this.repo.byId(id);
    if (!row) throw new NotFound('no such alias');
    return toView(row);
  }

  /**
   * Adds an entry, or confirms the identical one that exists. Returns it and whether it is new. Concurrent
   * identical posts end as one entry; different ones as several.
   */
  async add(
    principal: Principal | null,
    request: CreateAliasRequest,
  ): Promise<{ alias: AliasView; created: boolean }> {
    const user = requireScope(principal, 'write');
    let make = normalizeName(request.make);
    let model = request.model === undefined ? undefined : normalizeName(request.model);
    let year = request.year;
    let vehicleId: string | null = null;
    if (request.vehicleId) {
      const vehicle = await this.vehicles.getVisibleVehicle(user, request.vehicleId);
      if (!(await this.vehicles.can(user, 'manage', vehicle))) {
        throw new Forbidden('only who manages this vehicle may confirm aliases for it');
      }
      vehicleId = vehicle.id;
      make ||= normalizeName(vehicle.make);
      model ??= normalizeName(vehicle.model);
      year ??= vehicle.year ?? 0;
    }
    if (!make) throw new Invalid('make: required unless vehicleId names a vehicle with a make');
    const key = this.entryKey({
      make,
      model: model ?? '',
      year: year ?? 0,
      deviceKey: request.deviceKey,
      canonicalKey: request.canonicalKey,
      unit: request.unit ?? '',
      scale: request.scale ?? 1,
    });
    const nowMs = this.clock.now();
    const { id, created } = await this.repo.upsert(key, newId(), user.userId, nowMs);
    if (vehicleId) await this.repo.confirm(id, vehicleId, user.userId, nowMs);
    const row = await this.repo.byId(id);
    if (!row) throw new NotFound('the alias was deleted meanwhile');
    return { alias: toView(row), created };
  }

  async update(principal: Principal | null, id: string, patch: UpdateAliasRequest): Promise<AliasView> {
    requireAdmin(principal);
    const row = await this.repo.byId(id);
    if (!row) throw new NotFound('no such alias');
    const key = this.entryKey({
      make: row.make,
      model: patch.model === undefined ? row.model : normalizeName(patch.model),
      year: patch.year ?? row.year,
      deviceKey: patch.deviceKey ?? row.device_key,
      canonicalKey: patch.canonicalKey ?? row.canonical_key,
      unit: patch.unit ?? row.unit,
      scale: patch.scale ?? row.scale,
    });
    try {
      if (!(await this.repo.update(id, key, this.clock.now()))) throw new NotFound('no such alias');
    } catch (error) {
      if (isUniqueViolation(error)) throw new Conflict('an identical alias exists already', 'alias_exists');
      throw error;
    }
    return this.get(principal, id);
  }

  async remove(principal: Principal | null, id: string): Promise<void> {
    requireAdmin(principal);
    if (!(await this.repo.remove(id))) throw new NotFound('no such alias');
  }

  /**
   * Device key → mapping for decoding one vehicle's VinFast telemetry: the static catalog for its model
   * and year, then the registry entries that apply to it (see AliasesRepo.applicable) on top.
   */
  async mappingsFor(vehicle: {
    id: string;
    make: string | null;
    model: string | null;
    year: number | null;
  }): Promise<ReadonlyMap<string, AliasMapping>> {
    const model = normalizeName(vehicle.model);
    const entries = await this.repo.applicable(
      normalizeName(vehicle.make) || VINFAST,
      model,
      vehicle.year ?? 0,
      vehicle.id,
      MIN_CONFIRMATIONS,
    );
    return mergeTables([
      ...staticTables(model || null, vehicle.year),
      ...entries.map((e) => ({
        [e.device_key]: {
          canonical: e.canonical_key,
          ...(e.scale !== 1 ? { scale: e.scale } : {}),
          deviceUnit: e.unit,
        },
      })),
    ]);
  }

  private entryKey(input: {
    make: string;
    model: string;
    year: number;
    deviceKey: string;
    canonicalKey: string;
    unit: string;
    scale: number;
  }): AliasKey {
    if (!metricCatalog.has(input.canonicalKey) && !POSITION_FIELDS.has(input.canonicalKey)) {
      throw new Invalid(`canonicalKey: "${input.canonicalKey}" is not a catalog metric or position field`);
    }
    const numeric = metricCatalog.get(input.canonicalKey);
    if (input.scale !== 1 && numeric && numeric.type !== 'number') {
      throw new Invalid(`scale: ${input.canonicalKey} is not numeric, so it cannot be scaled`);
    }
    if (!Number.isFinite(input.scale) || input.scale === 0)
      throw new Invalid('scale: must be a non-zero number');
    const deviceKey =
      input.make === VINFAST ? normalizeDeviceKey(input.deviceKey) : input.deviceKey.trim() || null;
    if (!deviceKey) {
      throw new Invalid(
        input.make === VINFAST
          ? 'deviceKey: expected a VinFast key like "34183_00001_00009" or "34183/1/9"'
          : 'deviceKey: empty',
      );
    }
    return {
      make: input.make,
      model: input.model,
      year: input.year,
      device_key: deviceKey,
      canonical_key: input.canonicalKey,
      unit: input.unit.trim(),
      scale: input.scale,
    };
  }
}
