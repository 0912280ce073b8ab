// Following the event log: a backlog-then-live stream of entries, woken at once by appends in this process
// and by polling for appends of other processes on the same file.
import type { LogEntry } from './types.ts';

export const DEFAULT_POLL_MS = 250;
const FOLLOW_BATCH = 256;

/** Wakes every waiter at once (an append, or the log closing). */
export class ChangeNotifier {
  readonly #wakers = new Set<() => void>();

  /** Resolves on the next wake(), after `pollMs`, or on abort — whichever comes first. */
  wait(signal: AbortSignal, pollMs: number): Promise<void> {
    return new Promise((resolveWait) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#wakers.delete(done);
        resolveWait();
      };
      const timer = setTimeout(done, pollMs);
      signal.addEventListener('abort', done, { once: true });
      this.#wakers.add(done);
    });
  }

  wake(): void {
    for (const wake of [...this.#wakers]) wake();
  }
}

/** What follow reads from: entries after a seq (at most `limit`), and whether the log was closed. */
export interface FollowSource {
  since(seq: number, limit: number): LogEntry[];
  readonly closed: boolean;
}

/** Entries with seq > `fromSeq`: the backlog, then new ones as they are appended; ends on abort or close. */
export async function* followEntries(
  source: FollowSource,
  changes: ChangeNotifier,
  fromSeq: number,
  signal: AbortSignal,
  pollMs: number,
): AsyncGenerator<LogEntry> {
  let cursor = fromSeq;
  while (!signal.aborted && !source.closed) {
    const batch = source.since(cursor, FOLLOW_BATCH);
    if (batch.length === 0) {
      await changes.wait(signal, pollMs);
      continue;
    }
    for (const entry of batch) {
      if (signal.aborted || source.closed) return;
      cursor = entry.seq;
      yield entry;
    }
  }
}
