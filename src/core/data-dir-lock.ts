// One node per data dir, with two guards. The control socket (refuseIfRunning): a node answers there, which is
// how clients find it, and how a node of an earlier release, which takes no lock, is found. And, for the node's
// whole life, an exclusive SQLite lock on <dataDir>/node.lock (takeDataDirLock). The lock is the kernel's (a
// POSIX record lock, which SQLite takes with fcntl), so two nodes starting at the same instant cannot both hold
// it, and it ends with the process: a node that crashed or was killed leaves nothing behind to clean up. The
// socket is asked first; but a node binds it last, after its stores and network are up, so two starters could
// both find no socket. The lock closes that window: it is taken right after the license is read, before any
// store, key or network is opened.
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { DatabaseSync } from 'node:sqlite';
import { dataFile } from './datadir.ts';
import { ChorusError, describeError } from './errors.ts';

function alreadyRunning(dataDir: string): ChorusError {
  return new ChorusError('ALREADY_RUNNING', `another chorus node is already running with data dir ${dataDir}`);
}

/**
 * Throws ALREADY_RUNNING when a node answers on the control socket of `dataDir`. A node starting on that data dir
 * asks this before it opens anything there (its stores, its keys, its identity on the network), and again when it
 * takes the socket.
 */
export async function refuseIfRunning(dataDir: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const c = connect(dataFile(dataDir, 'socket'));
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw alreadyRunning(dataDir);
}

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
    if ((err as { errcode?: number }).errcode === 5 /* SQLITE_BUSY */) throw alreadyRunning(dataDir);
    throw new ChorusError('DATA_DIR_LOCK', `cannot lock data dir ${dataDir}: ${describeError(err)}`, { cause: err });
  }
  return {
    release: () => {
      if (db.isOpen) db.close();
    },
  };
}
