// Control-API route of the event log: POST /v1/log/compact applies retention now (`chorus log compact`).
import type { Route } from '../api/server.ts';
import { compactLog, retentionPolicy, type CompactResult } from '../eventlog/eventlog.ts';
import type { ChorusNode } from './node.ts';

export function logRoutes(node: Pick<ChorusNode, 'eventLog' | 'config'>): Record<string, Route> {
  return {
    'POST /v1/log/compact': async ({ signal }): Promise<CompactResult> =>
      compactLog(node.eventLog, retentionPolicy(node.config.eventLog), { release: true, signal }),
  };
}
