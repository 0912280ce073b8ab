// `chorus agent`: run an agent next to the local node until SIGINT/SIGTERM — it claims matching tasks,
// does them with the configured provider and completes them with their results (docs/agents.md). Bad
// provider settings, a missing exec command, an unreachable provider or a persona file that does not
// parse end it with exit 2 before anything is claimed.
import { ApiClient } from '../../core/api/client.ts';
import type { AgentSummary } from '../../core/agent/agent.ts';
import { prepareAgent } from '../../core/agent/start.ts';
import type { CommandContext } from '../context.ts';

export interface AgentRunResult extends AgentSummary {
  name: string;
  provider: string;
  model?: string;
  uptimeMs: number;
}

export async function run(_opts: object, ctx: CommandContext): Promise<AgentRunResult> {
  const started = Date.now();
  const logger = ctx.logger.child('agent');
  const agent = await prepareAgent({ config: ctx.config, logger, signal: ctx.signal });
  // the node must answer before the agent starts (a clear error instead of retrying forever)
  await new ApiClient({ dataDir: ctx.config.dataDir }).call('GET', '/v1/status', undefined, ctx.signal);
  const c = ctx.config.agent;
  logger.info('chorus agent running', {
    name: c.name,
    role: c.role,
    provider: agent.provider.name,
    ...(agent.provider.model ? { model: agent.provider.model } : {}),
    maxConcurrent: c.maxConcurrent,
  });
  const summary = await agent.run(ctx.signal);
  return {
    name: c.name,
    provider: agent.provider.name,
    ...(agent.provider.model ? { model: agent.provider.model } : {}),
    ...summary,
    uptimeMs: Date.now() - started,
  };
}
