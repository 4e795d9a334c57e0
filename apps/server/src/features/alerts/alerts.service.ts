import {
  type Alert,
  type AlertChannel,
  type AlertCondition,
  type AlertDeliveryList,
  type AlertEventSpec,
  type AlertPage,
  type AlertRule,
  type AlertRuleList,
  type AlertsQuery,
  type AlertTestResult,
  type CreateAlertRule,
  metricCatalog,
  type UpdateAlertRule,
} from '@tacho/protocol';
import { type Db, inTransaction } from '../../db/index.js';
import type { AlertRulesTable, AlertsTable } from '../../db/tables.js';
import type { Clock } from '../../lib/clock.js';
import { newId, randomToken } from '../../lib/crypto.js';
import { Conflict, Forbidden, Invalid, NotFound } from '../../lib/errors.js';
import type { Audit } from '../auth/audit.js';
import { isAdmin, requireScope, type UserPrincipal } from '../auth/permissions.js';
import type { Principal } from '../auth/principal.js';
import type { Vault } from '../vault/index.js';
import type { Vehicles } from '../vehicles/index.js';
import { ALERTS_PROCESSOR } from './alerts.processor.js';
import { type AlertDispatcher, openRuleSecret } from './dispatcher.js';
import { headerSafe, webhookUrlProblem } from './notify.js';

const DEFAULT_LIMIT = 50;

/** Rules, alerts and their deliveries as people use them. Every call checks who acts and on what. */
export class AlertsService {
  constructor(
    private readonly deps: {
      db: Db;
      vault: Vault;
      clock: Clock;
      vehicles: Vehicles;
      audit: Audit;
      dispatcher: AlertDispatcher;
      /** Looks for processing work at once (a hint). */
      poke: () => void;
    },
  ) {}

  async createRule(actor: Principal, input: CreateAlertRule): Promise<AlertRule> {
    const user = this.manager(actor);
    if (input.vehicleId !== null) await this.deps.vehicles.authorize(user, 'manage', input.vehicleId);
    const checked = await this.check(user, input);
    const now = this.deps.clock.now();
    const id = newId();
    const row: AlertRulesTable = {
      id,
      owner_id: user.userId,
      vehicle_id: input.vehicleId,
      name: checked.name,
      condition: checked.condition ? JSON.stringify(checked.condition) : null,
      event: checked.event ? JSON.stringify(checked.event) : null,
      cooldown_s: input.cooldownS ?? 0,
      channels: JSON.stringify(checked.channels),
      secret: await this.deps.vault.seal(randomToken(32), {
        table: 'alert_rules',
        column: 'secret',
        rowId: id,
      }),
      enabled: input.enabled === false ? 0 : 1,
      created_ms: now,
      updated_ms: now,
    };
    const watched = await this.watched(user, row.vehicle_id);
    await inTransaction(this.deps.db, async (trx) => {
      await trx.insertInto('alert_rules').values(row).execute();
      await this.wake(trx, watched);
    });
    this.deps.poke();
    this.deps.audit.log('alert_rule.created', {
      userId: user.userId,
      ruleId: row.id,
      vehicleId: row.vehicle_id,
    });
    return this.toRule(row, user);
  }

  async listRules(actor: Principal, vehicleId?: string): Promise<AlertRuleList> {
    const user = requireScope(actor, 'read');
    const readable = await this.readableVehicleIds(user);
    let query = this.deps.db.selectFrom('alert_rules').selectAll();
    if (!isAdmin(user))
      query = query.where((eb) =>
        eb.or([
          eb('owner_id', '=', user.userId),
          ...(readable.length > 0 ? [eb('vehicle_id', 'in', readable)] : []),
        ]),
      );
    if (vehicleId) query = query.where('vehicle_id', '=', vehicleId);
    const rows = await query.orderBy('created_ms', 'desc').orderBy('id').execute();
    return { items: await Promise.all(rows.map((r) => this.toRule(r, user))) };
  }

  async getRule(actor: Principal, id: string): Promise<AlertRule> {
    const user = requireScope(actor, 'read');
    const row = await this.visibleRule(user, id);
    return this.toRule(row, user);
  }

