// `chorus peers`: connected peers with role, capabilities, status, last seen, address and latency.
import { ApiClient } from '../../core/api/client.ts';
import type { PeerView } from '../../core/node/node.ts';
import type { CommandContext } from '../context.ts';

export function run(_opts: object, ctx: CommandContext): Promise<PeerView[]> {
  return new ApiClient({ dataDir: ctx.config.dataDir }).call<PeerView[]>('GET', '/v1/peers', undefined, ctx.signal);
}
