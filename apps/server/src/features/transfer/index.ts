import type { UnitPreferences } from '@tacho/protocol';
import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { HttpServer } from '../../transports/http/server.js';
import type { SessionsService } from '../sessions/index.js';
import type { IngestPipeline } from '../telemetry/index.js';
import type { Vehicles } from '../vehicles/index.js';
import { ExportService } from './export.service.js';
import { ImportService } from './import.service.js';
import { registerTransferRoutes } from './transfer.routes.js';

export { ExportService } from './export.service.js';
export { ImportService } from './import.service.js';

/** Export (CSV, NDJSON, GPX, GeoJSON) and import of vehicles' samples and sessions (issue 19). */
export interface Transfer {
  readonly exports: ExportService;
  readonly imports: ImportService;
}

export function createTransfer(deps: {
  http: HttpServer;
  db: Db;
  clock: Clock;
  logger: Logger;
  vehicles: Vehicles;
  sessions: SessionsService;
  pipeline: IngestPipeline;
  maxImportBytes: number;
  /** The units a user reads values in: CSV exports are written in them unless `units=stored`. */
  unitPreferences: (userId: string) => Promise<UnitPreferences>;
}): Transfer {
  const logger = deps.logger.child({ part: 'transfer' });
  const exports = new ExportService({ ...deps, logger, derivedReady: () => deps.pipeline.flushDerived() });
  const imports = new ImportService({ ...deps, logger });
  registerTransferRoutes(deps.http, exports, imports, deps.maxImportBytes);
  return { exports, imports };
}