  async updateRule(actor: Principal, id: string, input: UpdateAlertRule): Promise<AlertRule> {
    const user = this.manager(actor);
    const current = await this.managedRule(user, id);
    const vehicleId = input.vehicleId !== undefined ? input.vehicleId : current.vehicle_id;
    if (vehicleId !== null && vehicleId !== current.vehicle_id)
      await this.deps.vehicles.authorize(user, 'manage', vehicleId);
    const merged: CreateAlertRule = {
      name: input.name ?? current.name,
      vehicleId,
      channels: input.channels ?? (JSON.parse(current.channels) as AlertChannel[]),
      cooldownS: input.cooldownS ?? current.cooldown_s,
      enabled: input.enabled ?? current.enabled === 1,
    };
    // A rule is a condition or an event: giving one replaces the other.
    if (input.condition) merged.condition = input.condition;
    else if (input.event) merged.event = input.event;
    else if (current.condition) merged.condition = JSON.parse(current.condition) as AlertCondition;
    else if (current.event) merged.event = JSON.parse(current.event) as AlertEventSpec;
    const checked = await this.check(user, merged);
    const now = this.deps.clock.now();
    const changes = {
      name: checked.name,
      vehicle_id: vehicleId,
      condition: checked.condition ? JSON.stringify(checked.condition) : null,
      event: checked.event ? JSON.stringify(checked.event) : null,
      cooldown_s: merged.cooldownS ?? 0,
      channels: JSON.stringify(checked.channels),
      enabled: merged.enabled === false ? 0 : 1,
      updated_ms: now,
    };
    const watched = changes.enabled === 1 ? await this.watched(user, vehicleId) : [];
    await inTransaction(this.deps.db, async (trx) => {
      await trx.updateTable('alert_rules').set(changes).where('id', '=', id).execute();
      // A rule switched off, or moved to another vehicle, leaves nothing open behind.
      if (changes.enabled === 0 || vehicleId !== current.vehicle_id)
        await this.resolveOpen(trx, id, now, vehicleId);
      await this.wake(trx, watched);
    });
    this.deps.poke();
    this.deps.audit.log('alert_rule.changed', { userId: user.userId, ruleId: id });
    return this.toRule({ ...current, ...changes }, user);
  }

  async deleteRule(actor: Principal, id: string): Promise<void> {
    const user = this.manager(actor);
    await this.managedRule(user, id);
    await inTransaction(this.deps.db, async (trx) => {
      await this.resolveOpen(trx, id, this.deps.clock.now(), undefined);
      await trx.deleteFrom('alert_rules').where('id', '=', id).execute();
    });
    this.deps.audit.log('alert_rule.deleted', { userId: user.userId, ruleId: id });
  }

  /** Sends one notification through each of the rule's channels now (not recorded as an alert). */
  async testRule(actor: Principal, id: string): Promise<AlertTestResult> {
    const user = this.manager(actor);
    const row = await this.managedRule(user, id);
    const owner = await this.deps.db
      .selectFrom('users')
      .select('email')
      .where('id', '=', row.owner_id)
      .executeTakeFirstOrThrow();
    const vehicle = row.vehicle_id
      ? await this.deps.db
          .selectFrom('vehicles')
          .select(['id', 'name', 'vin'])
          .where('id', '=', row.vehicle_id)
          .executeTakeFirst()
      : undefined;
    const results = await this.deps.dispatcher.test({
      rule: { id: row.id, name: row.name, secret: await openRuleSecret(this.deps.vault, row) },
      channels: JSON.parse(row.channels) as AlertChannel[],
      ownerEmail: owner.email,
      vehicle: vehicle ?? { id: '', name: 'All vehicles', vin: null },
    });
    this.deps.audit.log('alert_rule.tested', { userId: user.userId, ruleId: id });
    return { results };
  }

  async listAlerts(actor: Principal, query: AlertsQuery): Promise<AlertPage> {
    const user = requireScope(actor, 'read');
    if (query.from !== undefined && query.to !== undefined && query.from > query.to)
      throw new Invalid('from: must not be after to');
    let vehicleIds: string[] | null = null;
    if (query.vehicleId) {
      await this.deps.vehicles.authorize(user, 'read', query.vehicleId);
      vehicleIds = [query.vehicleId];
    } else if (!isAdmin(user)) vehicleIds = await this.readableVehicleIds(user);
    const limit = query.limit ?? DEFAULT_LIMIT;
    const before = query.before ? decodeBefore(query.before) : null;
    if (vehicleIds !== null && vehicleIds.length === 0) return { items: [], nextBefore: null };
    // Open and acknowledged first (rank 0), then resolved (rank 1); newest first within each.
    let q = this.deps.db
      .selectFrom('alerts')
      .selectAll()
      .select((eb) => eb.case().when('state', '=', 'resolved').then(1).else(0).end().as('rank'));
    if (vehicleIds !== null) q = q.where('vehicle_id', 'in', vehicleIds);
    if (query.state) q = q.where('state', '=', query.state);
    if (query.ruleId) q = q.where('rule_id', '=', query.ruleId);
    if (query.from !== undefined) q = q.where('fired_ms', '>=', query.from);
    if (query.to !== undefined) q = q.where('fired_ms', '<=', query.to);
    if (before) {
      // Past the previous page: a later rank, or within its rank older (or as old with a smaller id).
      q = q.where((eb) => {
        const older = eb.or([
          eb('fired_ms', '<', before.firedMs),
          eb.and([eb('fired_ms', '=', before.firedMs), eb('id', '<', before.id)]),
        ]);
        return before.rank === 0
          ? eb.or([eb('state', '=', 'resolved'), eb.and([eb('state', '!=', 'resolved'), older])])
          : eb.and([eb('state', '=', 'resolved'), older]);
      });
    }
    const rows = await q
      .orderBy('rank')
      .orderBy('fired_ms', 'desc')
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return {
      items: items.map(toAlert),
      nextBefore:
        rows.length > limit && last
          ? encodeBefore({ rank: Number(last.rank), firedMs: Number(last.fired_ms), id: last.id })
          : null,
    };
  }

