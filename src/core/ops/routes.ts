// Control-API routes of the ops service, for client verbs and hosts that cannot reach the ops
// listener (another network namespace): the health report and the `status --watch` summary.
import type { Route } from '../api/server.ts';
import { ChorusError } from '../errors.ts';
import type { OpsService } from './service.ts';

function opsOf(node: { ops: OpsService | undefined }): OpsService {
  if (!node.ops?.enabled) throw new ChorusError('OPS_DISABLED', 'ops is disabled on this node (ops.enabled=false)');
  return node.ops;
}

/** The ops route group; `node.ops` is read per request (absent on a node started without ops). */
export function opsRoutes(node: { ops: OpsService | undefined }): Record<string, Route> {
  return {
    'GET /v1/health': async () => opsOf(node).health.report(),
    'GET /v1/ops': async () => opsOf(node).summary(),
  };
}
