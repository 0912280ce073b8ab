// glibc's allocator settings for a process that lives on (a node, an agent, a lease server, a subscriber, a
// watch): one malloc arena for all its threads and a 128 KiB trim threshold, so that memory V8's parser and
// compilers, OpenSSL and SQLite free goes back to the system instead of staying in per-thread arenas and at the
// top of the main heap (an idle node −3.3 MB, a node under `bench dht --procs 5` −4 MB; docs/performance.md).
// glibc reads GLIBC_TUNABLES only when a program starts, so the executable starts itself again (execve: the same
// process id, the same standard streams) with them set, and a mark that the second start takes back out of its
// environment, with the variable, so that the processes it starts see the operator's environment. An operator
// who sets GLIBC_TUNABLES (even empty) keeps glibc's behaviour as set; a benchmark's own process is measured as it
// runs; where execve is missing or fails, the process goes on as it started.
import { longLived, verbWords } from './sea-asset.ts';

/** The settings, in glibc's tunables syntax. */
export const MALLOC_TUNABLES = 'glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=131072';
/** Set in the environment of the second start only, with this value. */
export const RESTART_MARK = 'CHORUS_MALLOC_TUNED';
const MARKED = '1';

/** What a start should do: start again with `env`, take the mark back out, or nothing. */
export type AllocatorStep = { kind: 'restart'; env: NodeJS.ProcessEnv } | { kind: 'unmark' } | { kind: 'none' };

/** The step for a start with `argv` (the verb's arguments) and `env`, on `platform`. */
export function allocatorStep(argv: readonly string[], env: NodeJS.ProcessEnv, platform: string): AllocatorStep {
  if (env[RESTART_MARK] === MARKED) return { kind: 'unmark' };
  if (platform !== 'linux' || env.GLIBC_TUNABLES !== undefined) return { kind: 'none' };
  if (!longLived(argv) || verbWords(argv)[0] === 'bench') return { kind: 'none' };
  return { kind: 'restart', env: { ...env, GLIBC_TUNABLES: MALLOC_TUNABLES, [RESTART_MARK]: MARKED } };
}

/**
 * Applies this start's step: on a restart, does not return unless execve fails (this process then goes on as it
 * started); on the second start, deletes the mark and GLIBC_TUNABLES from process.env.
 */
export function tuneAllocator(argv: readonly string[]): void {
  const step = allocatorStep(argv, process.env, process.platform);
  if (step.kind === 'unmark') {
    delete process.env[RESTART_MARK];
    delete process.env.GLIBC_TUNABLES;
  } else if (step.kind === 'restart' && typeof process.execve === 'function') {
    // execve is experimental: Node's warning says so on the next tick, which only a failed call lives to see
    const listeners = process.listeners('warning');
    process.removeAllListeners('warning');
    try {
      // /proc/self/exe: this very executable, even if its file was replaced since it started
      process.execve('/proc/self/exe', [process.argv0, ...argv], step.env);
    } catch {
      // no execve here (a sandbox, no /proc): run with glibc's defaults
    }
    process.nextTick(() => {
      for (const listener of listeners) process.on('warning', listener);
    });
  }
}
