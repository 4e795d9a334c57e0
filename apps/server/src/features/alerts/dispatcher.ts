import type { AlertChannel, AlertLiveMessage } from '@tacho/protocol';
import type { Db } from '../../db/index.js';
import type { AlertDeliveriesTable, AlertsTable } from '../../db/tables.js';
import type { Clock } from '../../lib/clock.js';
import { sha256, stableId } from '../../lib/crypto.js';
import type { Logger } from '../../lib/logger.js';
import type { LiveBus } from '../live/bus.js';
import { type Vault, VaultError } from '../vault/index.js';
import { toAlert } from './alerts.service.js';
import { escapeHtml, type Mailer, postWebhook, type SendOutcome, webhookSignature } from './notify.js';

/** A sender holds a delivery this long; after, another (or the next start) may take it. */
const LEASE_MS = 60_000;
/** Retries back off from this… */
const FIRST_RETRY_MS = 10_000;
/** …doubling up to this… */
const MAX_RETRY_MS = 60 * 60_000;
/** …for this long after the firing; then the delivery is given up as failed. */
const GIVE_UP_MS = 24 * 3_600_000;
/** Deliveries in flight at once (a hanging receiver holds one slot for its 5 s). */
const CONCURRENCY = 8;

interface Context {
  /** `secret` is null when the sealed one does not open (a key that is not the one it was sealed with). */
  readonly rule: { readonly id: string; readonly name: string; readonly secret: string | null };
  readonly vehicle: { readonly id: string; readonly name: string; readonly vin: string | null };
}

/**
 * Sends the notifications the alerts processor queued (`alert_deliveries`, written with each firing)
 * once they are committed: the live socket, email, webhooks. A delivery is leased before it is sent, so
 * two instances never send it at once; it is marked sent after the receiver answered, so a crash in
 * between sends it again (with the same delivery id and Message-ID, for the receiver to fold). Failures
 * are logged per attempt and retried with back-off for 24 hours. Runs beside ingest, never in its way.
 */
