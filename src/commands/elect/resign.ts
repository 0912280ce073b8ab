// `chorus elect resign`: the leader hands leadership to the best reachable voter (NotLeader elsewhere).
import { ApiClient } from '../../core/api/client.ts';
import type { ClientContext } from '../context.ts';

export interface ResignResult {
  target: string;
}

export function run(_opts: object, ctx: ClientContext): Promise<ResignResult> {
  return new ApiClient({ dataDir: ctx.config.dataDir }).call<ResignResult>(
    'POST',
    '/v1/election/resign',
    {},
    ctx.signal,
  );
}
