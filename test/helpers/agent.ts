// Test fixtures for the agent: a task record as the node hands it out, a fresh working directory, a
// logger that keeps its lines, and scripts written to disk for the exec provider.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentOptions } from '../../src/core/agent/agent.ts';
import type { AgentApi, Change, ClaimGrant } from '../../src/core/agent/api.ts';
import type { Provider } from '../../src/core/agent/provider.ts';
import type { RedactAnswer } from '../../src/core/agent/routes.ts';
import { ChorusError } from '../../src/core/errors.ts';
import { createLogger, type Logger } from '../../src/core/log.ts';
import type { Task } from '../../src/core/tasks/model.ts';
import { until } from './poll.ts';

export function fixtureTask(over: Partial<Task> = {}): Task {
  const at = new Date().toISOString();
  return {
    id: 't-7',
    seq: 7,
    title: 'write the parser',
    description: 'parse the grammar in docs/grammar.md',
    project: 'core',
    priority: 'high',
    expertise: [],
    capabilities: [],
    dependsOn: [],
    touches: [],
    provides: [],
    consumes: [],
    context: [],
    forced: false,
    createdBy: { agent: 'alice', node: '12D3KooWcreator', role: 'architect' },
    createdAt: at,
    updatedAt: at,
    state: 'claimed',
    attempt: 1,
    failures: 0,
    maxAttempts: 3,
    blockedBy: [],
    alerts: [],
    history: [],
    historyDropped: 0,
    ...over,
  };
}

export function workDir(prefix = 'chorus-agent-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A logger whose lines are kept (text format, debug level). */
export function keptLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger({ level: 'debug', format: 'text', sink: (l) => lines.push(l) }), lines };
}

/** Writes an executable shell script and returns its path. */
export function script(dir: string, name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

/** What a FakeApi was asked to do. */
export interface FakeCall {
  op: 'claim' | 'renew' | 'progress' | 'complete' | 'fail';
  id: string;
  body?: Record<string, unknown>;
}

/**
 * An in-memory node for the agent loop: hands out the given tasks (claimable until claimed), records
 * every change the agent sends, redacts nothing. For loop behaviour without a cluster.
 */
export class FakeApi implements AgentApi {
  readonly calls: FakeCall[] = [];
  readonly tasks: Task[];
  private readonly claimed = new Set<string>();

  constructor(tasks: Task[]) {
    this.tasks = tasks;
  }

  /** Like a node that has not applied the agent's own changes yet: claimed tasks still look open. */
  stale = false;
  private readonly epochs = new Map<string, number>();
  private readonly done = new Set<string>();

  /** The log index this node applied (undefined: any); asking for a later one times out, like a node whose log was reset. */
  applied: number | undefined;

  async next(_p?: unknown, after = 0): Promise<Task[]> {
    if (this.applied !== undefined && after > this.applied)
      throw new ChorusError('TIMEOUT', `log index ${after} not applied here`);
    return this.tasks.filter((t) => !this.done.has(t.id) && (this.stale || !this.claimed.has(t.id)));
  }

  /** A claim: a new epoch; a claim of a task this agent holds answers with the same token (as the machine does). */
  async claim(id: string): Promise<ClaimGrant> {
    const task = this.tasks.find((t) => t.id === id) as Task;
    this.calls.push({ op: 'claim', id });
    if (!this.claimed.has(id)) this.epochs.set(id, (this.epochs.get(id) ?? 0) + 1);
    this.claimed.add(id);
    const epoch = this.epochs.get(id) as number;
    const token = `1.${epoch}`;
    const claim = { owner: { agent: 'a', node: 'n' }, token, term: 1, epoch, expiresAt: 0, ttlMs: 3000 };
    return { task: { ...task, attempt: epoch, claim: { ...claim, hold: 'client' } }, token, index: 1 };
  }

  /** Set to make renewals and progress reports fail (e.g. a CLAIM_EXPIRED ChorusError). */
  renewError: Error | undefined;

  async renew(id: string): Promise<unknown> {
    this.calls.push({ op: 'renew', id });
    if (this.renewError) throw this.renewError;
    return {};
  }

  async progress(id: string, _t: string, _a: string, report: Record<string, unknown>): Promise<unknown> {
    this.calls.push({ op: 'progress', id, body: report });
    if (this.renewError) throw this.renewError;
    return {};
  }

  async complete(id: string, _t: string, _a: string, content: string): Promise<Change> {
    this.calls.push({ op: 'complete', id, body: { content } });
    this.done.add(id);
    const task = this.tasks.find((t) => t.id === id) as Task;
    return { task: { ...task, state: 'completed', result: `ucxl://a:r@p:${id}/*~1/result.md` }, index: 2 };
  }

  /** A node that takes failures but never answers them. */
  failHangs = false;

  async fail(id: string, _t: string, _a: string, reason: string, requeue: boolean): Promise<Change> {
    this.calls.push({ op: 'fail', id, body: { reason, requeue } });
    if (this.failHangs) await new Promise(() => {});
    this.claimed.delete(id);
    return { task: { ...(this.tasks.find((t) => t.id === id) as Task), state: 'open' }, index: 2 };
  }

  async *watch(signal: AbortSignal): AsyncIterable<{ watching: string }> {
    yield { watching: 'all' };
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  }

  async redact(text: string): Promise<RedactAnswer> {
    return { text, redactions: 0, rules: [] };
  }

  async *announce(_a: unknown, signal: AbortSignal): AsyncIterable<unknown> {
    yield { announced: true };
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  }

  async load(): Promise<unknown> {
    return {};
  }

  async decision(): Promise<{ content: Buffer }> {
    throw new Error('no decisions here');
  }

  async task(id: string): Promise<Task> {
    return this.tasks.find((t) => t.id === id) as Task;
  }

  /** Resolves when a call matching `op` (and the id) was made. */
  async called(op: FakeCall['op'], id?: string, timeoutMs = 10_000): Promise<FakeCall> {
    const match = (x: FakeCall): boolean => x.op === op && (id === undefined || x.id === id);
    return until(`a ${op} call${id ? ` for ${id}` : ''}`, () => this.calls.find(match), { timeoutMs, intervalMs: 10 });
  }
}

/** Agent options for tests (fast timers, a temporary work root). */
export function agentOptions(
  api: AgentApi,
  provider: Provider,
  logger: Logger,
  over: Partial<AgentOptions> = {},
): AgentOptions {
  return {
    api,
    provider,
    profile: { name: 'tester', role: 'developer', expertise: [], capabilities: [] },
    maxConcurrent: 1,
    taskTimeoutMs: 10_000,
    outputCapBytes: 64 * 1024,
    workRoot: workDir('chorus-agent-root-'),
    keep: false,
    gracePeriodMs: 1000,
    progressIntervalMs: 200,
    backoffMs: 200,
    personas: {},
    logger,
    pollMs: 200,
    ...over,
  };
}
