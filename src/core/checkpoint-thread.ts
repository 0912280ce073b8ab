// SQLite's WAL checkpoints on a worker thread, for a database file that other connections may open (the event log).
// In WAL mode the commit that takes the log past `wal_autocheckpoint` pages (1,000) copies the log back into the
// database file, with its fsyncs, before it returns: on the event loop, 4–10 ms for an event log. With ten nodes in
// one process each logging every message, those in-line checkpoints were most of pubsub's slow deliveries.
// Here a writer asks one worker thread per process to checkpoint its file every `everyPages` pages of log (estimated
// from what it committed). The worker copies the log into the file on a connection of its own (PASSIVE: it blocks
// no writer, and copies what no reader still needs).
// A log starts again from its beginning only at a commit that finds all of it copied. A writer that never pauses
// leaves no such moment: its log would grow to SQLite's bound, and the commit there would checkpoint in-line after
// all. So when the worker copied a log of more than `restartFrames` frames whole, the writer finishes the job on its
// own connection, on the event loop: a checkpoint of the few pages committed meanwhile, after which its next commit
// starts the log again. (A RESTART checkpoint on the worker did the same, but made the writer's commits wait for it
// in SQLite's busy handler, 1 ms and more: measured, not kept.)
// SQLite's bound is kept as it is: should the worker fall behind, fail or be missing, the writer checkpoints in-line
// as before. Durability is unchanged: the same commits reach the file, sooner and from another thread.
// The worker starts with the first request and stops after `idleMs` without one, so a quiet node does not keep a
// second V8 isolate in memory. Its connection opens the file read-write without creating it (a file removed
// meanwhile is an error it reports, not a new empty database) and closes after each checkpoint; a writer's close
// waits for a checkpoint running on its file and keeps later ones from opening it (FileGate).
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { checkpointComplete, type CheckpointRow } from './quiet-checkpoints.ts';

/** A file's gate (one Int32 shared with the worker): open and idle, a checkpoint on it running, or closed. */
const OPEN = 0;
const BUSY = 1;
const CLOSED = 2;

/** The worker, per request: unless the file's gate is closed, a PASSIVE checkpoint; answers SQLite's row or error. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
parentPort.on('message', ({ id, url, gate }) => {
  const state = new Int32Array(gate);
  if (Atomics.compareExchange(state, 0, ${OPEN}, ${BUSY}) !== ${OPEN}) {
    parentPort.postMessage({ id, error: 'the file was closed' });
    return;
  }
  let db;
  try {
    db = new DatabaseSync(new URL(url), { timeout: 0 });
    const row = db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get();
    parentPort.postMessage({ id, busy: row.busy, log: row.log, checkpointed: row.checkpointed });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) });
  } finally {
    try { if (db) db.close(); } catch {}
    Atomics.store(state, 0, ${OPEN});
    Atomics.notify(state, 0);
  }
});
`;

/** How long a close waits for a checkpoint the worker runs on its file (ms); a checkpoint takes a few. */
const CLOSE_WAIT_MS = 2000;

/**
 * Whether the worker may open a file: closing it waits for a checkpoint on it to end, so that no connection of the
 * worker's outlives the writer's (it would leave the log's -wal and -shm files beside a closed file).
 */
export class FileGate {
  readonly shared = new SharedArrayBuffer(4);
  readonly #state = new Int32Array(this.shared);

