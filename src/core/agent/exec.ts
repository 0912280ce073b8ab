// The exec provider: any command line does the work. The prompt goes to its stdin; the task is in
// CHORUS_TASK_* environment variables and a JSON file; its stdout is the result (kept up to the output
// cap), its stderr goes to the agent's log line by line (a line `CHORUS_PROGRESS 40` reports a percent);
// exit 0 is success. It runs in the task's fresh working directory, in a process group of its own, so a
// timeout or a stopping agent kills the whole tree (SIGTERM, then SIGKILL), and nothing it started
// outlives the task.
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat, writeFile } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { UsageError } from '../errors.ts';
import {
  abortFailure,
  OutputBuffer,
  ProviderError,
  type Provider,
  type ProviderRequest,
  type ProviderResult,
} from './provider.ts';

export interface ExecOptions {
  /** The program and its arguments. */
  command: string[];
  /** Announced only (exec runs whatever model its command uses). */
  model?: string;
  outputCapBytes: number;
  /** The environment the command inherits (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Between SIGTERM and SIGKILL of the process group (default 2 s). */
  killGraceMs?: number;
}

/** Files the command finds in its working directory. */
export const TASK_FILE = '.chorus-task.json';
export const PROMPT_FILE = '.chorus-prompt.md';

const PROGRESS_LINE = /^CHORUS_PROGRESS\s+(\d+(?:\.\d+)?)\s*%?\s*$/;
/** How long after the command exited its output may still drain (a grandchild that escaped the group). */
const DRAIN_MS = 2000;

/** Finds a program the way a shell does (a path, or a name on PATH); throws UsageError (exit 2) when it cannot run. */
export async function resolveCommand(program: string, path = process.env.PATH ?? ''): Promise<string> {
  const candidates = program.includes('/')
    ? [program]
    : path
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, program));
  let found: string | undefined;
  for (const file of candidates) {
    const s = await stat(file).catch(() => undefined);
    if (!s?.isFile()) continue;
    found ??= file;
    if (
      await access(file, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return isAbsolute(file) ? file : join(process.cwd(), file);
  }
  if (found) throw new UsageError(`the exec command ${program} is not executable (${found})`, 'EXEC_NOT_EXECUTABLE');
  throw new UsageError(
    program.includes('/')
      ? `the exec command ${program} does not exist`
      : `the exec command ${program} was not found on PATH`,
    'EXEC_NOT_FOUND',
  );
}

/** The variables the command gets for a task. */
export function taskEnv(req: Pick<ProviderRequest, 'task' | 'workDir'>): Record<string, string> {
  const t = req.task;
  return {
    CHORUS_TASK_ID: t.id,
    CHORUS_TASK_TITLE: t.title,
    CHORUS_TASK_DESCRIPTION: t.description,
    CHORUS_TASK_PROJECT: t.project,
    CHORUS_TASK_PRIORITY: t.priority,
    CHORUS_TASK_ROLE: t.role ?? '',
    CHORUS_TASK_ATTEMPT: String(t.attempt),
    CHORUS_TASK_FILE: join(req.workDir, TASK_FILE),
    CHORUS_PROMPT_FILE: join(req.workDir, PROMPT_FILE),
    CHORUS_WORK_DIR: req.workDir,
  };
}

export class ExecProvider implements Provider {
  readonly name = 'exec';
  readonly model: string | undefined;
  private readonly opts: ExecOptions;

  constructor(opts: ExecOptions) {
    if (opts.command.length === 0)
      throw new UsageError('the exec provider needs a command: chorus agent -- <program> [args…] (or agent.command)');
    this.opts = opts;
    this.model = opts.model || undefined;
  }

  private get program(): string {
    return this.opts.command[0] as string;
  }

  async check(): Promise<void> {
    await resolveCommand(this.program, this.opts.env?.PATH ?? process.env.PATH);
  }

  async run(req: ProviderRequest): Promise<ProviderResult> {
    const what = `exec ${this.program}`;
    if (req.signal.aborted) throw abortFailure(req.signal, what);
    await writeFile(join(req.workDir, TASK_FILE), JSON.stringify(req.task, null, 2));
    await writeFile(join(req.workDir, PROMPT_FILE), req.prompt.text);
    const out = new OutputBuffer(this.opts.outputCapBytes);
    let logged = 0;
    let percent: number | undefined;
    let stderrTail: string | undefined;
    const child = spawn(this.program, this.opts.command.slice(1), {
      cwd: req.workDir,
      env: { ...(this.opts.env ?? process.env), ...taskEnv(req) },
      detached: true, // its own process group: kill(-pid) reaches everything it started
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const group = (sig: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // the group is gone already
      }
    };
    const progress = (): void => req.onProgress({ bytes: out.bytes, lastLine: out.lastLine, percent });
    return new Promise<ProviderResult>((resolve, reject) => {
      let killTimer: NodeJS.Timeout | undefined;
      let drainTimer: NodeJS.Timeout | undefined;
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      let done = false;
      const onAbort = (): void => {
        group('SIGTERM');
        killTimer = setTimeout(() => group('SIGKILL'), this.opts.killGraceMs ?? 2000);
        killTimer.unref();
      };
      const finish = (err?: unknown): void => {
        if (done) return;
        done = true;
        clearTimeout(killTimer);
        clearTimeout(drainTimer);
        req.signal.removeEventListener('abort', onAbort);
        if (err) return reject(err);
        if (req.signal.aborted) return reject(abortFailure(req.signal, what));
        if (exit?.code === 0) return resolve(out.result());
        const how = exit?.signal ? `was killed by ${exit.signal}` : `exited with code ${exit?.code}`;
        reject(new ProviderError('failed', `${what} ${how}${stderrTail ? `: ${stderrTail}` : ''}`));
      };
      child.once('error', (err) => {
        group('SIGKILL');
        finish(new ProviderError('failed', `${what} could not start: ${err.message}`, err));
      });
      req.signal.addEventListener('abort', onAbort, { once: true });
      child.stdin.on('error', () => {}); // a command that does not read its stdin
      child.stdin.end(req.prompt.text);
      child.stdout.on('data', (d: Buffer) => {
        out.push(d);
        progress();
      });
      let partial = '';
      child.stderr.on('data', (d: Buffer) => {
        const lines = (partial + d.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        if (partial.length > 64 * 1024) {
          lines.push(partial);
          partial = '';
        }
        for (const line of lines) {
          const m = PROGRESS_LINE.exec(line.trim());
          if (m) {
            percent = Math.min(100, Number(m[1]));
            progress();
            continue;
          }
          if (line.trim()) stderrTail = line.trim().slice(0, 500);
          logged += line.length + 1;
          if (logged <= this.opts.outputCapBytes) req.onLog(line);
        }
      });
      child.stderr.once('end', () => {
        if (!partial.trim()) return;
        stderrTail = partial.trim().slice(0, 500);
        if (logged + partial.length <= this.opts.outputCapBytes) req.onLog(partial);
      });
      child.once('exit', (code, signal) => {
        exit = { code, signal };
        group('SIGKILL'); // whatever the task left running in its group ends with it
        drainTimer = setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
          finish();
        }, DRAIN_MS);
        drainTimer.unref();
      });
      child.once('close', () => {
        if (exit) finish();
      });
    });
  }
}