  async acknowledge(actor: Principal, id: string): Promise<Alert> {
    const user = requireScope(actor, 'write');
    const row = await this.visibleAlert(user, id);
    await this.deps.vehicles.authorize(user, 'manage', row.vehicle_id);
    if (row.state === 'resolved') throw new Conflict('the alert is resolved already');
    if (row.state === 'acknowledged') return toAlert(row);
    const now = this.deps.clock.now();
    const updated = {
      ...row,
      state: 'acknowledged' as const,
      acknowledged_ms: now,
      acknowledged_by: user.userId,
    };
    await inTransaction(this.deps.db, async (trx) => {
      await trx
        .updateTable('alerts')
        .set({ state: 'acknowledged', acknowledged_ms: now, acknowledged_by: user.userId })
        .where('id', '=', id)
        .where('state', '=', 'open')
        .execute();
      await this.deps.dispatcher.queueLive(trx, updated, 'acknowledged', now);
    });
    this.deps.dispatcher.poke();
    this.deps.audit.log('alert.acknowledged', { userId: user.userId, alertId: id });
    return toAlert(updated);
  }

  async deliveries(actor: Principal, id: string): Promise<AlertDeliveryList> {
    const user = requireScope(actor, 'read');
    await this.visibleAlert(user, id);
    const rows = await this.deps.db
      .selectFrom('alert_deliveries')
      .selectAll()
      .where('alert_id', '=', id)
      .orderBy('created_ms')
      .orderBy('id')
      .execute();
    const attempts = rows.length
      ? await this.deps.db
          .selectFrom('alert_delivery_attempts')
          .selectAll()
          .where(
            'delivery_id',
            'in',
            rows.map((r) => r.id),
          )
          .orderBy('id')
          .execute()
      : [];
    return {
      items: rows.map((d) => ({
        id: d.id,
        channel: d.channel,
        target: d.target,
        status: d.status,
        attempts: attempts
          .filter((a) => a.delivery_id === d.id)
          .map((a) => ({
            atMs: Number(a.at_ms),
            ok: a.ok === 1,
            status: a.status,
            error: a.error,
            durationMs: a.duration_ms,
          })),
        nextAttemptMs: d.status === 'pending' ? Number(d.next_at_ms) : null,
        sentMs: d.sent_ms === null ? null : Number(d.sent_ms),
      })),
    };
  }

  /** Operators and admins keep rules; viewers only read them. */
  private manager(actor: Principal): UserPrincipal {
    const user = requireScope(actor, 'write');
    if (user.role === 'viewer') throw new Forbidden('viewers may read alert rules, not change them');
    return user;
  }

  private async readableVehicleIds(user: UserPrincipal): Promise<string[]> {
    return (await this.deps.vehicles.list(user)).map((v) => v.id);
  }

  /** A rule the user may see: theirs, one on a vehicle they may read, or any for an admin; else 404. */
  private async visibleRule(user: UserPrincipal, id: string): Promise<AlertRulesTable> {
    const row = await this.deps.db
      .selectFrom('alert_rules')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw new NotFound('no such alert rule');
    if (row.owner_id === user.userId || isAdmin(user)) return row;
    if (
      row.vehicle_id &&
      (await this.deps.vehicles.readableAmong(user, [row.vehicle_id])).has(row.vehicle_id)
    )
      return row;
    throw new NotFound('no such alert rule');
  }

