// Runs one verb: global options → typed config → logger/progress → the command's result → rendering.
// Results go to stdout (text or --json); logs and progress go to stderr.
import type { Command } from 'commander';
import type { CommandContext } from '../commands/context.ts';
import { CheckFailedError } from '../core/errors.ts';
import type { ConfigLayer } from '../core/config/load.ts';
import { createLogger, type LogFormat, type LogLevel } from '../core/log.ts';
import { stdoutClosed, toJson, writeOut } from './output.ts';
import { createProgress } from './progress.ts';
import { terminalFacts, type TerminalFacts } from './terminal.ts';

export interface GlobalOptions {
  json?: boolean;
  config?: string;
  dataDir?: string;
  logLevel?: LogLevel;
  logFormat?: LogFormat;
  color?: boolean;
}

export type View<R> = (result: R, term: TerminalFacts) => string | Uint8Array;

type Item<R> = R extends AsyncIterable<infer I> ? I : R;

export interface InvokeOptions<R> {
  /** Text renderer for the result (or for each item of a streamed result). */
  view: View<Item<R>>;
  /** Config keys set by this verb's own flags, as dotted paths. */
  flags?: Record<string, unknown>;
  /** The flag that sets each of those keys ({"p2p.listen": "--listen"}), so messages can name it. */
  flagNames?: Record<string, string>;
  /** Skip loading configuration (pure verbs such as version). */
  noConfig?: boolean;
}

let shutdown: AbortController = new AbortController();

/** The signal aborted by SIGINT/SIGTERM; main.ts owns the handlers. */
export function shutdownController(): AbortController {
  return shutdown;
}

export function resetShutdown(): void {
  shutdown = new AbortController();
}

/** Loads the config (lazily: zod and yaml stay out of the start-up path of pure verbs). */
const GLOBAL_FLAGS = { dataDir: '--data-dir', 'log.level': '--log-level', 'log.format': '--log-format' };

async function configFor(g: GlobalOptions, opts: InvokeOptions<unknown>, assignment?: Record<string, unknown>) {
  const { loadConfig, setPath } = await import('../core/config/load.ts');
  const flags: ConfigLayer = {};
  if (g.dataDir) setPath(flags, 'dataDir', g.dataDir);
  if (g.logLevel) setPath(flags, 'log.level', g.logLevel);
  if (g.logFormat) setPath(flags, 'log.format', g.logFormat);
  for (const [path, value] of Object.entries(opts.flags ?? {})) if (value !== undefined) setPath(flags, path, value);
  const flagNames = { ...GLOBAL_FLAGS, ...opts.flagNames };
  return loadConfig({ file: g.config, env: process.env, flags, flagNames, assignment });
}

/** SHHH for log lines: every line a verb logs is scrubbed with the built-in and configured rules. */
async function logRedaction(rules: CommandContext['config']['shhh']['rules']): Promise<(line: string) => string> {
  const { Redactor } = await import('../core/shhh/redactor.ts');
  const redactor = new Redactor({ rules });
  return (line) => redactor.scrubLine(line);
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return typeof v === 'object' && v !== null && Symbol.asyncIterator in v;
}

export async function invoke<R>(
  cmd: Command,
  exec: (ctx: CommandContext) => Promise<R> | R,
  opts: InvokeOptions<R>,
): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const json = Boolean(g.json);
  const term = terminalFacts({ json, color: g.color !== false });
  const config = opts.noConfig ? undefined : await configFor(g, opts as InvokeOptions<unknown>);
  const logger = createLogger({
    level: config?.log.level ?? g.logLevel ?? 'info',
    format: config?.log.format ?? g.logFormat ?? 'text',
    sink: (line) => process.stderr.write(`${line}\n`),
    redact: config ? await logRedaction(config.shhh.rules) : undefined,
  });
  const progress = await createProgress(term.animate);
  const ctx = {
    config: config as CommandContext['config'],
    logger,
    signal: shutdown.signal,
    progress: (e) => progress.update(e),
    reloadConfig: (assignment) => configFor(g, opts as InvokeOptions<unknown>, assignment),
  } satisfies CommandContext;
  try {
    const result = await exec(ctx);
    progress.stop();
    if (isAsyncIterable(result)) {
      for await (const item of result as AsyncIterable<Item<R>>) {
        if (stdoutClosed()) break; // the reader went away (`| head -1`): stop streaming
        writeOut(json ? toJson(item) : opts.view(item, term));
      }
    } else {
      writeOut(json ? toJson(result, 2) : opts.view(result as Item<R>, term));
      // a verb whose check failed (an SLO gate) has printed its result; now it fails with exit 3
      const failed = (result as { failedCheck?: unknown } | null)?.failedCheck;
      if (typeof failed === 'string') throw new CheckFailedError(failed);
    }
  } finally {
    progress.stop();
  }
}
