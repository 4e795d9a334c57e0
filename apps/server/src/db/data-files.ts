import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The SQLite database holds everything a local account must not read: password hashes, token hashes,
 * every vehicle's data and the key that signs login cookies. Its directory is private to the server's
 * account (0700) and its files too (0600).
 */
export const DATA_DIR_MODE = 0o700;
export const DATA_FILE_MODE = 0o600;

/** The files SQLite keeps beside the database: the write-ahead log, its index, a rollback journal. */
const SIDE_FILES = ['-wal', '-shm', '-journal'];

/**
 * Creates the data directory (0700) and an empty database file (0600) when they do not exist yet, before
 * SQLite opens it. SQLite gives the -wal, -shm and -journal files it creates later the database file's
 * own mode (os_unix.c, findCreateFileMode), so they are 0600 as well, whichever connection creates them.
 * Existing directories and files keep their mode: `widePermissions` reports them.
 */
export function createPrivateDatabaseFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: DATA_DIR_MODE });
  // 'wx' creates the file only if it is missing, with this mode (less the umask, which only narrows it).
  try {
    closeSync(openSync(path, 'wx', DATA_FILE_MODE));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

export interface WidePermission {
  readonly path: string;
  /** The permission bits found, e.g. 0o644. */
  readonly mode: number;
  /** The widest mode it should have. */
  readonly expected: number;
}

/**
 * The data directory and database files that other local accounts may read or write (any group or other
 * permission bit), for a warning at start. Missing files are skipped.
 */
export function widePermissions(databasePath: string): WidePermission[] {
  const wide: WidePermission[] = [];
  const check = (path: string, expected: number) => {
    let mode: number;
    try {
      mode = statSync(path).mode & 0o777;
    } catch {
      return;
    }
    if ((mode & 0o077) !== 0) wide.push({ path, mode, expected });
  };
  check(dirname(databasePath), DATA_DIR_MODE);
  check(databasePath, DATA_FILE_MODE);
  for (const suffix of SIDE_FILES) check(`${databasePath}${suffix}`, DATA_FILE_MODE);
  return wide;
}

/** The warning for one too-wide path: what is wrong, why it matters, the command that fixes it. */
export function widePermissionMessage(wide: WidePermission): string {
  const octal = (mode: number) => `0${mode.toString(8)}`;
  return `${wide.path} has mode ${octal(wide.mode)}: other local accounts can read the database (password and token hashes, the cookie signing key, all telemetry); run chmod ${wide.expected.toString(8)} ${wide.path}`;
}
