import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import type { HttpServer } from '../../transports/http/server.js';
import type { Audit } from '../auth/audit.js';
import { PROCESSORS } from '../processing/index.js';
import type { ReadingsService } from '../readings/index.js';
import type { Vehicles } from '../vehicles/index.js';
import { registerSessionRoutes } from './sessions.routes.js';
import { SessionsService } from './sessions.service.js';

export { SESSIONS_PROCESSOR } from './sessions.processor.js';
export { SessionsService } from './sessions.service.js';

/** Sessions: the API (the processor that records drives and charges runs on the processing path). */
export interface Sessions {
  readonly service: SessionsService;
}

export function createSessions(deps: {
  http: HttpServer;
  db: Db;
  clock: Clock;
  vehicles: Vehicles;
  readings: ReadingsService;
  audit: Audit;
  /** Looks for processing work at once (a hint; the marks are what counts). */
  poke: () => void;
}): Sessions {
  const service = new SessionsService({
    db: deps.db,
    clock: deps.clock,
    vehicles: deps.vehicles,
    readings: deps.readings,
    audit: deps.audit,
    processors: PROCESSORS,
    poke: deps.poke,
  });
  registerSessionRoutes(deps.http, service);
  return { service };
}
