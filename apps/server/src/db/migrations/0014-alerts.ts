import type { Kysely } from 'kysely';
import type { Engine } from '../database.js';

/**
 * Alerts (issue 18):
 * - `alert_rules`: a condition on a catalog metric or an event, for one vehicle or (vehicle_id null) every
 *   vehicle its owner manages; channels as JSON; the webhook signing secret.
 * - `alerts`: one row per firing, written by the alerts processor with its progress; the rule's name is
 *   kept so the history outlives the rule.
 * - `alert_deliveries`: the outbox, one row per notification (channel × firing), written in the same
 *   transaction as the firing and sent after the commit; `alert_delivery_attempts` is its log.
 */
export async function up(db: Kysely<unknown>, engine: Engine): Promise<void> {
  const ms = 'bigint';
  await db.schema
    .createTable('alert_rules')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('vehicle_id', 'text', (c) => c.references('vehicles.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('condition', 'text')
    .addColumn('event', 'text')
    .addColumn('cooldown_s', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('channels', 'text', (c) => c.notNull())
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addColumn('updated_ms', ms, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('alert_rules_vehicle').on('alert_rules').columns(['vehicle_id']).execute();
  await db.schema.createIndex('alert_rules_owner').on('alert_rules').columns(['owner_id']).execute();

  await db.schema
    .createTable('alerts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('rule_id', 'text', (c) => c.references('alert_rules.id').onDelete('set null'))
    .addColumn('rule_name', 'text', (c) => c.notNull())
    .addColumn('vehicle_id', 'text', (c) => c.notNull().references('vehicles.id').onDelete('cascade'))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('fired_ms', ms, (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('acknowledged_ms', ms)
    .addColumn('acknowledged_by', 'text')
    .addColumn('resolved_ms', ms)
    .addColumn('created_ms', ms, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('alerts_vehicle_fired')
    .on('alerts')
    .columns(['vehicle_id', 'fired_ms'])
    .execute();
  await db.schema.createIndex('alerts_fired').on('alerts').columns(['fired_ms', 'id']).execute();
  await db.schema.createIndex('alerts_rule').on('alerts').columns(['rule_id']).execute();
  await db.schema.createIndex('alerts_state').on('alerts').columns(['state']).execute();

  await db.schema
    .createTable('alert_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('alert_id', 'text', (c) => c.notNull().references('alerts.id').onDelete('cascade'))
    .addColumn('vehicle_id', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('target', 'text', (c) => c.notNull())
    /** `fired`, `resolved` (in-app only) or `acknowledged` (in-app only). */
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_at_ms', ms, (c) => c.notNull())
    .addColumn('lease_until_ms', ms)
    .addColumn('created_ms', ms, (c) => c.notNull())
    .addColumn('sent_ms', ms)
    .addColumn('allow_private', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createIndex('alert_deliveries_due')
    .on('alert_deliveries')
    .columns(['status', 'next_at_ms'])
    .execute();
  await db.schema
    .createIndex('alert_deliveries_alert')
    .on('alert_deliveries')
    .columns(['alert_id'])
    .execute();

  await db.schema
    .createTable('alert_delivery_attempts')
    .addColumn('id', engine === 'sqlite' ? 'integer' : 'bigserial', (c) =>
      engine === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
    )
    .addColumn('delivery_id', 'text', (c) =>
      c.notNull().references('alert_deliveries.id').onDelete('cascade'),
    )
    .addColumn('at_ms', ms, (c) => c.notNull())
    .addColumn('ok', 'integer', (c) => c.notNull())
    .addColumn('status', 'integer')
    .addColumn('error', 'text')
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('alert_delivery_attempts_delivery')
    .on('alert_delivery_attempts')
    .columns(['delivery_id', 'id'])
    .execute();
}
