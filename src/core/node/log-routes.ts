// Control-API route of the event log: POST /v1/log/compact applies retention now (`chorus log compact`).
import type { Route } from '../api/server.ts';
import { compactLog, retentionPolicy, type CompactResult } from '../eventlog/eventlog.ts';
import type { EventLog } from '../eventlog/eventlog.ts';
import type { RetentionConfig } from '../eventlog/retention.ts';

/** The parts of a node the event-log routes use. */
export interface LogRouteComponents {
  eventLog: EventLog;
  /** The running configuration (read per request: SIGHUP may replace it). */
  config: { eventLog: RetentionConfig };
}

export function logRoutes(c: LogRouteComponents): Record<string, Route> {
  return {
    'POST /v1/log/compact': async ({ signal }): Promise<CompactResult> =>
      compactLog(c.eventLog, retentionPolicy(c.config.eventLog), { release: true, signal }),
  };
}
