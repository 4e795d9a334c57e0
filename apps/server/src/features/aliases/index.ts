import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import type { HttpServer } from '../../transports/http/server.js';
import type { Vehicles } from '../vehicles/index.js';
import { registerAliasRoutes } from './aliases.routes.js';
import { Aliases } from './aliases.service.js';

export { Aliases, MIN_CONFIRMATIONS, normalizeName } from './aliases.service.js';

/** Builds the known-aliases registry and its routes. */
export function createAliases(deps: { http: HttpServer; db: Db; clock: Clock; vehicles: Vehicles }): Aliases {
  const aliases = new Aliases(deps.db, deps.clock, deps.vehicles);
  registerAliasRoutes(deps.http, aliases);
  return aliases;
}
