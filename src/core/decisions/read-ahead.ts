// The queue of a node's read-ahead: subjects with a new version this node now holds (a peer's write note
// carried it, or it was stored here as a replica), whose record the store verifies and decrypts before anyone
// reads it (DecisionStore.readAheadNow). It is speculative work, so it only uses room the node has: one subject
// at a time, each started on its own event-loop turn (setImmediate) so that requests and I/O go between them,
// and none while the node has no room (`standBack`: e.g. writes still coming in, WriteQuiet, or a busy loop,
// LoopLoad) — it waits what that says (at most MAX_STAND_BACK_MS) and asks again. At most `max` subjects wait,
// the longest-waiting dropped first (its first read then does the work, as without read-ahead).

/** The longest a single stand-back lasts (ms), whatever `standBack` says: the queue then asks again. */
const MAX_STAND_BACK_MS = 1000;

export interface ReadAheadOptions {
  /** Subjects waiting at most (default 256). */
  max?: number;
  /** How long to stand back before asking again (ms); 0 while the node has room for speculative work (default). */
  standBack?: () => number;
}

/**
 * When this node last saw a write (stored a new version, was told of one, or wrote one): a write's path runs through
 * several processes, so its replicas' event loops look idle while the host's cores are not. Speculative work waits
 * until writes have been quiet for `quietMs`; while they never pause, it gives way once every `maxWaitMs`, so that
 * it goes on at that pace. Timed on a monotonic clock (performance.now by default): a step of the wall clock
 * changes nothing.
 */
export class WriteQuiet {
  private last = Number.NEGATIVE_INFINITY;
  /** When wait() first answered "wait" since it last answered 0. */
  private waitingSince: number | undefined;
  private readonly quietMs: number;
  private readonly maxWaitMs: number;
  private readonly now: () => number;

  constructor(quietMs = 30, maxWaitMs = 1000, now: () => number = () => performance.now()) {
    this.quietMs = quietMs;
    this.maxWaitMs = maxWaitMs;
    this.now = now;
  }

  /** A write was seen now. */
  note(): void {
    this.last = this.now();
  }

  /**
   * How long to wait (ms): what is left of `quietMs` since the last write, at most `quietMs`; 0 once writes have
   * been quiet that long, and 0 once this has answered "wait" for `maxWaitMs` in a row (the count then starts again).
   */
  wait(): number {
    const now = this.now();
    const left = Math.min(this.quietMs, Math.max(0, this.last + this.quietMs - now));
    if (left === 0 || now - (this.waitingSince ??= now) >= this.maxWaitMs) {
      this.waitingSince = undefined;
      return 0;
    }
    return left;
  }
}

export class ReadAheadQueue {
  private readonly pending = new Set<string>();
  private readonly warm: (subject: string) => Promise<void>;
  private readonly max: number;
  private readonly standBack: () => number;
  /** The next turn (an immediate) or the wait while standing back (a timer), when one is armed. */
  private next: { cancel: () => void } | undefined;
  private running = false;
  private stopped = false;

  /** `warm` reads a subject ahead; its failures are the store's to ignore (a read reports them). */
  constructor(warm: (subject: string) => Promise<void>, opts: ReadAheadOptions = {}) {
    this.warm = warm;
    this.max = opts.max ?? 256;
    this.standBack = opts.standBack ?? (() => 0);
  }

  /** Queues a subject (once: a subject queued again keeps one place, the later one). */
  schedule(subject: string): void {
    if (this.stopped) return;
    this.pending.delete(subject);
    this.pending.add(subject);
    for (const oldest of this.pending) {
      if (this.pending.size <= this.max) break;
      this.pending.delete(oldest);
    }
    this.arm();
  }

  /** Subjects waiting (not counting one being read ahead now). */
  get size(): number {
    return this.pending.size;
  }

  /** True while nothing waits and nothing runs. */
  get idle(): boolean {
    return this.pending.size === 0 && !this.running;
  }

  /** Drops what waits and takes nothing more (the node is stopping). */
  stop(): void {
    this.stopped = true;
    this.pending.clear();
    this.next?.cancel();
    this.next = undefined;
  }

  private arm(): void {
    if (this.next || this.running || this.pending.size === 0) return;
    const immediate = setImmediate(() => this.turn());
    this.next = { cancel: () => clearImmediate(immediate) };
  }

  private turn(): void {
    this.next = undefined;
    if (this.stopped) return;
    const wait = Math.min(this.standBack(), MAX_STAND_BACK_MS);
    if (wait > 0) {
      const timer = setTimeout(() => {
        this.next = undefined;
        this.arm();
      }, wait);
      timer.unref(); // read-ahead never keeps a process alive
      this.next = { cancel: () => clearTimeout(timer) };
      return;
    }
    const subject = this.pending.values().next().value;
    if (subject === undefined) return;
    this.pending.delete(subject);
    this.running = true;
    void this.warm(subject)
      .catch(() => {})
      .finally(() => {
        this.running = false;
        this.arm();
      });
  }
}
