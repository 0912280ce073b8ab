// Retention of the event log: removes the oldest entries by age and by size and leaves a signed checkpoint at
// the cut (seq, hash and time of the last removed entry, signed by the node), so `chorus log verify` still
// proves every kept entry unedited, undropped and in order, from the checkpoint on. Before it cuts, it verifies
// the stretch it removes, so a tampered entry is reported, never laundered into a checkpoint. Also runs the
// periodic retention pass of a node (LogRetention).
import type { DatabaseSync } from 'node:sqlite';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { ChorusError, describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { checkpointHash, writeCheckpoint } from './format.ts';
import type { AuthorVerifier, Checkpoint, LogSigner } from './types.ts';
import { chainAnchor, walkChain } from './verify.ts';

export interface RetentionPolicy {
  /** Entries older than this are removed (0: no age limit). */
  maxAgeMs: number;
  /** The log's live data is kept under this many bytes (0: no size limit); when over, it is cut to 90 %. */
  maxBytes: number;
}

/** What the config section `eventLog` says about retention. */
export interface RetentionConfig {
  maxAgeDays: number;
  maxSizeMb: number;
}

export const DAY_MS = 86_400_000;
export const MIB = 1024 * 1024;
/** When over maxBytes, cut down to this share of it, so a log at its limit is not compacted on every pass. */
const SIZE_HYSTERESIS = 0.9;
/** Entries removed per step (one transaction; the stretch is verified first, ~50 µs an entry). */
export const DEFAULT_BATCH = 2000;
/** How often a node checks its log against the policy (two cheap queries when within limits). */
export const RETENTION_INTERVAL_MS = 60_000;

export function retentionPolicy(config: RetentionConfig): RetentionPolicy {
  return { maxAgeMs: config.maxAgeDays * DAY_MS, maxBytes: Math.floor(config.maxSizeMb * MIB) };
}

/** Bytes of the log's live pages, and of the whole file (the free pages included). */
export function logBytes(db: DatabaseSync): { live: number; file: number } {
  const pragma = (name: string): number => Number(Object.values(db.prepare(`PRAGMA ${name}`).get() ?? {})[0] ?? 0);
  const pageSize = pragma('page_size');
  const pages = pragma('page_count');
  return { live: (pages - pragma('freelist_count')) * pageSize, file: pages * pageSize };
}

export interface CompactStep {
  /** Entries removed by this step. */
  removed: number;
  /** The checkpoint now in force (absent while nothing was ever removed). */
  checkpoint?: Omit<Checkpoint, 'signature'>;
  /** Live bytes after the step. */
  liveBytes: number;
  /** The policy still wants entries removed: call again. */
  more: boolean;
}

export interface CompactOptions {
  now?: Date;
  /** Most entries removed by this step (default DEFAULT_BATCH). */
  batch?: number;
  /** Checks the signatures of the stretch about to be removed (default: this log's signer; others fail). */
  verify?: AuthorVerifier;
  /** An earlier step of the same pass went over the size limit: keep cutting down to 90 % of it. */
  continuing?: boolean;
}

/** The largest seq in [lo, hi] whose time is before `cutoff` (times never decrease along the log), or lo - 1. */
function lastBefore(db: DatabaseSync, lo: number, hi: number, cutoff: string): number {
  const timeAt = db.prepare('SELECT time FROM entries WHERE seq = ?');
  let found = lo - 1;
  let low = lo;
  let high = hi;
  while (low <= high) {
    const mid = Math.floor((low + high) / 2);
    const time = timeAt.get(mid)?.time;
    if (typeof time === 'string' && time < cutoff) {
      found = mid;
      low = mid + 1;
    } else high = mid - 1;
  }
  return found;
}

/**
 * One retention step on an open, writable log (inside one write transaction): works out the cut the policy
 * wants (never the newest entry: it carries the chain on), removes at most `batch` entries up to it after
 * verifying them, and replaces the checkpoint. Throws EVENTLOG_CORRUPT, removing nothing, when the log does
 * not verify up to the cut.
 */
export function compactStep(
  db: DatabaseSync,
  signer: LogSigner,
  policy: RetentionPolicy,
  opts: CompactOptions = {},
): CompactStep {
  const now = opts.now ?? new Date();
  const batch = Math.max(1, Math.floor(opts.batch ?? DEFAULT_BATCH));
  const check: AuthorVerifier =
    opts.verify ?? ((author, data, sig) => author === signer.author && signer.verify(data, sig));
  const corrupt = (message: string): ChorusError =>
    new ChorusError('EVENTLOG_CORRUPT', `not compacting the event log: ${message}; run \`chorus log verify\``);
  db.exec('BEGIN IMMEDIATE');
  try {
    const start = chainAnchor(db, check);
    if ('kind' in start) throw corrupt(start.message);
    const { anchor } = start;
    const shown = (cp: Checkpoint | undefined): Omit<Checkpoint, 'signature'> | undefined => {
      if (!cp) return undefined;
      const { signature: _signature, ...rest } = cp;
      return rest;
    };
    const last = Number(db.prepare('SELECT max(seq) AS s FROM entries').get()?.s ?? anchor.seq);
    const first = anchor.seq + 1;
    const bytes = logBytes(db);
    let wanted = anchor.seq;
    if (policy.maxAgeMs > 0 && last > first) {
      wanted = Math.max(
        wanted,
        lastBefore(db, first, last - 1, new Date(now.getTime() - policy.maxAgeMs).toISOString()),
      );
    }
    const sizeLimit = opts.continuing ? policy.maxBytes * SIZE_HYSTERESIS : policy.maxBytes;
    if (policy.maxBytes > 0 && bytes.live > sizeLimit && last > first) {
      const perEntry = bytes.live / (last - anchor.seq);
      const over = bytes.live - policy.maxBytes * SIZE_HYSTERESIS;
      wanted = Math.max(wanted, anchor.seq + Math.ceil(over / perEntry));
    }
    wanted = Math.min(wanted, last - 1);
    const cut = Math.min(wanted, anchor.seq + batch);
    if (cut <= anchor.seq) {
      db.exec('COMMIT');
      return { removed: 0, checkpoint: shown(start.checkpoint), liveBytes: bytes.live, more: false };
    }
    // the stretch removed, and the entry that links to the new checkpoint, must verify
    const walked = walkChain(db, check, anchor, cut + 1);
    if (walked.problem) throw corrupt(walked.problem.message);
    const cutRow = db.prepare('SELECT hash, time FROM entries WHERE seq = ?').get(cut);
    const body = {
      seq: cut,
      hash: String(cutRow?.hash),
      entryTime: String(cutRow?.time),
      time: now.toISOString(),
      author: signer.author,
    };
    const sig = signer.sign(Buffer.from(checkpointHash(body), 'hex'));
    const checkpoint: Checkpoint = { ...body, signature: Buffer.from(sig).toString('base64') };
    const removed = Number(db.prepare('DELETE FROM entries WHERE seq <= ?').run(cut).changes);
    writeCheckpoint(db, checkpoint);
    db.exec('COMMIT');
    const liveBytes = logBytes(db).live;
    const more =
      cut < wanted || (policy.maxBytes > 0 && liveBytes > policy.maxBytes * SIZE_HYSTERESIS && cut < last - 1);
    return { removed, checkpoint: shown(checkpoint), liveBytes, more };
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

/** Gives the free pages back to the file system (only for logs created with auto_vacuum; a no-op otherwise). */
export function releaseFreePages(db: DatabaseSync): void {
  db.exec('PRAGMA incremental_vacuum');
}

/** What a whole compaction pass did. */
export interface CompactResult {
  removed: number;
  /** The first entry kept (the chain verifies from here). */
  from: number;
  checkpoint?: Omit<Checkpoint, 'signature'>;
  policy: RetentionPolicy;
  liveBytesBefore: number;
  liveBytesAfter: number;
  fileBytesBefore: number;
  fileBytesAfter: number;
}

/** What compactLog needs of a log (EventLog implements it). */
export interface Compactable {
  compactStep(policy: RetentionPolicy, opts?: CompactOptions): CompactStep;
  releaseFreePages(): void;
  bytes(): { live: number; file: number };
  readonly head: { seq: number };
}

/**
 * A whole retention pass: steps until the log is within the policy, yielding to the event loop between steps
 * (a node keeps serving); with `release`, gives the freed pages back to the file system at the end.
 */
export async function compactLog(
  log: Compactable,
  policy: RetentionPolicy,
  opts: { release?: boolean; signal?: AbortSignal; now?: Date; verify?: AuthorVerifier; batch?: number } = {},
): Promise<CompactResult> {
  const before = log.bytes();
  let removed = 0;
  let checkpoint: CompactStep['checkpoint'];
  for (let continuing = false; ; continuing = true) {
    opts.signal?.throwIfAborted();
    const step = log.compactStep(policy, { now: opts.now, verify: opts.verify, batch: opts.batch, continuing });
    removed += step.removed;
    checkpoint = step.checkpoint;
    if (!step.more) break;
    await yieldToLoop();
  }
  if (opts.release) log.releaseFreePages();
  const after = log.bytes();
  return {
    removed,
    from: (checkpoint?.seq ?? 0) + 1,
    ...(checkpoint ? { checkpoint } : {}),
    policy,
    liveBytesBefore: before.live,
    liveBytesAfter: after.live,
    fileBytesBefore: before.file,
    fileBytesAfter: after.file,
  };
}

export interface RetentionRunnerOptions {
  policy: RetentionPolicy;
  intervalMs?: number;
  verify?: AuthorVerifier;
  logger?: Logger;
}

/** A node's periodic retention pass: at start, then every intervalMs; a failure is logged loudly, every time. */
export class LogRetention {
  readonly #log: Compactable;
  readonly #opts: RetentionRunnerOptions;
  #policy: RetentionPolicy;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  readonly #stop = new AbortController();

  constructor(log: Compactable, opts: RetentionRunnerOptions) {
    this.#log = log;
    this.#opts = opts;
    this.#policy = opts.policy;
  }

  get enabled(): boolean {
    return this.#policy.maxAgeMs > 0 || this.#policy.maxBytes > 0;
  }

  /** A new policy (SIGHUP): applied by a pass at once; no policy left stops the timer. */
  setPolicy(policy: RetentionPolicy): void {
    this.#policy = policy;
    if (!this.enabled) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    if (this.#timer) void this.runOnce();
    else this.start();
  }

  start(): void {
    if (!this.enabled || this.#timer) return;
    this.#timer = setInterval(() => void this.runOnce(), this.#opts.intervalMs ?? RETENTION_INTERVAL_MS);
    this.#timer.unref();
    void this.runOnce();
  }

  /** One pass (a pass already running is joined, not doubled). */
  runOnce(): Promise<void> {
    this.#running ??= (async () => {
      try {
        await yieldToLoop(); // never inside the caller's turn (the log may be opening)
        const r = await compactLog(this.#log, this.#policy, {
          verify: this.#opts.verify,
          signal: this.#stop.signal,
        });
        if (r.removed > 0) {
          this.#opts.logger?.info('event log retention removed old entries', {
            removed: r.removed,
            from: r.from,
            liveBytes: r.liveBytesAfter,
          });
        }
      } catch (err) {
        if (!this.#stop.signal.aborted) {
          this.#opts.logger?.error('event log retention failed', { error: describeError(err) });
        }
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#stop.abort();
  }
}
