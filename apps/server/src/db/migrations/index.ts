import type { Kysely } from 'kysely';
import type { Engine } from '../database.js';
import * as m0001 from './0001-initial.js';
import * as m0002 from './0002-auth.js';
import * as m0004 from './0004-aliases.js';
import * as m0005 from './0005-rollups.js';
import * as m0006 from './0006-sqlite-rowid-tables.js';
import * as m0007 from './0007-dead-letter-retention.js';
import * as m0010 from './0010-processing-and-sessions.js';
import * as m0012 from './0012-identity.js';
import * as m0013 from './0013-state-seq.js';
import * as m0014 from './0014-alerts.js';
import * as m0015 from './0015-connectors.js';
import * as m0016 from './0016-mark-batches.js';

export interface EngineMigration {
  up(db: Kysely<unknown>, engine: Engine): Promise<void>;
}

/**
 * Every migration, in order. Names sort in the order they run; Kysely records each applied one in
 * `kysely_migration`. Append new ones at the end; never edit one that has shipped.
 */
export const migrations: ReadonlyArray<readonly [string, EngineMigration]> = [
  ['0001-initial', m0001],
  ['0002-auth', m0002],
  ['0004-aliases', m0004],
  ['0005-rollups', m0005],
  ['0006-sqlite-rowid-tables', m0006],
  ['0007-dead-letter-retention', m0007],
  ['0010-processing-and-sessions', m0010],
  ['0012-identity', m0012],
  ['0013-state-seq', m0013],
  ['0014-alerts', m0014],
  ['0015-connectors', m0015],
  ['0016-mark-batches', m0016],
];
