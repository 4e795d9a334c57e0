export { widePermissionMessage, widePermissions } from './data-files.js';
export { type Db, type Engine, migrate, type OpenOptions, openStorage, type Storage } from './database.js';
export { exclusively, inTransaction, readSnapshot } from './exclusive.js';
export { isStorageUnavailable } from './storage-unavailable.js';
export type * from './tables.js';
