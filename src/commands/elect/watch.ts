// `chorus elect watch`: streams the election status each time it changes, until interrupted.
import { ApiClient } from '../../core/api/client.ts';
import type { ElectionStatus } from '../../core/election/service.ts';
import type { ClientContext } from '../context.ts';

export type ElectWatchEvent = ElectionStatus & { at: string };

export function run(_opts: object, ctx: ClientContext): AsyncGenerator<ElectWatchEvent> {
  return new ApiClient({ dataDir: ctx.config.dataDir }).stream<ElectWatchEvent>('/v1/election/watch', ctx.signal);
}
