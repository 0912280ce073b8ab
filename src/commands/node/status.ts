// `chorus status`: the running node's identity, addresses, topics, peer count and uptime.
import { ApiClient } from '../../core/api/client.ts';
import type { NodeStatus } from '../../core/node/node.ts';
import type { CommandContext } from '../context.ts';

export function run(_opts: object, ctx: CommandContext): Promise<NodeStatus> {
  return new ApiClient({ dataDir: ctx.config.dataDir }).call<NodeStatus>('GET', '/v1/status', undefined, ctx.signal);
}
