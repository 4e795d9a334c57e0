import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { HttpServer } from '../../transports/http/server.js';
import type { Audit } from '../auth/audit.js';
import type { LiveBus } from '../live/bus.js';
import type { Vault } from '../vault/index.js';
import type { Vehicles } from '../vehicles/index.js';
import { registerAlertRoutes } from './alerts.routes.js';
import { AlertsService } from './alerts.service.js';
import { AlertDispatcher } from './dispatcher.js';
import { Mailer } from './notify.js';

export { ALERTS_PROCESSOR } from './alerts.processor.js';

/** Alerts: rules and alerts over the API, and the dispatcher that sends what the alerts processor queued. */
export interface Alerts {
  readonly service: AlertsService;
  readonly dispatcher: AlertDispatcher;
  close(): Promise<void>;
}

export function createAlerts(deps: {
  http: HttpServer;
  db: Db;
  vault: Vault;
  clock: Clock;
  logger: Logger;
  vehicles: Vehicles;
  audit: Audit;
  bus: LiveBus;
  smtp: { url: string; from: string } | undefined;
  publicUrl: string;
  /** SQLite: one process owns the database, so it alone sends. */
  soleInstance: boolean;
  /** Looks for processing work at once. */
  poke: () => void;
}): Alerts {
  const mailer = deps.smtp ? new Mailer(deps.smtp.url, deps.smtp.from) : null;
  const dispatcher = new AlertDispatcher({
    db: deps.db,
    vault: deps.vault,
    clock: deps.clock,
    logger: deps.logger.child({ part: 'alerts' }),
    bus: deps.bus,
    mailer,
    publicUrl: deps.publicUrl,
    soleInstance: deps.soleInstance,
  });
  const service = new AlertsService({
    db: deps.db,
    vault: deps.vault,
    clock: deps.clock,
    vehicles: deps.vehicles,
    audit: deps.audit,
    dispatcher,
    poke: deps.poke,
  });
  registerAlertRoutes(deps.http, service);
  dispatcher.start();
  return {
    service,
    dispatcher,
    async close() {
      await dispatcher.stop();
      mailer?.close();
    },
  };
}
