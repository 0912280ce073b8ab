// SQLite's WAL checkpoints once writes pause. In WAL mode, the commit that takes the log past `wal_autocheckpoint`
// pages (1,000 by default) also copies the log back into the database file, with its fsyncs, before it returns. In
// `bench dht --procs 5` that was a DHT write on some node about every ~110 commits, and most of the slow writes
// after the first hundred. Here the connection's own bound is raised to INLINE_PAGES: only sustained writes reach
// it, and it still bounds the log's size. A checkpoint runs from a timer once no commit has come for `quietMs`,
// when at least `minCommits` have gone in since the last one, unless the event loop is busy (loop-load.ts; like
// the decisions' read-ahead, it waits for room). A checkpoint copies committed pages only: whether it runs, fails
// or is cut short by a close, every commit stays in the log or the file (nothing is lost).
import type { DatabaseSync } from 'node:sqlite';
import { LoopLoad } from './loop-load.ts';

/** The connection's own bound (pages): a commit that takes the log past it checkpoints in-line, as SQLite does. */
export const INLINE_PAGES = 4000;

export interface QuietCheckpointOptions {
  /** How long without a commit counts as a pause (ms; default 250). */
  quietMs?: number;
  /** Commits since the last checkpoint below which a pause does not checkpoint (default 64). */
  minCommits?: number;
  /** The in-line bound in pages (default INLINE_PAGES). */
  inlinePages?: number;
  /**
   * Whether the event loop is too busy for a checkpoint now; asked when the timer is set and when it fires (the
   * default, a LoopLoad, measures the window between). A busy loop puts the checkpoint off by `quietMs`.
   */
  busy?: () => boolean;
}

export class QuietCheckpoints {
  readonly #db: DatabaseSync;
  readonly #quietMs: number;
  readonly #minCommits: number;
  readonly #busy: () => boolean;
  #commits = 0;
  #lastCommitAt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /** Sets the connection's in-line bound: `db` must be open, in WAL mode. */
  constructor(db: DatabaseSync, opts: QuietCheckpointOptions = {}) {
    this.#db = db;
    this.#quietMs = opts.quietMs ?? 250;
    this.#minCommits = opts.minCommits ?? 64;
    const load = opts.busy ? undefined : new LoopLoad();
    this.#busy = opts.busy ?? (() => load!.busy());
    db.exec(`PRAGMA wal_autocheckpoint = ${opts.inlinePages ?? INLINE_PAGES}`);
  }

  /** Commits since the last checkpoint run here. */
  get pending(): number {
    return this.#commits;
  }

  /** A write transaction committed on the connection. Cheap: a count and a clock read; a timer at most per pause. */
  committed(): void {
    this.#commits++;
    this.#lastCommitAt = Date.now();
    if (this.#timer === undefined && !this.#closed && this.#commits >= this.#minCommits) this.#arm(this.#quietMs);
  }

  /** Checkpoints now (a PASSIVE checkpoint: it waits for nothing). False when the connection is gone or it failed. */
  checkpoint(): boolean {
    if (this.#closed || !this.#db.isOpen) return false;
    try {
      this.#db.exec('PRAGMA wal_checkpoint(PASSIVE)');
    } catch {
      return false; // the pages stay in the log; the in-line bound still holds its size
    }
    this.#commits = 0;
    return true;
  }

  /** No more checkpoints from here (call before the connection closes; SQLite's close checkpoints itself). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#busy(); // the load's window starts here
    this.#timer = setTimeout(() => this.#due(), ms);
    this.#timer.unref();
  }

  /**
   * The timer: checkpoints when the pause has lasted `quietMs` since the last commit and the loop has room; waits
   * out the rest of the pause, or `quietMs` more while the loop is busy.
   */
  #due(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    const quietFor = Date.now() - this.#lastCommitAt;
    if (quietFor < this.#quietMs) this.#arm(this.#quietMs - quietFor);
    else if (this.#busy()) this.#arm(this.#quietMs);
    else this.checkpoint();
  }
}
