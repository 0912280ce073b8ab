// The event-log writer used by every service: maps message types to log types and passes every
// entry through SHHH first, so no secret reaches the log (deny rules redact here instead of refusing).
// Entries for messages this node sends are written before record() returns; entries for received
// messages are batched into one transaction per event-loop turn (one commit instead of one each).
// Received messages pass the per-peer rate limit: over it they are counted, one `rate_limited` entry per
// peer and window (the last window is summed up when the node records its stop).
import type { EventLog } from '../eventlog/eventlog.ts';
import { receivedFrom, type PeerRateLimit } from '../eventlog/ratelimit.ts';
import { isLogType, logTypeForMessage, type LogType } from '../eventlog/types.ts';
import type { Logger } from '../log.ts';
import type { Redactor } from '../shhh/redactor.ts';

const WRITE_NOW: ReadonlySet<LogType> = new Set(['message_out', 'shhh_redaction', 'node_started', 'node_stopped']);

export class EventRecorder {
  private readonly log: EventLog;
  private readonly redactor: Redactor;
  private readonly logger: Logger;
  private queue: { type: LogType; data: unknown }[] = [];
  private scheduled = false;
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
    const outbound = (data as { direction?: unknown } | null)?.direction === 'out';
    if (WRITE_NOW.has(type) || outbound) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes every queued entry now (also called before the log closes). */
  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    try {
      this.log.appendMany(batch);
    } catch (err) {
      this.logger.error('event log append failed', {
        entries: batch.length,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
}
