import { randomUUID } from 'node:crypto';
import type { Config } from '../../config.js';
import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { HttpServer } from '../../transports/http/server.js';
import type { Auth } from '../auth/index.js';
import type { IngestPipeline } from '../telemetry/index.js';
import type { Vault } from '../vault/index.js';
import type { Vehicles } from '../vehicles/index.js';
import { ConnectorAccounts } from './accounts.js';
import { TeslaClient } from './tesla.js';
import { registerTeslaRoutes, TESLA_CALLBACK_PATH } from './tesla.routes.js';
import { TeslaService } from './tesla.service.js';
import { TeslaPoller } from './tesla-poller.js';
import { TeslaTokenKeeper } from './tesla-tokens.js';

export { ConnectorAccounts } from './accounts.js';
export { TeslaClient } from './tesla.js';
export { TeslaService } from './tesla.service.js';
export { TESLA_API_SOURCE, TeslaPoller } from './tesla-poller.js';
export { TeslaTokenKeeper } from './tesla-tokens.js';

export interface TeslaConnector {
  readonly service: TeslaService;
  /** The connector accounts' storage (shared with the other makers' connectors). */
  readonly accounts: ConnectorAccounts;
  /** Null when Tesla is not configured. */
  readonly poller: TeslaPoller | null;
  readonly tokens: TeslaTokenKeeper | null;
  /** Tesla's OAuth server and Fleet API; null when Tesla is not configured. */
  readonly client: TeslaClient | null;
  readonly instanceId: string;
  close(): Promise<void>;
}

export interface TeslaConnectorOptions {
  /** Real-time period of the poller's tick (default 1 s); null: no timer, the caller ticks (tests). */
  pollTickMs?: number | null;
  /** Tests: runs between Tesla's refresh answer and its commit (throw to act out a crash there). */
  beforeTokenCommit?: (accountId: string) => void | Promise<void>;
}

/**
 * The Tesla connector (issue 21): routes under /api/v1/connectors/tesla, and the poller that reads each
 * linked vehicle through the Fleet API into the ingestion pipeline. Without TACHO_TESLA_CLIENT_ID the
 * routes answer that Tesla is not configured and nothing polls.
 */
export function createTeslaConnector(
  deps: {
    http: HttpServer;
    config: Config;
    db: Db;
    vault: Vault;
    clock: Clock;
    logger: Logger;
    auth: Auth;
    vehicles: Vehicles;
    pipeline: IngestPipeline;
  },
  options: TeslaConnectorOptions = {},
): TeslaConnector {
  const logger = deps.logger.child({ part: 'tesla' });
  const instanceId = randomUUID();
  const accounts = new ConnectorAccounts({ db: deps.db, vault: deps.vault, clock: deps.clock });
  const tesla = deps.config.tesla;
  const client = tesla
    ? new TeslaClient(
        {
          ...tesla,
          // Not enumerable in the Config (so no dump shows it): the spread above leaves it out.
          ...(tesla.clientSecret !== undefined ? { clientSecret: tesla.clientSecret } : {}),
          redirectUri: `${deps.config.publicUrl}${TESLA_CALLBACK_PATH}`,
        },
        () => deps.clock.now(),
      )
    : null;
  const tokens = client
    ? new TeslaTokenKeeper({
        accounts,
        client,
        clock: deps.clock,
        logger,
        instanceId,
        ...(options.beforeTokenCommit ? { beforeCommit: options.beforeTokenCommit } : {}),
      })
    : null;
  const service = new TeslaService({
    config: tesla,
    accounts,
    client,
    tokens,
    vehicles: deps.vehicles,
    clock: deps.clock,
    logger,
    audit: deps.auth.audit,
  });
  registerTeslaRoutes(deps.http, service, deps.config.publicUrl);
  const poller =
    tesla && client && tokens
      ? new TeslaPoller({
          accounts,
          client,
          tokens,
          pipeline: deps.pipeline,
          clock: deps.clock,
          logger,
          instanceId,
          dailyRequests: tesla.dailyRequests,
        })
      : null;
  const tickMs = options.pollTickMs === undefined ? 1000 : options.pollTickMs;
  if (poller && tickMs !== null) poller.start(tickMs);
  return {
    service,
    accounts,
    poller,
    tokens,
    client,
    instanceId,
    close: async () => {
      await poller?.stop();
    },
  };
}
