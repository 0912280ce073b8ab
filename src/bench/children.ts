// Child processes of a benchmark: spawn with CHORUS_* variables stripped, wait for a line on stderr,
// stop gracefully (SIGTERM, then SIGKILL), and a last-resort kill of everything still running.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describeError } from '../core/errors.ts';

export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  const timer = delay(ms, undefined, { ref: false }).then(() => undefined);
  return Promise.race([promise, timer]);
}

const liveChildren = new Set<ChildProcess>();

/** SIGKILLs every child process the benchmark started that is still running (for a caller's last resort). */
export function killBenchChildren(): number {
  let n = 0;
  for (const c of liveChildren) {
    if (c.exitCode === null && c.signalCode === null && c.kill('SIGKILL')) n++;
  }
  return n;
}

export interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<void>;
  /** Last stderr lines, for error messages. */
  stderrTail: string[];
  /** Resolves with the first stderr line `match` accepts; rejects on exit or timeout. */
  waitForStderr<T>(match: (line: string) => T | undefined, timeoutMs: number, signal?: AbortSignal): Promise<T>;
}

export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CHORUS_')) env[k] = v;
  return { ...env, NO_COLOR: '1', ...extra };
}

/** Environment that makes benchmark nodes one dev cluster: --dev licenses from one shared dev authority. */
export function devClusterEnv(root: string): Record<string, string> {
  return { CHORUS_DEV: 'true', CHORUS_DEV_AUTHORITY: join(root, 'dev-authority.key') };
}

/** The config layer for in-process benchmark nodes of the same dev cluster. */
export function devClusterConfig(root: string): { dev: true; devAuthority: string } {
  return { dev: true, devAuthority: join(root, 'dev-authority.key') };
}

export function spawnChild(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  onStdoutLine?: (line: string) => void,
): Child {
  const proc = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(proc);
  const stderrTail: string[] = [];
  const listeners = new Set<(line: string) => void>();
  const { promise: exited, resolve: onExit } = Promise.withResolvers<void>();
  proc.on('exit', () => {
    liveChildren.delete(proc);
    onExit();
  });
  proc.on('error', (err) => {
    stderrTail.push(`spawn failed: ${describeError(err)}`);
    liveChildren.delete(proc);
    onExit();
  });
  const lines = (stream: NodeJS.ReadableStream | null, each: (line: string) => void): void => {
    let buf = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) each(line);
      }
    });
  };
  lines(proc.stderr, (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 20) stderrTail.shift();
    for (const l of listeners) l(line);
  });
  if (onStdoutLine) lines(proc.stdout, onStdoutLine);
  else proc.stdout?.resume();
  return {
    name,
    proc,
    exited,
    stderrTail,
    waitForStderr<T>(match: (line: string) => T | undefined, timeoutMs: number, signal?: AbortSignal): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const done = (): void => {
          listeners.delete(listener);
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        };
        const listener = (line: string): void => {
          const value = match(line);
          if (value !== undefined) {
            done();
            resolve(value);
          }
        };
        const fail = (why: string): void => {
          done();
          reject(
            new Error(`${name}: ${why}${stderrTail.length ? `; stderr: ${stderrTail.slice(-3).join(' | ')}` : ''}`),
          );
        };
        const onAbort = (): void => fail('aborted');
        const timer = setTimeout(() => fail(`no expected output within ${timeoutMs} ms`), timeoutMs);
        signal?.addEventListener('abort', onAbort, { once: true });
        listeners.add(listener);
        void exited.then(() => fail(`exited (code ${proc.exitCode ?? proc.signalCode})`));
      });
    },
  };
}

/** CPU time (user + system, ms) a process used so far, from /proc; 0 when it cannot be read. */
export function processCpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name (which may contain spaces): state is field 3, utime 14, stime 15
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Linux's USER_HZ: /proc reports CPU time in these ticks. */
const CLOCK_TICKS = 100;

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChildren(children: Child[], graceMs: number): Promise<void> {
  await Promise.all(
    children.map(async (c) => {
      if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
      c.proc.kill('SIGTERM');
      const exited = await withTimeout(
        c.exited.then(() => true),
        graceMs,
      );
      if (!exited) {
        c.proc.kill('SIGKILL');
        await withTimeout(c.exited, 2000);
      }
    }),
  );
}
