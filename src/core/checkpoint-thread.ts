// SQLite's WAL checkpoints on a worker thread, for a database file that other connections may open (the event log).
// In WAL mode the commit that takes the log past `wal_autocheckpoint` pages (1,000) copies the log back into the
// database file, with its fsyncs, before it returns: on the event loop, 4–10 ms for an event log. With ten nodes in
// one process each logging every message, those in-line checkpoints were most of pubsub's slow deliveries.
// Here a writer asks one worker thread per process to checkpoint its file every `everyPages` pages of log (estimated
// from what it committed). The worker, on a connection of its own:
// - copies the log into the file (PASSIVE: it blocks no writer, and copies what no reader still needs);
// - then, when everything was copied, runs a RESTART checkpoint without waiting (only the few pages committed
//   meanwhile are left to copy; it gives up at once when a writer or reader is busy), so that the next commit
//   starts the log again from its beginning. Without it, commits that never pause leave no moment when the whole log
//   is copied, the log grows to SQLite's bound and the commit there checkpoints in-line after all.
// SQLite's bound is kept as it is: should the worker fall behind, fail or be missing, the writer checkpoints in-line
// as before. Durability is unchanged: the same commits reach the file, sooner and from another thread.
// The worker starts with the first request and stops after `idleMs` without one, so a quiet node does not keep a
// second V8 isolate in memory. Its connection opens the file read-write without creating it (a file removed
// meanwhile is an error it reports, not a new empty database) and closes after each checkpoint.
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/** The worker: a PASSIVE checkpoint (and a RESTART one after a complete copy) per request; SQLite's row or the error. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
parentPort.on('message', ({ id, url }) => {
  let db;
  try {
    db = new DatabaseSync(new URL(url), { timeout: 0 });
    const row = db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get();
    let restart = false;
    if (row.busy === 0 && row.log === row.checkpointed && row.log > 0) {
      restart = db.prepare('PRAGMA wal_checkpoint(RESTART)').get().busy === 0;
    }
    parentPort.postMessage({ id, busy: row.busy, log: row.log, checkpointed: row.checkpointed, restart });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) });
  } finally {
    try { if (db) db.close(); } catch {}
  }
});
`;

/** What one checkpoint on the worker came to. */
export interface CheckpointOutcome {
  /** The whole log reached the database file (SQLite's row: busy 0, every frame checkpointed). */
  complete: boolean;
  /** The RESTART checkpoint after it went through: the next commit starts the log from its beginning. */
  restarted: boolean;
  /** The worker's error (the file gone, the worker failed or stopped), when the checkpoint did not run. */
  error?: string;
}

interface Request {
  resolve: (outcome: CheckpointOutcome) => void;
}

export interface CheckpointThreadOptions {
  /** How long the worker waits without a request before it stops (ms; default 30 s). */
  idleMs?: number;
  /** Told each time the worker stops (idle, stopped, failed or exited). */
  onStop?: () => void;
}

/** What a writer needs of a thread (CheckpointThread; tests give their own). */
export interface CheckpointRequests {
  /** Whether requests can go to a thread at all. */
  readonly available: boolean;
  /** Checkpoints the database at `file` (an absolute path); never rejects. */
  checkpoint(file: string): Promise<CheckpointOutcome>;
}

/** One worker thread that checkpoints database files on request; started with the first, stopped when idle. */
export class CheckpointThread implements CheckpointRequests {
  readonly #idleMs: number;
  readonly #onStop: (() => void) | undefined;
  #worker: Worker | undefined;
  /** The worker could not start or failed: no more requests go to a thread, writers checkpoint in-line. */
  #broken = false;
  readonly #inFlight = new Map<number, Request>();
  #nextId = 1;
  #lastRequestAt = 0;
  #idleTimer: ReturnType<typeof setInterval> | undefined;
  /** Checkpoints the worker ran to completion, over the life of this thread. */
  completed = 0;

  constructor(opts: CheckpointThreadOptions = {}) {
    this.#idleMs = opts.idleMs ?? 30_000;
    this.#onStop = opts.onStop;
  }

  /** Whether the worker runs now. */
  get running(): boolean {
    return this.#worker !== undefined;
  }

  /** Whether requests can go to a thread at all (false once a worker failed to start or crashed). */
  get available(): boolean {
    return !this.#broken;
  }

