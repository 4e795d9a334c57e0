import type { Logger } from '../../lib/logger.js';

/** Security events worth a trail. Their fields name who and what, never a secret. */
export type AuditEvent =
  | 'login.succeeded'
  | 'login.failed'
  | 'login.throttled'
  | 'login.ended'
  | 'logins.ended_all'
  | 'refresh.reused'
  | 'password.changed'
  | 'setup.completed'
  | 'signup'
  | 'user.created'
  | 'user.updated'
  | 'user.role_changed'
  | 'user.disabled'
  | 'user.enabled'
  | 'user.deleted'
  | 'token.created'
  | 'vehicle_token.created'
  | 'token.revoked'
  | 'vehicle.created'
  | 'vehicle.deleted'
  | 'vehicle.shared'
  | 'vehicle.unshared'
  | 'request.denied'
  | 'mqtt.connect_refused'
  | 'mqtt.publish_refused'
  | 'mqtt.subscribe_refused'
  | 'csrf.refused'
  | 'session.recording_started'
  | 'session.recording_stopped'
  | 'session.deleted'
  | 'session.settings_changed'
  | 'alert_rule.created'
  | 'alert_rule.changed'
  | 'alert_rule.deleted'
  | 'alert_rule.tested'
  | 'alert.acknowledged'
  | 'user.provider_only'
  | 'identity.linked'
  | 'identity.unlinked'
  | 'identity.invitation_accepted'
  | 'oidc.started'
  | 'oidc.succeeded'
  | 'oidc.refused'
  | 'id_token.refused'
  | 'cli_login.started'
  | 'cli_login.confirmed'
  | 'cli_login.denied'
  | 'cli_login.collected'
  | 'cli_login.refused'
  | 'connector.connected'
  | 'connector.vehicle_linked'
  | 'connector.disconnected';

/** Writes audit events as structured log lines: `{"audit":true,"event":"login.failed",…}`. */
export class Audit {
  private readonly logger: Logger;
  constructor(logger: Logger) {
    this.logger = logger.child({ audit: true });
  }

  log(event: AuditEvent, fields: Record<string, unknown> = {}): void {
    this.logger.info({ ...fields, event }, event);
  }
}
