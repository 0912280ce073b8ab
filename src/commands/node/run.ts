// `chorus node`: start the daemon (with its runtime assignment when assign.url is set) and run until
// SIGINT/SIGTERM, then stop gracefully (≤ 5 s). SIGHUP reloads the configuration (file, env, assignment).
import { ChorusNode } from '../../core/node/node.ts';
import { ConfigReloader, withAssignment } from '../../core/ops/reloader.ts';
import type { CommandContext } from '../context.ts';

export interface NodeRunResult {
  peerId: string;
  uptimeMs: number;
  stoppedCleanly: boolean;
}

const STOP_BUDGET_MS = 4500;

export async function run(_opts: object, ctx: CommandContext): Promise<NodeRunResult> {
  const logger = ctx.logger.child('node');
  const { config, assignment } = await withAssignment(ctx.config, ctx.reloadConfig, logger, ctx.signal);
  const node = await ChorusNode.start({ config, logger });
  const reloader = new ConfigReloader({ node, load: ctx.reloadConfig, logger, assignment });
  const onHup = (): void => void reloader.reload();
  process.on('SIGHUP', onHup);
  const status = node.status();
  ctx.logger.info('chorus node running', {
    peerId: status.peerId,
    role: status.role,
    addresses: status.addresses,
    api: status.api.socket,
    ...(status.ops ? { ops: status.ops } : {}),
  });
  try {
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) return resolve();
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    process.off('SIGHUP', onHup);
  }
  ctx.logger.info('shutting down');
  const stopped = await Promise.race([
    node.stop().then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STOP_BUDGET_MS).unref()),
  ]);
  if (!stopped) ctx.logger.warn('graceful stop did not finish in time; exiting anyway');
  return { peerId: status.peerId, uptimeMs: Date.now() - Date.parse(status.startedAt), stoppedCleanly: stopped };
}
