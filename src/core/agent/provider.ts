// The one small interface every provider implements (exec, ollama, openai): a prompt in, progress
// streamed out, a result or a typed failure back, an AbortSignal to stop it. Also what they share:
// the output buffer that caps what is kept, and the mapping from an abort reason to a failure kind.
import { ChorusError, TimeoutError } from '../errors.ts';
import type { Task } from '../tasks/model.ts';

/** A composed prompt: the persona (system) and the task (user); `text` is both, for providers with one input. */
export interface Prompt {
  system: string;
  user: string;
  text: string;
  /** A persona setting the HTTP providers pass on. */
  temperature?: number;
}

/** What a provider reports while it works (percent only where it is known). */
export interface ProviderProgress {
  bytes: number;
  tokens?: number;
  lastLine?: string;
  percent?: number;
}

export interface ProviderRequest {
  task: Task;
  prompt: Prompt;
  /** A fresh directory for this task (exec runs in it). */
  workDir: string;
  /** Aborted to stop the work: the reason is a TimeoutError (per-task timeout) or why the agent stops. */
  signal: AbortSignal;
  onProgress: (p: ProviderProgress) => void;
  /** Diagnostics of the provider (exec: its stderr, line by line). */
  onLog: (line: string) => void;
}

export interface ProviderResult {
  output: string;
  /** Bytes produced in all (more than kept when truncated). */
  bytes: number;
  truncated: boolean;
  tokens?: number;
}

/**
 * unreachable: the provider could not be reached (the task is given back, the agent backs off);
 * failed: it ran and failed (counts as a failed attempt); timeout: the per-task timeout stopped it;
 * cancelled: the agent stopped it (the task is given back).
 */
export type FailureKind = 'unreachable' | 'failed' | 'timeout' | 'cancelled';

export class ProviderError extends ChorusError {
  readonly failure: FailureKind;
  constructor(failure: FailureKind, message: string, cause?: unknown) {
    super(`PROVIDER_${failure.toUpperCase()}`, message, { cause });
    this.name = 'ProviderError';
    this.failure = failure;
  }
}

export interface Provider {
  readonly name: string;
  /** The model announced to peers (exec: whatever agent.model says). */
  readonly model?: string;
  /** Start-up check, before anything is claimed: throws UsageError (exit 2) when the provider cannot work. */
  check(signal: AbortSignal): Promise<void>;
  run(req: ProviderRequest): Promise<ProviderResult>;
}

/** The failure for work stopped by its signal: the per-task timeout, or the agent stopping. */
export function abortFailure(signal: AbortSignal, what: string): ProviderError {
  const reason: unknown = signal.reason;
  if (reason instanceof TimeoutError) return new ProviderError('timeout', `${what}: ${reason.message}`);
  const why = reason instanceof Error ? reason.message : 'stopped';
  return new ProviderError('cancelled', `${what}: ${why}`);
}

const LAST_LINE_CHARS = 200;

/**
 * Collects a provider's output up to a cap (the rest is counted, not kept) and remembers the last
 * complete non-empty line for progress notes.
 */
export class OutputBuffer {
  private readonly cap: number;
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  bytes = 0;
  lastLine: string | undefined;
  private partial = '';

  constructor(cap: number) {
    this.cap = cap;
  }

  get truncated(): boolean {
    return this.bytes > this.kept;
  }

  push(data: Buffer | string): void {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.bytes += buf.length;
    const room = this.cap - this.kept;
    if (room > 0) {
      const part = buf.length <= room ? buf : buf.subarray(0, room);
      this.chunks.push(part);
      this.kept += part.length;
    }
    this.track(buf.toString('utf8'));
  }

  private track(text: string): void {
    const all = this.partial + text;
    const lines = all.split('\n');
    this.partial = (lines.pop() ?? '').slice(-4096);
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = (lines[i] as string).trim();
      if (line) {
        this.lastLine = line.slice(0, LAST_LINE_CHARS);
        break;
      }
    }
  }

  /** The last line, complete or not (for the final report). */
  tail(): string | undefined {
    return this.partial.trim() ? this.partial.trim().slice(0, LAST_LINE_CHARS) : this.lastLine;
  }

  text(): string {
    // a cut inside a multi-byte character decodes to U+FFFD; drop it
    return Buffer.concat(this.chunks)
      .toString('utf8')
      .replace(/\uFFFD$/, '');
  }

  result(tokens?: number): ProviderResult {
    return { output: this.text(), bytes: this.bytes, truncated: this.truncated, ...(tokens ? { tokens } : {}) };
  }
}
