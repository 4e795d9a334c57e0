import { randomUUID } from 'node:crypto';
import type { Config } from '../../config.js';
import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { HttpServer } from '../../transports/http/server.js';
import type { FormatIngest } from '../formats/index.js';
import type { Vault } from '../vault/index.js';
import type { Vehicles } from '../vehicles/index.js';
import { ConnectorAccounts } from './accounts.js';
import { registerVinFastRoutes } from './vinfast.routes.js';
import { VinFastService } from './vinfast.service.js';
import { VinFastRuntime } from './vinfast-runtime.js';

export { VinFastService } from './vinfast.service.js';
export { VinFastRuntime } from './vinfast-runtime.js';

export interface VinFastConnector {
  readonly service: VinFastService;
  readonly runtime: VinFastRuntime;
  readonly instanceId: string;
  close(): Promise<void>;
}

export interface VinFastConnectorOptions {
  /** Real-time period of the runtime's tick (default 1 s); null: no timer, the caller ticks (tests). */
  tickMs?: number | null;
}

/**
 * The VinFast connector (issue 22): routes under /api/v1/connectors/vinfast, and the runtime that keeps
 * each linked account's AWS IoT stream and feeds its pushes to the VinFast decoder and the pipeline.
 */
export function createVinFastConnector(
  deps: {
    http: HttpServer;
    config: Config;
    db: Db;
    vault: Vault;
    clock: Clock;
    logger: Logger;
    vehicles: Vehicles;
    ingest: FormatIngest;
  },
  options: VinFastConnectorOptions = {},
): VinFastConnector {
  const logger = deps.logger.child({ part: 'vinfast' });
  const instanceId = randomUUID();
  const accounts = new ConnectorAccounts({ db: deps.db, vault: deps.vault, clock: deps.clock });
  let runtime: VinFastRuntime | null = null;
  const service = new VinFastService({
    config: deps.config.vinfast,
    accounts,
    vehicles: deps.vehicles,
    clock: deps.clock,
    logger,
    instanceId,
    onRemoved: (id) => runtime?.removed(id),
  });
  runtime = new VinFastRuntime({
    db: deps.db,
    accounts,
    service,
    ingest: deps.ingest,
    clock: deps.clock,
    logger,
    instanceId,
  });
  const rt = runtime;
  registerVinFastRoutes(deps.http, service, () => rt.refreshSoon());
  const tickMs = options.tickMs === undefined ? 1000 : options.tickMs;
  if (tickMs !== null) rt.start(tickMs);
  return { service, runtime: rt, instanceId, close: () => rt.stop() };
}
