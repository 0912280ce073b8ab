// `chorus elect trigger`: a leader hands over; a follower asks the leader to hand over; a node without
// a leader campaigns now.
import { ApiClient } from '../../core/api/client.ts';
import type { ClientContext } from '../context.ts';

export interface TriggerResult {
  action: string;
  target?: string;
}

export function run(_opts: object, ctx: ClientContext): Promise<TriggerResult> {
  return new ApiClient({ dataDir: ctx.config.dataDir }).call<TriggerResult>(
    'POST',
    '/v1/election/trigger',
    {},
    ctx.signal,
  );
}
