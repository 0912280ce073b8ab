// Assembling an agent from the configuration — the one path `chorus agent` and `chorus node` (with
// agent.enabled) share: the provider by name, the start-up checks that must pass before anything is
// claimed (the exec command exists and is executable, the ollama/openai server answers, every persona
// file parses — each a UsageError, exit 2), and the agent loop bound to the node's control API.
import { join } from 'node:path';
import { ApiClient } from '../api/client.ts';
import type { ChorusConfig } from '../config/schema.ts';
import { AGENT_PROVIDERS } from '../config/providers.ts';
import { UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { Agent } from './agent.ts';
import { NodeAgentApi, type AgentApi } from './api.ts';
import { ExecProvider } from './exec.ts';
import { OllamaProvider } from './ollama.ts';
import { OpenAiProvider, readApiKey } from './openai.ts';
import { loadPersonas } from './persona.ts';
import type { Provider } from './provider.ts';

type AgentConfig = ChorusConfig['agent'];

/** The provider named by the configuration (not yet checked). */
export async function createProvider(c: AgentConfig, env: NodeJS.ProcessEnv = process.env): Promise<Provider> {
  const outputCapBytes = c.outputCapBytes;
  switch (c.provider as string) {
    case 'exec':
      return new ExecProvider({ command: c.command, model: c.model, outputCapBytes, env });
    case 'ollama':
      return new OllamaProvider({ baseUrl: c.baseUrl, model: c.model, outputCapBytes });
    case 'openai':
      return new OpenAiProvider({
        baseUrl: c.baseUrl,
        model: c.model,
        outputCapBytes,
        apiKey: await readApiKey(c, env),
      });
    default:
      throw new UsageError(`unknown provider ${c.provider} (one of ${AGENT_PROVIDERS.join(', ')})`);
  }
}

export interface PrepareOptions {
  config: ChorusConfig;
  logger: Logger;
  signal: AbortSignal;
  /** The node's API (default: the control socket of config.dataDir). */
  api?: AgentApi;
  env?: NodeJS.ProcessEnv;
}

/** Builds the agent and runs the start-up checks; throws UsageError (exit 2) when it cannot work. */
export async function prepareAgent(opts: PrepareOptions): Promise<Agent> {
  const c = opts.config.agent;
  const provider = await createProvider(c, opts.env);
  await provider.check(opts.signal);
  const personas = await loadPersonas(c.personas);
  return new Agent({
    api: opts.api ?? new NodeAgentApi(new ApiClient({ dataDir: opts.config.dataDir })),
    provider,
    profile: { name: c.name, role: c.role, expertise: c.expertise, capabilities: c.capabilities },
    maxConcurrent: c.maxConcurrent,
    taskTimeoutMs: c.taskTimeoutMs,
    outputCapBytes: c.outputCapBytes,
    workRoot: c.workDir || join(opts.config.dataDir, 'agent-work'),
    keep: c.keep,
    gracePeriodMs: c.gracePeriodMs,
    progressIntervalMs: c.progressIntervalMs,
    backoffMs: c.backoffMs,
    personas,
    logger: opts.logger,
  });
}
