// Runs one verb: global options → typed config → logger/progress → the command's result → rendering.
// Results go to stdout (text or --json); logs and progress go to stderr.
import type { Command } from 'commander';
import type { ClientContext, CommandContext } from '../commands/context.ts';
import { clientConfig } from '../core/config/client.ts';
import { CheckFailedError } from '../core/errors.ts';
import type { ConfigLayer } from '../core/config/load.ts';
import { createLogger, type LogFormat, type LogLevel } from '../core/log.ts';
import { stdoutClosed, toJson, writeOut } from './output.ts';
import { createProgress } from './progress.ts';
import { terminalFacts, type TerminalFacts } from './terminal.ts';
import { configLoader, redactorModule } from './uncommon.ts';

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
  const { loadConfig, setPath } = await configLoader();
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
  const { Redactor } = await redactorModule();
  const redactor = new Redactor({ rules });
  return (line) => redactor.scrubLine(line);
}

/**
 * A stderr sink that scrubs every line with SHHH, loading the Redactor (and its regex engine) only when
 * the first line comes: a client verb that logs nothing never pays for it. Lines wait (in order) while it
 * loads; flush() resolves once every line is written, and invoke awaits it before the verb's end.
 */
function lazyRedactingSink(rules: CommandContext['config']['shhh']['rules']) {
  const write = (line: string) => process.stderr.write(`${line}\n`);
  const pending: string[] = [];
  let redact: ((line: string) => string) | undefined;
  let loading: Promise<void> | undefined;
  return {
    sink(line: string): void {
      if (redact) return void write(redact(line));
      pending.push(line);
      loading ??= logRedaction(rules).then((r) => {
        redact = r;
        for (const l of pending.splice(0)) write(r(l));
      });
    },
    flush: (): Promise<void> => loading ?? Promise.resolve(),
  };
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return typeof v === 'object' && v !== null && Symbol.asyncIterator in v;
}

/** Runs a verb with the full, validated config. */
export function invoke<R>(
  cmd: Command,
  exec: (ctx: CommandContext) => Promise<R> | R,
  opts: InvokeOptions<R>,
): Promise<void> {
  return run(cmd, exec as (ctx: ClientContext) => Promise<R> | R, opts, false);
}

/**
 * Runs a client verb (one that only talks to the local node's API): its config is the ClientConfig,
 * resolved without the schema when nothing else could change it, and SHHH loads when a line is logged.
 */
export function invokeClient<R>(
  cmd: Command,
  exec: (ctx: ClientContext) => Promise<R> | R,
  opts: InvokeOptions<R>,
): Promise<void> {
  return run(cmd, exec, opts, true);
}

async function run<R>(
  cmd: Command,
  exec: (ctx: ClientContext) => Promise<R> | R,
  opts: InvokeOptions<R>,
  /** a client verb (invokeClient): the ClientConfig when it suffices, SHHH loaded on the first logged line */
  client: boolean,
): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const json = Boolean(g.json);
  const term = terminalFacts({ json, color: g.color !== false });
  const config = opts.noConfig
    ? undefined
    : ((client && !opts.flags ? clientConfig({ file: g.config, env: process.env, flags: g }) : undefined) ??
      (await configFor(g, opts as InvokeOptions<unknown>)));
  const lazy = client && config ? lazyRedactingSink(config.shhh.rules) : undefined;
  const logger = createLogger({
    level: config?.log.level ?? g.logLevel ?? 'info',
    format: config?.log.format ?? g.logFormat ?? 'text',
    sink: lazy?.sink ?? ((line) => process.stderr.write(`${line}\n`)),
    redact: config && !lazy ? await logRedaction(config.shhh.rules) : undefined,
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
    await lazy?.flush();
  }
}
