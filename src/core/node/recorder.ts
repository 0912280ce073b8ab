// The event-log writer used by every service: maps message types to log types and passes every
// entry through SHHH first, so no secret reaches the log (deny rules redact here instead of refusing).
import type { EventLog } from '../eventlog/eventlog.ts';
import { isLogType, logTypeForMessage } from '../eventlog/types.ts';
import type { Logger } from '../log.ts';
import type { Redactor } from '../shhh/redactor.ts';

export class EventRecorder {
  private readonly log: EventLog;
  private readonly redactor: Redactor;
  private readonly logger: Logger;

  constructor(log: EventLog, redactor: Redactor, logger: Logger) {
    this.log = log;
    this.redactor = redactor;
    this.logger = logger;
  }

  record(kind: string, data: unknown): void {
    const type = isLogType(kind) ? kind : logTypeForMessage(kind);
    let clean: unknown;
    try {
      clean = this.redactor.redactValue(data, 'entry').value;
    } catch {
      clean = JSON.parse(this.redactor.scrubLine(JSON.stringify(data ?? null))) as unknown;
    }
    try {
      this.log.append(type, clean);
    } catch (err) {
      this.logger.error('event log append failed', { type, error: err instanceof Error ? err.message : String(err) });
    }
  }
}
