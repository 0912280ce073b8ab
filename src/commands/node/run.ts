// `chorus node`: start the daemon (with its runtime assignment when assign.url is set) and run until
// SIGINT/SIGTERM, then stop gracefully (≤ 5 s, after agent.gracePeriodMs when agent.enabled runs the agent in
// the daemon). SIGHUP reloads the configuration (file, env, assignment).
import { checkNodeConfig } from '../../core/config/validate.ts';
import { ChorusError, describeError } from '../../core/errors.ts';
import type { CommandContext } from '../context.ts';

export interface NodeRunResult {
  peerId: string;
  uptimeMs: number;
  stoppedCleanly: boolean;
}

const STOP_BUDGET_MS = 4500;

export async function run(opts: { repair?: boolean }, ctx: CommandContext): Promise<NodeRunResult> {
  const logger = ctx.logger.child('node');
  // every flag and config value is checked before the first file is created (exit 2, naming the flag)
  await checkNodeConfig(ctx.config);
  // the node (libp2p and everything) loads only once the configuration is known to be good
  const [{ resolveNodeLicense }, { announceLicense, ChorusNode }, { ConfigReloader, withAssignment }] =
    await Promise.all([
      import('../../core/license/startup.ts'),
      import('../../core/node/node.ts'),
      import('../../core/ops/reloader.ts'),
    ]);
  // fail-closed: not even the assignment server is asked anything without a license
  const license = announceLicense(resolveNodeLicense(ctx.config), logger);
  const { config, assignment } = await withAssignment(ctx.config, ctx.reloadConfig, logger, ctx.signal);
  if (assignment) await checkNodeConfig(config); // what the assignment server set (bootstrap peers …)
  // agent.enabled: the agent runs in the daemon as a client of its own socket; its checks come first (exit 2)
  const agent = config.agent.enabled ? await prepareDaemonAgent(config, ctx) : undefined;
  const node = await ChorusNode.start({ config, logger, license, repair: opts.repair });
  const agentStop = new AbortController();
  const agentRun = agent
    ?.run(agentStop.signal)
    .catch((err: unknown) => ctx.logger.error('the agent stopped', { error: describeError(err) }));
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
  let halted: string | undefined;
  try {
    halted = await new Promise<string | undefined>((resolve) => {
      if (ctx.signal.aborted) return resolve(undefined);
      ctx.signal.addEventListener('abort', () => resolve(undefined), { once: true });
      void node.halted.then(resolve);
    });
  } finally {
    process.off('SIGHUP', onHup);
  }
  ctx.logger.info('shutting down');
  agentStop.abort(); // no more claims; running tasks get agent.gracePeriodMs, then are given back
  await agentRun;
  const stopped = await Promise.race([
    node.stop().then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STOP_BUDGET_MS).unref()),
  ]);
  if (!stopped) ctx.logger.warn('graceful stop did not finish in time; exiting anyway');
  if (halted !== undefined) throw new ChorusError('LEASE_EXPIRED', `node stopped: ${halted}`);
  return { peerId: status.peerId, uptimeMs: Date.now() - Date.parse(status.startedAt), stoppedCleanly: stopped };
}

/** The in-daemon agent, checked (provider, limits) before the node starts; loaded only when enabled. */
async function prepareDaemonAgent(config: CommandContext['config'], ctx: CommandContext) {
  const [{ ApiClient }, { NodeAgentApi }, { prepareAgent }] = await Promise.all([
    import('../../core/api/client.ts'),
    import('../../core/agent/api.ts'),
    import('../../core/agent/start.ts'),
  ]);
  return prepareAgent({
    config,
    logger: ctx.logger.child('agent'),
    signal: ctx.signal,
    api: new NodeAgentApi(new ApiClient({ dataDir: config.dataDir })),
  });
}