  /** Closes the gate: waits (blocking, at most CLOSE_WAIT_MS) for a checkpoint that is running on the file. */
  close(): void {
    const deadline = performance.now() + CLOSE_WAIT_MS;
    while (Atomics.compareExchange(this.#state, 0, OPEN, CLOSED) === BUSY) {
      const left = deadline - performance.now();
      if (left <= 0) return; // a worker that died inside a checkpoint: the file is left to SQLite's own locking
      try {
        Atomics.wait(this.#state, 0, BUSY, left);
      } catch {
        return; // a runtime whose main thread may not wait: the worker's connection closes by itself
      }
    }
  }

  get closed(): boolean {
    return Atomics.load(this.#state, 0) === CLOSED;
  }
}

/** What one checkpoint on the worker came to. */
export interface CheckpointOutcome {
  /** The whole log reached the database file (SQLite's row: busy 0, every frame checkpointed). */
  complete: boolean;
  /** The log's length in frames when it was copied (0 when the checkpoint did not run). */
  frames: number;
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
  /** Checkpoints the database at `file` (an absolute path) unless `gate` is closed; never rejects. */
  checkpoint(file: string, gate?: FileGate): Promise<CheckpointOutcome>;
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

  /** Checkpoints the database at `file` (an absolute path) on the worker unless `gate` is closed; never rejects. */
  checkpoint(file: string, gate: FileGate = new FileGate()): Promise<CheckpointOutcome> {
    const worker = this.#start();
    if (!worker) return Promise.resolve({ complete: false, frames: 0, error: 'no checkpoint thread' });
    const { promise, resolve } = Promise.withResolvers<CheckpointOutcome>();
    const id = this.#nextId++;
    this.#inFlight.set(id, { resolve });
    this.#lastRequestAt = performance.now();
    const url = pathToFileURL(file);
    url.searchParams.set('mode', 'rw');
    worker.postMessage({ id, url: url.href, gate: gate.shared });
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
    worker.on('message', (answer: CheckpointRow & { id: number; error?: string }) => {
      const request = this.#inFlight.get(answer.id);
      this.#inFlight.delete(answer.id);
      if (answer.error !== undefined) return request?.resolve({ complete: false, frames: 0, error: answer.error });
      const complete = checkpointComplete(answer);
      if (complete) this.completed++;
      request?.resolve({ complete, frames: typeof answer.log === 'number' ? answer.log : 0 });
    });
    worker.on('error', (err: unknown) => {
      this.#broken = true;
      if (this.#worker === worker) this.#retire(`the checkpoint thread failed: ${String(err)}`);
    });
    worker.on('exit', () => {
      if (this.#worker === worker) this.#retire('the checkpoint thread exited');
    });
    this.#worker = worker;
    this.#lastRequestAt = performance.now();
    this.#idleTimer = setInterval(() => {
      if (this.#inFlight.size === 0 && performance.now() - this.#lastRequestAt >= this.#idleMs) void this.stop();
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
    for (const r of held) r.resolve({ complete: false, frames: 0, error: reason });
    this.#onStop?.();
  }
}

/** The process's checkpoint thread, made on first use. */
let shared: CheckpointThread | undefined;
export function sharedCheckpointThread(): CheckpointThread {
  shared ??= new CheckpointThread();
  return shared;
}

/**
 * A commit's pages besides its data, about: the table's leaf and the pages above it or beside its overflow (measured:
 * 1.3–2.0 frames a commit of a small entry, 4–7 for 4–16 KiB; a page is 4 KiB).
 */
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
  /**
   * Finishes a checkpoint on the writer's own connection (a PASSIVE one of what was committed meanwhile), so that its
   * next commit starts the log again; called on the event loop, outside any transaction, after the worker copied a log
   * of more than `restartFrames` frames whole. Without it, a log starts again only when its writer pauses.
   */
  finish?: () => void;
  /** See `finish` (default 500, half SQLite's bound; a writer that pauses starts its log again long before). */
  restartFrames?: number;
}

/** One writer's side: estimates the log its commits wrote and asks the thread to checkpoint, one request at a time. */
export class WalCheckpointer {
  readonly #file: string;
  readonly #everyPages: number;
  readonly #thread: CheckpointRequests;
  readonly #finish: (() => void) | undefined;
  readonly #restartFrames: number;
  readonly #gate = new FileGate();
  #pages = 0;
  #asked = false;
  #closed = false;

  /** `file`: the database's absolute path. */
  constructor(file: string, opts: WalCheckpointerOptions = {}) {
    this.#file = file;
    this.#everyPages = opts.everyPages ?? 160;
    this.#thread = opts.thread ?? sharedCheckpointThread();
    this.#finish = opts.finish;
    this.#restartFrames = opts.restartFrames ?? 500;
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
    void this.#thread.checkpoint(this.#file, this.#gate).then(({ complete, frames }) => {
      this.#asked = false;
      if (complete && frames > this.#restartFrames && !this.#closed) this.#finish?.();
    });
  }

  /**
   * No more requests from this writer. Call before its connection closes: waits for a checkpoint the worker is running
   * on the file (a few ms), and a request still out then does not open it.
   */
  close(): void {
    this.#closed = true;
    this.#gate.close();
  }
}
