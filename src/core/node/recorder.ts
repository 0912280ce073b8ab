// The event-log writer used by every service: maps message types to log types and passes every
// entry through SHHH first, so no secret reaches the log (deny rules redact here instead of refusing).
// Entries are batched into one transaction (and, in event log format 2, one signature) per event-loop turn;
// `written()` resolves once everything recorded so far is in the log, so a publish that awaits it returns only
// after its `message_out` entry was committed — in the batch of its turn rather than a transaction and a signature
// of its own. Lifecycle entries and SHHH redaction records are written before record() returns.
// Received messages pass the per-peer rate limit: over it they are counted, one `rate_limited` entry per
// peer and window (the last window is summed up when the node records its stop).
import type { EventLog } from '../eventlog/eventlog.ts';
import { receivedFrom, type PeerRateLimit } from '../eventlog/ratelimit.ts';
import { isLogType, logTypeForMessage, type LogType } from '../eventlog/types.ts';
import type { Logger } from '../log.ts';
import type { Redactor } from '../shhh/redactor.ts';

const WRITE_NOW: ReadonlySet<LogType> = new Set(['shhh_redaction', 'node_started', 'node_stopped']);

export class EventRecorder {
  private readonly log: EventLog;
  private readonly redactor: Redactor;
  private readonly logger: Logger;
  private queue: { type: LogType; data: unknown }[] = [];
  private scheduled = false;
  /** Callers of written() waiting for the queued batch. */
  private waiters: (() => void)[] = [];
  private readonly observers = new Set<(kind: string, data: unknown) => void>();
  private limit: PeerRateLimit | undefined;

  constructor(log: EventLog, redactor: Redactor, logger: Logger, limit?: PeerRateLimit) {
    this.log = log;
    this.redactor = redactor;
    this.logger = logger;
    this.limit = limit?.enabled ? limit : undefined;
  }

  /** A new per-peer limit (a reload): counting starts afresh. */
  setRateLimit(limit: PeerRateLimit): void {
    this.limit = limit.enabled ? limit : undefined;
  }

  /** Calls `fn` with every recorded event (before redaction; metrics count them). Returns an unsubscribe. */
  observe(fn: (kind: string, data: unknown) => void): () => void {
    this.observers.add(fn);
    return () => this.observers.delete(fn);
  }

  record(kind: string, data: unknown): void {
    for (const fn of this.observers) fn(kind, data);
    if (this.limit) {
      for (const summary of this.limit.roll(kind === 'node_stopped')) this.record('rate_limited', summary);
      const from = receivedFrom(data);
      if (from !== undefined && !this.limit.admit(from)) return;
    }
    const type = isLogType(kind) ? kind : logTypeForMessage(kind);
    let clean: unknown;
    try {
      clean = this.redactor.redactValue(data, 'entry').value;
    } catch {
      clean = JSON.parse(this.redactor.scrubLine(JSON.stringify(data ?? null))) as unknown;
    }
    this.queue.push({ type, data: clean });
    if (WRITE_NOW.has(type)) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /**
   * Resolves once every entry recorded so far has been written (at the end of this event-loop turn, with the
   * rest of its batch); at once when nothing waits. A failed append is logged, as for record(), not thrown.
   */
  written(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.waiters.push(resolve);
    return promise;
  }

  /** Writes every queued entry now (also called before the log closes). */
  flush(): void {
    this.scheduled = false;
    const waiters = this.waiters;
    this.waiters = [];
    try {
      this.write();
    } finally {
      for (const resolve of waiters) resolve();
    }
  }

  private write(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    try {
      this.log.appendAll(batch);
    } catch (err) {
      this.logger.error('event log append failed', {
        entries: batch.length,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
}
