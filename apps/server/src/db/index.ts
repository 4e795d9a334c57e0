export { widePermissionMessage, widePermissions } from './data-files.js';
export { type Db, type Engine, migrate, type OpenOptions, openStorage, type Storage } from './database.js';
export type * from './tables.js';
export { exclusively, inTransaction } from './exclusive.js';
