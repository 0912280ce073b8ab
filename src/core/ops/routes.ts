// Control-API routes of the ops service, for client verbs and hosts that cannot reach the ops
// listener (another network namespace): the health report and the `status --watch` summary.
import type { Route } from '../api/server.ts';
import { ChorusError } from '../errors.ts';
import type { ChorusNode } from '../node/node.ts';

function opsOf(node: ChorusNode) {
  if (!node.ops?.enabled) throw new ChorusError('OPS_DISABLED', 'ops is disabled on this node (ops.enabled=false)');
  return node.ops;
}

export function opsRoutes(node: ChorusNode): Record<string, Route> {
  return {
    'GET /v1/health': async () => opsOf(node).health.report(),
    'GET /v1/ops': async () => opsOf(node).summary(),
  };
}
