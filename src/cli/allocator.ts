// glibc's allocator settings for a process that lives on (a node, an agent, a lease server, a subscriber, a
// watch): one malloc arena for all its threads and a 128 KiB trim threshold, so that memory V8's parser and
// compilers, OpenSSL and SQLite free goes back to the system instead of staying in per-thread arenas and at the
// top of the main heap (~2.5 MB of an idle node, ~3.3 MB of one under `bench dht --procs 5`, for 1–3 % more CPU
// per write; docs/performance.md). glibc reads GLIBC_TUNABLES only when a program starts, so the executable starts
// itself again (execve: the same process id, the same standard streams) with them set, and a mark that the second
// start takes back out of its environment, with the variable, so that the processes it starts see the operator's
// environment. An operator who sets GLIBC_TUNABLES (even empty) keeps glibc's behaviour as set; a benchmark's own
// process, `--help` and `node install` run as they start; where execve is missing or fails, or /proc/self/exe is
// not the executable (the dynamic loader ran it), the process goes on as it started.
import { longLived, runsFromItsExecutable, verbWords } from './sea-asset.ts';

/** The settings, in glibc's tunables syntax. */
export const MALLOC_TUNABLES = 'glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=131072';
/** Set in the environment of the second start only, with this value. */
export const RESTART_MARK = 'CHORUS_MALLOC_TUNED';
const MARKED = '1';
/** Node throws on a failed execve from 26 on (older ones abort): a start may only try it there. */
const EXECVE_THROWS_FROM = 26;

/** What a start should do: start again with `env`, take the mark back out, or nothing. */
export type AllocatorStep = { kind: 'restart'; env: NodeJS.ProcessEnv } | { kind: 'unmark' } | { kind: 'none' };

/** Where a start runs: the operating system and Node's major version. */
export interface Runtime {
  platform: string;
  nodeMajor: number;
}

/** The step for a start with `argv` (the verb's arguments) and `env`. */
export function allocatorStep(argv: readonly string[], env: NodeJS.ProcessEnv, runtime: Runtime): AllocatorStep {
  if (env[RESTART_MARK] === MARKED) return { kind: 'unmark' };
  if (runtime.platform !== 'linux' || runtime.nodeMajor < EXECVE_THROWS_FROM || env.GLIBC_TUNABLES !== undefined)
    return { kind: 'none' };
  // a benchmark's own process is measured as it starts; help, install and uninstall end at once
  const [verb, sub] = verbWords(argv);
  const endsAtOnce =
    argv.includes('--help') || argv.includes('-h') || (verb === 'node' && (sub === 'install' || sub === 'uninstall'));
  if (!longLived(argv) || verb === 'bench' || endsAtOnce) return { kind: 'none' };
  return { kind: 'restart', env: { ...env, GLIBC_TUNABLES: MALLOC_TUNABLES, [RESTART_MARK]: MARKED } };
}

/**
 * Applies this start's step: on a restart, does not return unless execve fails (this process then goes on as it
 * started); on the second start, deletes the mark and GLIBC_TUNABLES from process.env. A start through the dynamic
 * loader (`ld-linux … chorus node`), whose /proc/self/exe is the loader, runs as it started (`fromItsExecutable`:
 * the check, which tests replace).
 */
export function tuneAllocator(argv: readonly string[], fromItsExecutable = runsFromItsExecutable): void {
  const runtime = { platform: process.platform, nodeMajor: Number(process.versions.node.split('.')[0]) };
  const step = allocatorStep(argv, process.env, runtime);
  if (step.kind === 'unmark') {
    delete process.env[RESTART_MARK];
    delete process.env.GLIBC_TUNABLES;
  } else if (step.kind === 'restart' && typeof process.execve === 'function' && fromItsExecutable()) {
    // execve is experimental: Node emits its warning as it is called, printed on the next tick, which only a failed
    // call lives to see; that one warning is left out, any other goes through
    const emitWarning = process.emitWarning;
    process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
      if (!String(warning instanceof Error ? warning.message : warning).includes('process.execve'))
        (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
    }) as typeof process.emitWarning;
    try {
      // /proc/self/exe: this very executable, even if its file was replaced since it started
      process.execve('/proc/self/exe', [process.argv0, ...argv], step.env);
    } catch {
      // no execve here (a sandbox, no /proc): run with glibc's defaults
    } finally {
      process.emitWarning = emitWarning;
    }
  }
}