  /** A rule the user may change: their own (while they manage its vehicle), or any for an admin. */
  private async managedRule(user: UserPrincipal, id: string): Promise<AlertRulesTable> {
    const row = await this.visibleRule(user, id);
    if (row.owner_id !== user.userId && !isAdmin(user))
      throw new Forbidden('only its owner or an admin may change a rule');
    return row;
  }

  private async visibleAlert(user: UserPrincipal, id: string): Promise<AlertsTable> {
    const row = await this.deps.db.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new NotFound('no such alert');
    if (isAdmin(user)) return row;
    if (!(await this.deps.vehicles.readableAmong(user, [row.vehicle_id])).has(row.vehicle_id))
      throw new NotFound('no such alert');
    return row;
  }

  /** Validates what the schema cannot: the metric, the op against its type, events, channels. */
  private async check(
    user: UserPrincipal,
    input: CreateAlertRule,
  ): Promise<{
    name: string;
    condition: AlertCondition | null;
    event: AlertEventSpec | null;
    channels: AlertChannel[];
  }> {
    const name = input.name.trim();
    if (name.length === 0 || /[\r\n]/.test(name)) throw new Invalid('name: must be one line of text');
    if ((input.condition === undefined) === (input.event === undefined))
      throw new Invalid('condition: give a condition or an event, not both or neither');
    let condition: AlertCondition | null = null;
    let event: AlertEventSpec | null = null;
    if (input.condition) {
      const c = input.condition;
      const def = metricCatalog.get(c.metric);
      if (!def) throw new Invalid(`condition.metric: "${c.metric}" is not a catalog metric`);
      const ordered = c.op === '<' || c.op === '<=' || c.op === '>' || c.op === '>=';
      if (ordered && def.type !== 'number')
        throw new Invalid(
          `condition.op: "${c.op}" does not apply to ${c.metric}, which is ${def.type === 'enum' ? 'one of a set of values' : `a ${def.type}`}; use == or !=`,
        );
      if (def.type === 'number' && (typeof c.value !== 'number' || !Number.isFinite(c.value)))
        throw new Invalid(`condition.value: ${c.metric} is a number`);
      if (def.type === 'boolean' && typeof c.value !== 'boolean')
        throw new Invalid(`condition.value: ${c.metric} is true or false`);
      if (def.type === 'enum' && !(typeof c.value === 'string' && def.values?.includes(c.value)))
        throw new Invalid(`condition.value: ${c.metric} is one of ${def.values?.join(', ')}`);
      if (def.type === 'string' && typeof c.value !== 'string')
        throw new Invalid(`condition.value: ${c.metric} is text`);
      if (c.hysteresis !== undefined && c.hysteresis > 0 && !ordered)
        throw new Invalid('condition.hysteresis: applies only to <, <=, > and >=');
      condition = c;
    } else if (input.event) {
      const e = input.event;
      if (e.type === 'offline' && (e.forS === undefined || e.forS < 60))
        throw new Invalid('event.forS: offline needs how long without data, at least 60 seconds');
      const fenced = e.type === 'geofence_enter' || e.type === 'geofence_exit';
      if (fenced && !e.geofence) throw new Invalid('event.geofence: give the circle {lat, lon, radiusM}');
      if (!fenced && e.geofence) throw new Invalid(`event.geofence: only for geofence events, not ${e.type}`);
      if (e.thresholdV !== undefined && e.type !== 'low_12v')
        throw new Invalid(`event.thresholdV: only for low_12v, not ${e.type}`);
      event = e;
    }
    const channels: AlertChannel[] = [];
    const own = (
      await this.deps.db
        .selectFrom('users')
        .select('email')
        .where('id', '=', user.userId)
        .executeTakeFirstOrThrow()
    ).email;
    for (const [i, channel] of input.channels.entries()) {
      const field = `channels[${i}]`;
      if (channel.type === 'email') {
        const to = channel.to?.trim();
        if (to !== undefined) {
          if (/[\r\n]/.test(channel.to!) || headerSafe(to, 254) !== to)
            throw new Invalid(`${field}.to: must be one email address (no line breaks)`);
          if (!/^[^@\s<>,;"]+@[^@\s<>,;"]+\.[^@\s<>,;"]+$/.test(to))
            throw new Invalid(`${field}.to: "${to}" is not an email address`);
          if (to.toLowerCase() !== own.toLowerCase() && !isAdmin(user))
            throw new Forbidden(
              `${field}.to: only an admin may send alerts to an address other than their own`,
            );
        }
        channels.push(
          to && to.toLowerCase() !== own.toLowerCase() ? { type: 'email', to } : { type: 'email' },
        );
      } else if (channel.type === 'webhook') {
        if (channel.allowPrivate && !isAdmin(user))
          throw new Forbidden(`${field}.allowPrivate: only an admin may allow webhooks to private addresses`);
        const problem = await webhookUrlProblem(channel.url, channel.allowPrivate === true);
        if (problem) throw new Invalid(`${field}.url: ${problem}`);
        channels.push(
          channel.allowPrivate
            ? { type: 'webhook', url: channel.url, allowPrivate: true }
            : { type: 'webhook', url: channel.url },
        );
      } else channels.push({ type: 'inapp' });
    }
    return { name, condition, event, channels };
  }

  /**
   * The vehicles a rule watches: its own, or every one its owner manages. Read before a transaction opens
   * (on SQLite the transaction holds the one connection these reads need).
   */
  private async watched(user: UserPrincipal, vehicleId: string | null): Promise<string[]> {
    if (vehicleId) return [vehicleId];
    const managed: string[] = [];
    for (const v of await this.deps.vehicles.list(user))
      if (await this.deps.vehicles.can(user, 'manage', v)) managed.push(v.id);
    return managed;
  }

  /** Asks the alerts processor to look at the rule's vehicles now (a new rule may fire on the newest reading). */
  private async wake(trx: Db, ids: readonly string[]): Promise<void> {
    const now = this.deps.clock.now();
    for (const id of ids) {
      await trx
        .insertInto('processing_state')
        .values({
          processor: ALERTS_PROCESSOR,
          vehicle_id: id,
          state: JSON.stringify({ rules: {}, detector: null, dtcSeenMs: null }),
          pending: 1,
          attempts: 0,
          updated_ms: now,
        })
        .onConflict((oc) => oc.columns(['processor', 'vehicle_id']).doUpdateSet({ pending: 1 }))
        .execute();
    }
  }

  /** Resolves the rule's open alerts (it was switched off, moved or deleted), except on `keepVehicle`. */
  private async resolveOpen(
    trx: Db,
    ruleId: string,
    now: number,
    keepVehicle: string | null | undefined,
  ): Promise<void> {
    let q = trx
      .selectFrom('alerts')
      .selectAll()
      .where('rule_id', '=', ruleId)
      .where('state', '!=', 'resolved');
    if (keepVehicle) q = q.where('vehicle_id', '!=', keepVehicle);
    const open = await q.execute();
    for (const alert of open) {
      await trx
        .updateTable('alerts')
        .set({ state: 'resolved', resolved_ms: now })
        .where('id', '=', alert.id)
        .execute();
      await this.deps.dispatcher.queueLive(
        trx,
        { ...alert, state: 'resolved', resolved_ms: now },
        'resolved',
        now,
      );
    }
  }

  private async toRule(row: AlertRulesTable, user: UserPrincipal): Promise<AlertRule> {
    const mayManage = row.owner_id === user.userId || isAdmin(user);
    return {
      id: row.id,
      name: row.name,
      ownerId: row.owner_id,
      vehicleId: row.vehicle_id,
      condition: row.condition ? (JSON.parse(row.condition) as AlertCondition) : null,
      event: row.event ? (JSON.parse(row.event) as AlertEventSpec) : null,
      cooldownS: Number(row.cooldown_s),
      channels: JSON.parse(row.channels) as AlertChannel[],
      enabled: Number(row.enabled) === 1,
      webhookSecret: mayManage ? await openRuleSecret(this.deps.vault, row) : null,
      createdMs: Number(row.created_ms),
      updatedMs: Number(row.updated_ms),
    };
  }
}

export function toAlert(row: AlertsTable): Alert {
  return {
    id: row.id,
    ruleId: row.rule_id,
    ruleName: row.rule_name,
    vehicleId: row.vehicle_id,
    state: row.state,
    firedMs: Number(row.fired_ms),
    message: row.message,
    value: JSON.parse(row.value) as unknown,
    acknowledgedMs: row.acknowledged_ms === null ? null : Number(row.acknowledged_ms),
    acknowledgedBy: row.acknowledged_by,
    resolvedMs: row.resolved_ms === null ? null : Number(row.resolved_ms),
  };
}

function encodeBefore(c: { rank: number; firedMs: number; id: string }): string {
  return Buffer.from(JSON.stringify([c.rank, c.firedMs, c.id])).toString('base64url');
}

function decodeBefore(text: string): { rank: number; firedMs: number; id: string } {
  try {
    const [rank, firedMs, id] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown[];
    if ((rank === 0 || rank === 1) && Number.isInteger(firedMs) && typeof id === 'string')
      return { rank, firedMs: firedMs as number, id };
  } catch {
    // falls through
  }
  throw new Invalid('before: not a cursor this server gave');
}