  /** Checkpoints the database at `file` (an absolute path) on the worker; never rejects. */
  checkpoint(file: string): Promise<CheckpointOutcome> {
    const worker = this.#start();
    if (!worker) return Promise.resolve({ complete: false, restarted: false, error: 'no checkpoint thread' });
    const { promise, resolve } = Promise.withResolvers<CheckpointOutcome>();
    const id = this.#nextId++;
    this.#inFlight.set(id, { resolve });
    this.#lastRequestAt = Date.now();
    const url = pathToFileURL(file);
    url.searchParams.set('mode', 'rw');
    worker.postMessage({ id, url: url.href });
    return promise;
  }

  /** Stops the worker; requests it still held resolve as not run. */
  async stop(): Promise<void> {
    const worker = this.#worker;
    if (!worker) return;
    this.#retire('the checkpoint thread stopped');
    await worker.terminate();
  }

  #start(): Worker | undefined {
    if (this.#worker || this.#broken) return this.#worker;
    let worker: Worker;
    try {
      worker = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 1 } });
    } catch {
      this.#broken = true;
      return undefined;
    }
    worker.unref();
    worker.on(
      'message',
      (answer: {
        id: number;
        busy?: unknown;
        log?: unknown;
        checkpointed?: unknown;
        restart?: unknown;
        error?: string;
      }) => {
        const request = this.#inFlight.get(answer.id);
        this.#inFlight.delete(answer.id);
        if (answer.error !== undefined)
          return request?.resolve({ complete: false, restarted: false, error: answer.error });
        const complete = answer.busy === 0 && answer.log === answer.checkpointed;
        if (complete) this.completed++;
        request?.resolve({ complete, restarted: complete && answer.restart === true });
      },
    );
    worker.on('error', (err: unknown) => {
      this.#broken = true;
      if (this.#worker === worker) this.#retire(`the checkpoint thread failed: ${String(err)}`);
    });
    worker.on('exit', () => {
      if (this.#worker === worker) this.#retire('the checkpoint thread exited');
    });
    this.#worker = worker;
    this.#lastRequestAt = Date.now();
    this.#idleTimer = setInterval(() => {
      if (this.#inFlight.size === 0 && Date.now() - this.#lastRequestAt >= this.#idleMs) void this.stop();
    }, this.#idleMs);
    this.#idleTimer.unref();
    return worker;
  }

  /** Forgets the worker: what it still held resolves as not run. */
  #retire(reason: string): void {
    clearInterval(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#worker = undefined;
    const held = [...this.#inFlight.values()];
    this.#inFlight.clear();
    for (const r of held) r.resolve({ complete: false, restarted: false, error: reason });
    this.#onStop?.();
  }
}

/** The process's checkpoint thread, made on first use. */
let shared: CheckpointThread | undefined;
export function sharedCheckpointThread(): CheckpointThread {
  shared ??= new CheckpointThread();
  return shared;
}

/** A commit's pages besides its data: a table leaf and an index leaf, about (a page is 4 KiB). */
const PAGES_PER_COMMIT = 2;
const PAGE_BYTES = 4096;

export interface WalCheckpointerOptions {
  /**
   * Log pages between two requests, as estimated from the commits (default 160, ~640 KiB of log: 64 commits of small
   * entries). Counted in pages, not commits: one node's commits may be many times another's.
   */
  everyPages?: number;
  /** The thread to ask (default: the process's shared one). */
  thread?: CheckpointRequests;
}

/** One writer's side: estimates the log its commits wrote and asks the thread to checkpoint, one request at a time. */
export class WalCheckpointer {
  readonly #file: string;
  readonly #everyPages: number;
  readonly #thread: CheckpointRequests;
  #pages = 0;
  #asked = false;
  #closed = false;

  /** `file`: the database's absolute path. */
  constructor(file: string, opts: WalCheckpointerOptions = {}) {
    this.#file = file;
    this.#everyPages = opts.everyPages ?? 160;
    this.#thread = opts.thread ?? sharedCheckpointThread();
  }

  /** Log pages (estimated) since the last request. */
  get pending(): number {
    return this.#pages;
  }

  /** A write transaction committed `bytes` of data. Cheap: a sum; a message to the thread every `everyPages`. */
  committed(bytes: number): void {
    this.#pages += PAGES_PER_COMMIT + bytes / PAGE_BYTES;
    if (this.#asked || this.#closed || this.#pages < this.#everyPages || !this.#thread.available) return;
    this.#asked = true;
    this.#pages = 0;
    void this.#thread.checkpoint(this.#file).then(() => {
      this.#asked = false;
    });
  }

  /** No more requests from this writer (a request out may still run; it opens no file that is gone). */
  close(): void {
    this.#closed = true;
  }
}
