// One node per data dir, for the node's whole life: an exclusive SQLite lock on <dataDir>/node.lock.
// The lock is the kernel's (a POSIX record lock, which SQLite takes with fcntl), so two nodes starting at the
// same instant cannot both hold it, and it ends with the process: a node that crashed or was killed leaves
// nothing behind to clean up. The control socket (api/server.ts refuseIfRunning) is how clients find a node,
// and is asked first; but a node binds it last, after its stores and network are up, so two starters could
// both find no socket. The lock closes that window: it is taken right after the license is read, before any
// store, key or network is opened.
import { mkdirSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { dataFile } from '../datadir.ts';
import { ChorusError, describeError } from '../errors.ts';

/**
 * The held lock; release() lets the next node start (releasing twice is harmless). Keep it referenced while the
 * node runs: a collected connection is closed, and its lock with it.
 */
export interface DataDirLock {
  release(): void;
}

/** Takes the data dir's lock now, or throws ALREADY_RUNNING when a node (in any process) holds it. */
export function takeDataDirLock(dataDir: string): DataDirLock {
  let db: DatabaseSync;
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    db = new DatabaseSync(dataFile(dataDir, 'nodeLock'), { timeout: 0 });
  } catch (err) {
    throw new ChorusError('DATA_DIR_LOCK', `cannot lock data dir ${dataDir}: ${describeError(err)}`, { cause: err });
  }
  try {
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE'); // held, never committed: nothing is ever written to this file
  } catch (err) {
    db.close();
    if ((err as { errcode?: number }).errcode === 5 /* SQLITE_BUSY */)
      throw new ChorusError('ALREADY_RUNNING', `another chorus node is already running with data dir ${dataDir}`);
    throw new ChorusError('DATA_DIR_LOCK', `cannot lock data dir ${dataDir}: ${describeError(err)}`, { cause: err });
  }
  return {
    release: () => {
      if (db.isOpen) db.close();
    },
  };
}
