// What every command receives from the CLI: the typed config, a logger, a cancellation signal and
// an optional progress callback. Commands never print; they return typed results.
import type { ClientConfig } from '../core/config/client.ts';
import type { ChorusConfig } from '../core/config/schema.ts';
import type { Logger } from '../core/log.ts';

export interface ProgressEvent {
  /** A short phase name, e.g. "starting nodes". */
  phase: string;
  done?: number;
  total?: number;
}

export interface CommandContext {
  config: ChorusConfig;
  logger: Logger;
  /** Aborted on SIGINT/SIGTERM. Long-running commands return when it fires. */
  signal: AbortSignal;
  progress: (event: ProgressEvent) => void;
  /**
   * Loads the configuration again from the same sources (file, current environment, this verb's flags),
   * with an optional assignment layer. Throws ConfigError when it does not validate. (SIGHUP reload.)
   */
  reloadConfig: (assignment?: Record<string, unknown>) => Promise<ChorusConfig>;
}

/**
 * What a client verb receives (a verb that only talks to the local node's API): the part of the config it
 * reads. A CommandContext is one, so other callers (benchmarks, agents) pass theirs.
 */
export interface ClientContext extends Omit<CommandContext, 'config'> {
  config: ClientConfig;
}
