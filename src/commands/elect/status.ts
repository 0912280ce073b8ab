// `chorus elect status`: the election as the local node sees it; with --require-leader the result
// carries a failed check (exit 3) when no leader is elected.
import { ApiClient } from '../../core/api/client.ts';
import type { ElectionStatus } from '../../core/election/service.ts';
import type { ClientContext } from '../context.ts';

export type ElectStatusResult = ElectionStatus & { failedCheck?: string };

export async function run(opts: { requireLeader?: boolean }, ctx: ClientContext): Promise<ElectStatusResult> {
  const client = new ApiClient({ dataDir: ctx.config.dataDir, timeoutMs: 10_000 });
  const status = await client.call<ElectionStatus>('GET', '/v1/election/status', undefined, ctx.signal);
  if (opts.requireLeader && !status.leader) return { ...status, failedCheck: 'no leader is elected' };
  return status;
}
