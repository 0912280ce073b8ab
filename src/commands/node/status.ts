// `chorus status`: the running node's identity, addresses, topics, peer count and uptime; with --watch,
// a stream of frames (status + health, DHT records, election, lease) until interrupted.
import { ApiClient } from '../../core/api/client.ts';
import type { NodeStatus } from '../../core/node/node.ts';
import type { OpsSummary } from '../../core/ops/service.ts';
import type { ClientContext } from '../context.ts';

export interface WatchFrame {
  time: string;
  status: NodeStatus;
  /** Absent when ops is disabled on the node. */
  ops?: OpsSummary;
}

export function run(_opts: object, ctx: ClientContext): Promise<NodeStatus> {
  return new ApiClient({ dataDir: ctx.config.dataDir }).call<NodeStatus>('GET', '/v1/status', undefined, ctx.signal);
}

export async function* watch(opts: { intervalMs: number }, ctx: ClientContext): AsyncGenerator<WatchFrame> {
  const api = new ApiClient({ dataDir: ctx.config.dataDir });
  while (!ctx.signal.aborted) {
    let frame: WatchFrame;
    try {
      const [status, ops] = await Promise.all([
        api.call<NodeStatus>('GET', '/v1/status', undefined, ctx.signal),
        api.call<OpsSummary>('GET', '/v1/ops', undefined, ctx.signal).catch((err: unknown) => {
          if ((err as { code?: string }).code === 'OPS_DISABLED') return undefined;
          throw err;
        }),
      ]);
      frame = { time: new Date().toISOString(), status, ...(ops ? { ops } : {}) };
    } catch (err) {
      if (ctx.signal.aborted) return;
      throw err;
    }
    yield frame;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, opts.intervalMs);
      function done(): void {
        clearTimeout(timer);
        ctx.signal.removeEventListener('abort', done);
        resolve();
      }
      ctx.signal.addEventListener('abort', done, { once: true });
    });
  }
}
