import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import type { EventBus } from '../../lib/events.js';
import type { HttpServer } from '../../transports/http/server.js';
import type { Auth } from '../auth/index.js';
import { registerVehicleRoutes } from './vehicles.routes.js';
import { Vehicles } from './vehicles.service.js';

export { accessLevel, decide, type Grant, type VehicleAction } from './access.js';
export { toVehicleView, Vehicles, type VisibleVehicle } from './vehicles.service.js';

/** Builds the vehicles feature and its routes. Use `vehicles.can(principal, action, vehicle)` everywhere. */
export function createVehicles(deps: {
  http: HttpServer;
  db: Db;
  clock: Clock;
  events: EventBus;
  auth: Auth;
}): Vehicles {
  const vehicles = new Vehicles(deps.db, deps.clock, deps.events, deps.auth.tokens, deps.auth.audit);
  registerVehicleRoutes(deps.http, vehicles);
  return vehicles;
}