export class AlertDispatcher {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly deps: {
      db: Db;
      vault: Vault;
      clock: Clock;
      logger: Logger;
      bus: LiveBus;
      mailer: Mailer | null;
      publicUrl: string;
      pollMs?: number;
      /**
       * This process alone sends (a SQLite file has one): leases left by a process that died are void at
       * start, so its unfinished deliveries go out at once rather than after the lease.
       */
      soleInstance?: boolean;
    },
  ) {}

  private leasesCleared = false;

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Look for deliveries now (a commit queued some). */
  poke(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    await Promise.all(this.inFlight);
  }

  /** Queues the live notice of an alert's change (acknowledged or resolved by a person) in `trx`. */
  async queueLive(
    trx: Db,
    alert: AlertsTable,
    kind: 'acknowledged' | 'resolved',
    nowMs: number,
  ): Promise<void> {
    const row: AlertDeliveriesTable = {
      id: stableId('delivery', alert.id, 'inapp', 'live', kind, nowMs),
      alert_id: alert.id,
      vehicle_id: alert.vehicle_id,
      channel: 'inapp',
      target: 'live',
      kind,
      status: 'pending',
      attempts: 0,
      next_at_ms: nowMs,
      lease_until_ms: null,
      created_ms: nowMs,
      sent_ms: null,
      allow_private: 0,
    };
    await trx
      .insertInto('alert_deliveries')
      .values(row)
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }

  /** A rule's test: one notification through each channel, now, reported but not queued. */
  async test(
    input: Context & { channels: readonly AlertChannel[]; ownerEmail: string },
  ): Promise<Array<{ channel: string; target: string; ok: boolean; error: string | null }>> {
    const nowMs = this.deps.clock.now();
    const alert: AlertsTable = {
      id: `test-${nowMs}`,
      rule_id: input.rule.id,
      rule_name: input.rule.name,
      vehicle_id: input.vehicle.id,
      state: 'open',
      fired_ms: nowMs,
      message: 'This is a test of the rule’s notifications',
      value: 'null',
      acknowledged_ms: null,
      acknowledged_by: null,
      resolved_ms: null,
      created_ms: nowMs,
    };
    const out: Array<{ channel: string; target: string; ok: boolean; error: string | null }> = [];
    for (const channel of input.channels) {
      let target = 'live';
      let outcome: SendOutcome;
      if (channel.type === 'email') {
        target = channel.to ?? input.ownerEmail;
        outcome = await this.email(target, alert, input, `test-${nowMs}`);
      } else if (channel.type === 'webhook') {
        target = channel.url;
        outcome = await this.webhook(
          target,
          channel.allowPrivate === true,
          alert,
          input,
          `test-${nowMs}`,
          nowMs,
        );
      } else if (input.vehicle.id === '') {
        // The live socket streams per vehicle: a rule for all of them shows in-app when it fires.
        outcome = {
          ok: false,
          status: null,
          error: 'a rule for every vehicle has no one vehicle to show a test on',
        };
      } else {
        outcome = await this.live(alert);
      }
      out.push({ channel: channel.type, target, ok: outcome.ok, error: outcome.error });
    }
    return out;
  }

  private schedule(ms: number): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.pass()
        .catch((error) => {
          this.deps.logger.warn({ err: error }, 'alert deliveries could not be read; will try again');
          return false;
        })
        .then((more) => {
          this.running = null;
          const soon = this.again || more;
          this.again = false;
          this.schedule(soon ? 50 : (this.deps.pollMs ?? 1000));
        });
    }, ms);
    this.timer.unref?.();
  }

  /** Takes the due deliveries it can lease and sends them; true when more may be due. */
  private async pass(): Promise<boolean> {
    if (this.deps.soleInstance && !this.leasesCleared) {
      await this.deps.db
        .updateTable('alert_deliveries')
        .set({ lease_until_ms: null })
        .where('status', '=', 'pending')
        .where('lease_until_ms', 'is not', null)
        .execute();
      this.leasesCleared = true;
    }
    const now = this.deps.clock.now();
    const due = await this.deps.db
      .selectFrom('alert_deliveries')
      .select('id')
      .where('status', '=', 'pending')
      .where('next_at_ms', '<=', now)
      .where((eb) => eb.or([eb('lease_until_ms', 'is', null), eb('lease_until_ms', '<', now)]))
      .orderBy('next_at_ms')
      .limit(50)
      .execute();
    for (const { id } of due) {
      if (this.stopped) break;
      while (this.inFlight.size >= CONCURRENCY) await Promise.race(this.inFlight);
      const leased = await this.deps.db
        .updateTable('alert_deliveries')
        .set({ lease_until_ms: now + LEASE_MS })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .where((eb) => eb.or([eb('lease_until_ms', 'is', null), eb('lease_until_ms', '<', now)]))
        .executeTakeFirst();
      if (Number(leased.numUpdatedRows) !== 1) continue;
      const job = this.deliver(id)
        .catch((error) => this.deps.logger.warn({ err: error, deliveryId: id }, 'alert delivery failed'))
        .finally(() => this.inFlight.delete(job));
      this.inFlight.add(job);
    }
    return due.length === 50;
  }

  private async deliver(id: string): Promise<void> {
    const { db } = this.deps;
    const d = await db.selectFrom('alert_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
    if (!d) return;
    const alert = await db.selectFrom('alerts').selectAll().where('id', '=', d.alert_id).executeTakeFirst();
    const started = performance.now();
    let outcome: SendOutcome;
    let ctx: Context | null = null;
    if (alert) ctx = await this.context(alert);
    if (!alert || (!ctx && d.channel !== 'inapp')) {
      outcome = { ok: false, status: null, error: 'the alert or its rule is gone' };
      await this.record(d, outcome, performance.now() - started, true);
      return;
    }
    if (d.channel === 'inapp') outcome = await this.live(alert);
    else if (d.channel === 'email') outcome = await this.email(d.target, alert, ctx!, d.id);
    else
      outcome = await this.webhook(d.target, d.allow_private === 1, alert, ctx!, d.id, Number(d.created_ms));
    await this.record(d, outcome, performance.now() - started, false);
  }

  /** Logs the attempt and settles the delivery: sent, tried again later, or given up. */
  private async record(
    d: AlertDeliveriesTable,
    outcome: SendOutcome,
    ms: number,
    final: boolean,
  ): Promise<void> {
    const now = this.deps.clock.now();
    const attempts = d.attempts + 1;
    const giveUp = final || now - Number(d.created_ms) >= GIVE_UP_MS;
    const next = now + Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (attempts - 1));
    await this.deps.db.transaction().execute(async (trx) => {
      // The live socket keeps no log: it may drop a notice (a dashboard reloads the list).
      if (d.channel !== 'inapp' || !outcome.ok)
        await trx
          .insertInto('alert_delivery_attempts')
          .values({
            delivery_id: d.id,
            at_ms: now,
            ok: outcome.ok ? 1 : 0,
            status: outcome.status,
            error: outcome.error,
            duration_ms: Math.round(ms),
          })
          .execute();
      await trx
        .updateTable('alert_deliveries')
        .set(
          outcome.ok
            ? { status: 'sent', sent_ms: now, attempts, lease_until_ms: null }
            : giveUp
              ? { status: 'failed', attempts, lease_until_ms: null }
              : { attempts, next_at_ms: next, lease_until_ms: null },
        )
        .where('id', '=', d.id)
        .execute();
    });
    if (!outcome.ok)
      this.deps.logger.warn(
        { deliveryId: d.id, channel: d.channel, attempts, error: outcome.error, status: outcome.status },
        giveUp ? 'alert delivery given up' : 'alert delivery failed; will retry',
      );
  }

  private async context(alert: AlertsTable): Promise<Context | null> {
    const vehicle = await this.deps.db
      .selectFrom('vehicles')
      .select(['id', 'name', 'vin'])
      .where('id', '=', alert.vehicle_id)
      .executeTakeFirst();
    if (!vehicle || !alert.rule_id) return null;
    const rule = await this.deps.db
      .selectFrom('alert_rules')
      .select(['id', 'name', 'secret'])
      .where('id', '=', alert.rule_id)
      .executeTakeFirst();
    return rule ? { rule: { ...rule, secret: await openRuleSecret(this.deps.vault, rule) }, vehicle } : null;
  }

  private async live(alert: AlertsTable): Promise<SendOutcome> {
    const message: AlertLiveMessage = { type: 'alert', alert: toAlert(alert) };
    try {
      await this.deps.bus.publish(alert.vehicle_id, JSON.stringify(message));
      return { ok: true, status: null, error: null };
    } catch (error) {
      return { ok: false, status: null, error: (error as Error).message };
    }
  }

  private async email(
    to: string,
    alert: AlertsTable,
    ctx: Context,
    deliveryId: string,
  ): Promise<SendOutcome> {
    if (!this.deps.mailer)
      return { ok: false, status: null, error: 'no SMTP server is configured (TACHO_SMTP_URL)' };
    const link = `${this.deps.publicUrl}/vehicles/${encodeURIComponent(ctx.vehicle.id)}`;
    const when = new Date(Number(alert.fired_ms)).toISOString();
    const text = [
      `${ctx.vehicle.name}: ${alert.message}`,
      '',
      `Rule: ${ctx.rule.name}`,
      `Vehicle: ${ctx.vehicle.name}${ctx.vehicle.vin ? ` (${ctx.vehicle.vin})` : ''}`,
      `Value: ${alert.value}`,
      `At: ${when}`,
      '',
      `Open the vehicle: ${link}`,
    ].join('\n');
    const html = `<p><strong>${escapeHtml(ctx.vehicle.name)}</strong>: ${escapeHtml(alert.message)}</p>
<table><tr><td>Rule</td><td>${escapeHtml(ctx.rule.name)}</td></tr>
<tr><td>Vehicle</td><td>${escapeHtml(ctx.vehicle.name)}${ctx.vehicle.vin ? ` (${escapeHtml(ctx.vehicle.vin)})` : ''}</td></tr>
<tr><td>Value</td><td>${escapeHtml(alert.value)}</td></tr>
<tr><td>At</td><td>${escapeHtml(when)}</td></tr></table>
<p><a href="${escapeHtml(link)}">Open the vehicle in Tacho</a></p>`;
    const host = new URL(this.deps.publicUrl).hostname;
    return this.deps.mailer.send({
      to,
      subject: `[Tacho] ${ctx.rule.name}: ${ctx.vehicle.name} - ${alert.message}`,
      text,
      html,
      messageId: `<${sha256(deliveryId).slice(0, 32)}@${host}>`,
    });
  }

  private webhook(
    url: string,
    allowPrivate: boolean,
    alert: AlertsTable,
    ctx: Context,
    deliveryId: string,
    queuedMs: number,
  ): Promise<SendOutcome> {
    const secret = ctx.rule.secret;
    if (secret === null)
      return Promise.resolve({
        ok: false,
        status: null,
        error: "the rule's webhook secret does not open with this server's encryption key",
      });
    // The timestamp is in the signed body, so a receiver can refuse an old delivery replayed at it.
    const body = JSON.stringify({
      deliveryId,
      timestamp: queuedMs,
      alert: toAlert(alert),
      rule: { id: ctx.rule.id, name: ctx.rule.name },
      vehicle: {
        ...ctx.vehicle,
        url: `${this.deps.publicUrl}/vehicles/${encodeURIComponent(ctx.vehicle.id)}`,
      },
    });
    return postWebhook(
      url,
      body,
      { 'x-tacho-signature': webhookSignature(secret, body), 'x-tacho-delivery': deliveryId },
      { allowPrivate },
    );
  }
}

/** A rule's webhook signing secret, opened; null when it does not open (nothing is sent unsigned). */
export async function openRuleSecret(
  vault: Vault,
  rule: { id: string; secret: string },
): Promise<string | null> {
  return vault
    .open(rule.secret, { table: 'alert_rules', column: 'secret', rowId: rule.id })
    .catch((error: unknown) => {
      if (error instanceof VaultError) return null;
      throw error;
    });
}
