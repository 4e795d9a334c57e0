import type { Config } from '../../config.js';
import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import { Forbidden } from '../../lib/errors.js';
import type { HttpServer } from '../../transports/http/server.js';
import type { Vehicles } from '../vehicles/index.js';
import { registerReadingRoutes } from './readings.routes.js';
import { type AuthorizeRead, ReadingsService } from './readings.service.js';

export { ReadingsService } from './readings.service.js';
export { connectivityOf, POSITION_METRIC } from './state.js';

/** Builds the read API (state, samples, raw, track) and registers its routes. */
export function createReadings(deps: {
  http: HttpServer;
  db: Db;
  clock: Clock;
  config: Config;
  vehicles: Vehicles;
  /** Resolves once `vehicle_state` and the rollups hold every committed sample (the ingest pipeline's). */
  derivedReady: () => Promise<void>;
}): ReadingsService {
  const { vehicles } = deps;
  const authorizeRead: AuthorizeRead = async (actor, vehicleId) => {
    const vehicle = await vehicles.getVisibleVehicle(actor, vehicleId);
    // A vehicle token sees its own vehicle (to publish) but may not read its telemetry back.
    if (!(await vehicles.can(actor, 'read', vehicle))) throw new Forbidden('you may not read this vehicle');
  };
  const readings = new ReadingsService({
    db: deps.db,
    clock: deps.clock,
    offlineAfterS: deps.config.offlineAfterS,
    authorizeRead,
    derivedReady: deps.derivedReady,
  });
  registerReadingRoutes(deps.http, readings);
  return readings;
}
