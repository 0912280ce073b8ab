// `chorus node`: start the daemon and run until SIGINT/SIGTERM, then stop gracefully (≤ 5 s).
import { ChorusError } from '../../core/errors.ts';
import { ChorusNode } from '../../core/node/node.ts';
import type { CommandContext } from '../context.ts';

export interface NodeRunResult {
  peerId: string;
  uptimeMs: number;
  stoppedCleanly: boolean;
}

const STOP_BUDGET_MS = 4500;

export async function run(_opts: object, ctx: CommandContext): Promise<NodeRunResult> {
  const node = await ChorusNode.start({ config: ctx.config, logger: ctx.logger.child('node') });
  const status = node.status();
  ctx.logger.info('chorus node running', {
    peerId: status.peerId,
    role: status.role,
    addresses: status.addresses,
    api: status.api.socket,
  });
  const halted = await new Promise<string | undefined>((resolve) => {
    if (ctx.signal.aborted) return resolve(undefined);
    ctx.signal.addEventListener('abort', () => resolve(undefined), { once: true });
    void node.halted.then(resolve);
  });
  ctx.logger.info('shutting down');
  const stopped = await Promise.race([
    node.stop().then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STOP_BUDGET_MS).unref()),
  ]);
  if (!stopped) ctx.logger.warn('graceful stop did not finish in time; exiting anyway');
  if (halted !== undefined) throw new ChorusError('LEASE_EXPIRED', `node stopped: ${halted}`);
  return { peerId: status.peerId, uptimeMs: Date.now() - Date.parse(status.startedAt), stoppedCleanly: stopped };
}
