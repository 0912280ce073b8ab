// `chorus peers`: connected peers with role, capabilities, status, last seen, address and latency.
import { ApiClient } from '../../core/api/client.ts';
import type { PeerView } from '../../core/node/node.ts';
import type { ClientContext } from '../context.ts';

export function run(_opts: object, ctx: ClientContext): Promise<PeerView[]> {
  return new ApiClient({ dataDir: ctx.config.dataDir }).call<PeerView[]>('GET', '/v1/peers', undefined, ctx.signal);
}
