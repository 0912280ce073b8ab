// SQLite's WAL checkpoints once writes pause. In WAL mode, the commit that takes the log past `wal_autocheckpoint`
// pages (1,000 by default) also copies the log back into the database file, with its fsyncs, before it returns. In
// `bench dht --procs 5` that was a DHT write on some node about every ~110 commits, and most of the slow writes
// after the first hundred. Here the connection's own bound is raised to INLINE_PAGES: only sustained writes reach
// it, it still bounds the log's size, and the checkpoint it makes copies up to 4x more pages in one go. A checkpoint
// runs from a timer once no commit has come for `quietMs`, when at least `minCommits` have gone in since the last
// one, unless the event loop is busy (loop-load.ts; like the decisions' read-ahead, it waits for room).
// Durability: with synchronous=NORMAL, commits since the last checkpoint are not yet fsynced. The raised bound leaves
// more of them to an OS crash under sustained writes; a pause after `minCommits` syncs them sooner. A process crash
// loses no commit either way: a checkpoint copies committed pages only, and SQLite replays the log on the next open.
import type { DatabaseSync } from 'node:sqlite';
import { LoopLoad } from './loop-load.ts';

/** The connection's own bound (pages): a commit that takes the log past it checkpoints in-line, as SQLite does. */
export const INLINE_PAGES = 4000;

/** SQLite's answer to `PRAGMA wal_checkpoint`: busy, frames in the log, frames copied into the file. */
export interface CheckpointRow {
  busy?: unknown;
  log?: unknown;
  checkpointed?: unknown;
}

/**
 * Whether a checkpoint copied the whole log: SQLite answers a checkpoint that another connection blocked or cut short
 * with a row (busy, or fewer frames copied than the log holds), not an error.
 */
export function checkpointComplete(row: CheckpointRow | undefined): boolean {
  return row?.busy === 0 && row.log === row.checkpointed;
}

export interface QuietCheckpointOptions {
  /** How long without a commit counts as a pause (ms; default 250). */
  quietMs?: number;
  /** Commits since the last checkpoint below which a pause does not checkpoint (default 64). */
  minCommits?: number;
  /** The in-line bound in pages (default INLINE_PAGES). */
  inlinePages?: number;
  /**
   * Whether the event loop is too busy for a checkpoint now; asked when the timer is set and when it fires (the
   * default, a LoopLoad, measures the loop since its last sample: a window of at least 100 ms, which may start
   * before the timer did). A busy loop puts the checkpoint off by `quietMs`.
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

  /**
   * Checkpoints now (PASSIVE: it waits for nothing). True when the whole log reached the file; false when the
   * connection is gone, the checkpoint failed, or another connection kept it from copying everything (SQLite
   * answers that with a row, not an error): the count is kept, so the next pause after a commit tries again.
   */
  checkpoint(): boolean {
    if (this.#closed || !this.#db.isOpen) return false;
    let done: CheckpointRow | undefined;
    try {
      done = this.#db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get();
    } catch {
      return false; // e.g. inside an open transaction: the pages stay in the log, the in-line bound holds its size
    }
    if (!checkpointComplete(done)) return false;
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
    // a clock set back makes quietFor negative: wait one pause, not the jump
    if (quietFor < this.#quietMs) this.#arm(Math.min(this.#quietMs, this.#quietMs - quietFor));
    else if (this.#busy()) this.#arm(this.#quietMs);
    else this.checkpoint();
  }
}
