// The agent loop: takes claimable tasks that match its profile (best first), claims them, does each with
// the provider in a fresh working directory, renews the claim while it works (progress reports renew
// too), and completes the task with its result — or fails it with the reason, so the task layer retries
// or escalates. Committed transitions (the node's watch stream) wake it at once, so no slot idles while
// claimable work waits. Everything the provider produced passes the node's SHHH before it is written or
// logged. An unreachable provider gives the task back and pauses the agent (backoff), never ends it.
// Stopping: no more claims; running tasks get the grace period, then are given back ("agent stopped").
// Size: one loop whose look-claim-work-settle-stop paths share the slots, the stop state and the backoff;
// the providers, prompts, persona and node API are their own modules.
import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ChorusError, describeError, TimeoutError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Task } from '../tasks/model.ts';
import type { AgentApi, AgentProfile, ClaimGrant } from './api.ts';
import { builtinPersona, type Persona } from './persona.ts';
import { composePrompt, gatherContext } from './prompt.ts';
import {
  ProviderError,
  type FailureKind,
  type Provider,
  type ProviderProgress,
  type ProviderResult,
} from './provider.ts';

export interface AgentOptions {
  api: AgentApi;
  provider: Provider;
  profile: AgentProfile;
  maxConcurrent: number;
  taskTimeoutMs: number;
  outputCapBytes: number;
  /** Each task gets a fresh directory under this one. */
  workRoot: string;
  keep: boolean;
  gracePeriodMs: number;
  progressIntervalMs: number;
  backoffMs: number;
  /** Configured personas by role (others use the built-in one). */
  personas: Record<string, Persona>;
  logger: Logger;
  /** A safety net besides the watch stream: look for work this often (default 5 s). */
  pollMs?: number;
}

/** How one task ended for this agent. */
export type Outcome = 'completed' | 'failed' | 'given_back' | 'lost';

export interface AgentSummary {
  completed: number;
  failed: number;
  givenBack: number;
  lost: number;
}

export interface AgentEvents {
  /** A claim attempt ended (ms: its round trip through the node and the leader). */
  claim: [{ id: string; ms: number; outcome: 'won' | 'raced' | 'refused' }];
  claimed: [{ task: Task; at: number }];
  /** The provider started: claim-to-start is `at - claimedAt`. */
  started: [{ task: Task; claimedAt: number; at: number }];
  /** The provider ended (the slot is free again). */
  ended: [{ task: Task; at: number; ok: boolean }];
  /** The task was completed, failed or given back through the node (or the claim was lost). */
  settled: [{ id: string; outcome: Outcome; at: number; reason?: string; result?: string }];
  /** No more work is taken for a while: the provider could not be reached. */
  backoff: [{ ms: number; reason: string }];
  /** The node's task stream is followed (again): a task that opens from now on wakes the agent at once. */
  watching: [];
}

interface Job {
  grant: ClaimGrant;
  ctl: AbortController;
  /** Resolves when the provider ended (the slot is free). */
  ended: Promise<void>;
  /** The claim is gone (expired or taken): nothing more is sent for it. */
  lost: boolean;
  report?: ProviderProgress;
  dirty: boolean;
  sending: boolean;
}

const RACE_CODES = new Set(['ALREADY_CLAIMED', 'INVALID_STATE', 'BLOCKED', 'CLAIM_EXPIRED', 'NO_TASK']);
const LOST_CODES = new Set(['CLAIM_EXPIRED', 'NOT_OWNER', 'INVALID_STATE', 'NO_TASK']);
const MAX_BACKOFF_MS = 60_000;
const LOG_FLUSH_MS = 250;
const LOAD_REPORT_MS = 1000;
/** Tries to complete or fail a task through the node, 1 s and 2 s apart. */
const SETTLE_ATTEMPTS = 3;
const SETTLE_RETRY_MS = 1000;
/** After the grace period, how long a stop waits for tasks to be completed or given back through the node. */
export const SETTLE_ON_STOP_MS = 5000;

const codeOf = (err: unknown): string => (err instanceof ChorusError ? err.code : '');

/** Candidates taken from the head of the list in a random order (same priority only). */
const SPREAD = 8;

/**
 * The claimable tasks in the order to try them: best first (priority, then age), except that the first
 * few of the best priority are tried in a random order — agents that look for work at the same moment
 * then mostly claim different tasks instead of racing for the oldest one (a lost race costs a commit).
 */
export function spread(list: Task[], random: () => number = Math.random): Task[] {
  const head = list.slice(0, SPREAD).filter((t) => t.priority === list[0]?.priority);
  for (let i = head.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [head[i], head[j]] = [head[j] as Task, head[i] as Task];
  }
  return [...head, ...list.slice(head.length)];
}

/** The reason the agent gives back a task it stops working on. */
export const AGENT_STOPPED = 'agent stopped';

export class Agent extends EventEmitter<AgentEvents> {
  private readonly opts: AgentOptions;
  private readonly log: Logger;
  /** Tasks whose provider runs (they hold a slot). */
  private readonly running = new Map<string, Job>();
  /** Tasks being completed or failed through the node (slot already free). */
  private readonly settling = new Set<Promise<void>>();
  /** Tasks this profile may not claim (NOT_ELIGIBLE), until when. */
  private readonly skip = new Map<string, number>();
  /** Claims this agent ran (task:token): a retried claim of a held task answers with the same token. */
  private readonly ran = new Set<string>();
  /** The highest log index of this agent's own changes: the node answers `next` only once it applied it. */
  private seen = 0;
  private readonly halt = new AbortController();
  /** The claim renewals of tasks not settled yet. */
  private readonly renewers = new Set<NodeJS.Timeout>();
  private stopping = false;
  private filling = false;
  private again = false;
  private pausedUntil = 0;
  private backoff = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly summary: AgentSummary = { completed: 0, failed: 0, givenBack: 0, lost: 0 };

  constructor(opts: AgentOptions) {
    super();
    this.opts = opts;
    this.log = opts.logger;
  }

  /** The provider doing the work. */
  get provider(): Provider {
    return this.opts.provider;
  }

  /** Tasks running now. */
  get busy(): number {
    return this.running.size;
  }

  /** Runs until `signal` aborts, then stops gracefully; resolves with what was done. */
  async run(signal: AbortSignal): Promise<AgentSummary> {
    await mkdir(this.opts.workRoot, { recursive: true, mode: 0o700 });
    const background = [this.announceLoop(), this.watchLoop()];
    const poll = setInterval(() => this.poke(), this.opts.pollMs ?? 5000);
    this.poke();
    await new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    clearInterval(poll);
    await this.stop();
    this.halt.abort();
    clearTimeout(this.loadTimer);
    await Promise.allSettled(background);
    return { ...this.summary };
  }

  /** No more claims; running tasks get the grace period, then are given back. */
  private async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.retryTimer);
    if (this.running.size) {
      this.log.info('stopping: letting running tasks finish', {
        tasks: [...this.running.keys()],
        graceMs: this.opts.gracePeriodMs,
      });
      const grace = new AbortController();
      await Promise.race([
        Promise.all([...this.running.values()].map((j) => j.ended)),
        delay(this.opts.gracePeriodMs, undefined, { signal: grace.signal }).catch(() => {}),
      ]);
      grace.abort();
      for (const [id, job] of this.running) {
        this.log.warn('giving a task back', { task: id, reason: AGENT_STOPPED });
        job.ctl.abort(new ChorusError('AGENT_STOPPED', AGENT_STOPPED));
      }
    }
    // completing or giving back what ran goes through the node; a node that does not answer cannot hold the
    // stop for long: those tasks reopen when their claims lapse
    const limit = delay(SETTLE_ON_STOP_MS, undefined, { ref: false }).then(() => 'late' as const);
    while (this.settling.size) {
      if ((await Promise.race([Promise.allSettled([...this.settling]), limit])) === 'late') {
        this.log.warn('stopped before every task was settled; their claims lapse', { tasks: this.settling.size });
        for (const r of this.renewers) clearInterval(r);
        break;
      }
    }
  }

  // ---- finding work ---------------------------------------------------------------------------------

  private free(): number {
    return this.opts.maxConcurrent - this.running.size;
  }

  private poke(): void {
    if (this.stopping) return;
    if (this.filling) {
      this.again = true;
      return;
    }
    void this.fill();
  }

  private retryIn(ms: number): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.poke(), ms);
  }

  /** Claims tasks until every slot is busy or nothing claimable is left. */
  private async fill(): Promise<void> {
    this.filling = true;
    try {
      do {
        this.again = false;
        while (this.free() > 0 && !this.stopping) {
          const wait = this.pausedUntil - Date.now();
          if (wait > 0) {
            this.retryIn(wait);
            break;
          }
          const now = Date.now();
          const list = (await this.opts.api.next(this.opts.profile, this.seen, this.halt.signal)).filter(
            (t) => !this.running.has(t.id) && (this.skip.get(t.id) ?? 0) < now,
          );
          if (!list.length) break;
          let claimed = false;
          let raced = false;
          for (const t of spread(list)) {
            if (this.free() <= 0 || this.stopping) break;
            const grant = await this.claim(t);
            if (grant === 'raced') {
              raced = true; // the list is stale: ask again rather than race for the next one
              break;
            } else if (grant) {
              this.note(grant.index);
              const key = `${grant.task.id}:${grant.token}`;
              if (this.ran.has(key)) continue; // this claim was run already (and is being settled)
              this.remember(key);
              claimed = true;
              this.start(grant);
            }
          }
          if (!claimed && !raced) break;
        }
      } while (this.again && !this.stopping);
    } catch (err) {
      // the node may have restarted with another log: stop asking it for an index it may never reach
      this.seen = 0;
      if (!this.stopping) {
        this.log.warn('could not look for work; retrying', { error: describeError(err) });
        this.retryIn(1000);
      }
    } finally {
      this.filling = false;
    }
  }

  private note(index: number): void {
    if (index > this.seen) this.seen = index;
  }

  private remember(key: string): void {
    this.ran.add(key);
    if (this.ran.size > 10_000) this.ran.delete(this.ran.values().next().value as string);
  }

  private async claim(t: Task): Promise<ClaimGrant | 'raced' | undefined> {
    const t0 = performance.now();
    const report = (outcome: 'won' | 'raced' | 'refused'): void => {
      this.emit('claim', { id: t.id, ms: performance.now() - t0, outcome });
    };
    try {
      const grant = await this.opts.api.claim(t.id, this.opts.profile, this.halt.signal);
      report('won');
      return grant;
    } catch (err) {
      const code = codeOf(err);
      if (RACE_CODES.has(code)) {
        report('raced'); // another agent was first: normal
        return 'raced';
      }
      report('refused');
      if (code === 'NOT_ELIGIBLE') {
        this.skip.set(t.id, Date.now() + 30_000);
        return undefined;
      }
      throw err;
    }
  }

  // ---- doing a task ---------------------------------------------------------------------------------

  private start(grant: ClaimGrant): void {
    const ended = Promise.withResolvers<void>();
    const job: Job = {
      grant,
      ctl: new AbortController(),
      ended: ended.promise,
      lost: false,
      dirty: false,
      sending: false,
    };
    this.running.set(grant.task.id, job);
    // a claim that was answered after the stop began: given back at once
    if (this.stopping) job.ctl.abort(new ChorusError('AGENT_STOPPED', AGENT_STOPPED));
    this.emit('claimed', { task: grant.task, at: Date.now() });
    this.log.info('claimed', { task: grant.task.id, title: grant.task.title, attempt: grant.task.attempt });
    this.reportLoad();
    const work = this.work(job, ended.resolve).catch((err: unknown) =>
      this.log.error('task handling failed', { task: grant.task.id, error: describeError(err) }),
    );
    const tracked = work.finally(() => this.settling.delete(tracked));
    this.settling.add(tracked);
  }

  private personaFor(task: Task): Persona {
    const role = task.role ?? this.opts.profile.role;
    return this.opts.personas[role] ?? builtinPersona(role);
  }

  private async work(job: Job, ended: () => void): Promise<void> {
    const { task } = job.grant;
    const claimedAt = Date.now();
    const ttl = job.grant.task.claim?.ttlMs ?? 30_000;
    const tick = Math.max(100, Math.min(this.opts.progressIntervalMs, Math.floor(ttl / 3)));
    const renewer = setInterval(() => void this.keepAlive(job), tick);
    this.renewers.add(renewer);
    const logs = this.logSink(task.id);
    let dir: string | undefined;
    let result: ProviderResult | undefined;
    let failure: { kind: FailureKind; reason: string } | undefined;
    const timer = setTimeout(
      () => job.ctl.abort(new TimeoutError(`timed out after ${this.opts.taskTimeoutMs} ms`)),
      this.opts.taskTimeoutMs,
    );
    try {
      dir = await mkdtemp(join(this.opts.workRoot, `${task.id}-`));
      const items = await gatherContext(task, this.opts.api, job.ctl.signal);
      for (const i of items.filter((x) => x.content === undefined))
        this.log.info('context left out', { task: task.id, address: i.address, why: i.note });
      const prompt = composePrompt(task, this.personaFor(task), items);
      this.emit('started', { task, claimedAt, at: Date.now() });
      job.report = { bytes: 0 };
      job.dirty = true; // the first tick marks the task in progress
      result = await this.opts.provider.run({
        task,
        prompt,
        workDir: dir,
        signal: job.ctl.signal,
        onProgress: (p) => {
          job.report = p;
          job.dirty = true;
        },
        onLog: (line) => logs.push(line),
      });
    } catch (err) {
      failure =
        err instanceof ProviderError
          ? { kind: err.failure, reason: err.message }
          : job.ctl.signal.aborted
            ? { kind: 'cancelled', reason: AGENT_STOPPED }
            : { kind: 'unreachable', reason: `the agent could not run the task: ${describeError(err)}` };
      // while stopping, a provider that ended badly may have been stopped with us (a service manager
      // signals the whole group): the task is given back, not counted against it
      if (this.stopping && failure.kind === 'failed') failure = { kind: 'cancelled', reason: AGENT_STOPPED };
    } finally {
      clearTimeout(timer);
      this.running.delete(task.id);
      ended();
      this.emit('ended', { task, at: Date.now(), ok: failure === undefined });
      this.reportLoad();
      this.poke(); // the slot is free: take the next task while this one is written
    }
    try {
      await logs.flush();
      await this.settle(job, result, failure);
    } finally {
      clearInterval(renewer);
      this.renewers.delete(renewer);
      if (dir && !this.opts.keep) await rm(dir, { recursive: true, force: true }).catch(() => {});
    }
  }

  /** Completes or fails the task through the node (its claim is renewed until this returns). */
  private async settle(
    job: Job,
    result: ProviderResult | undefined,
    failure: { kind: FailureKind; reason: string } | undefined,
  ): Promise<void> {
    const { task, token } = job.grant;
    const agent = this.opts.profile.name;
    const signal = AbortSignal.timeout(120_000);
    const done = (outcome: Outcome, extra: { reason?: string; result?: string } = {}): void => {
      this.summary[outcome === 'given_back' ? 'givenBack' : outcome]++;
      this.emit('settled', { id: task.id, outcome, at: Date.now(), ...extra });
    };
    if (job.lost) {
      this.log.warn('the claim was lost; the task is someone else’s now', { task: task.id });
      return done('lost');
    }
    try {
      if (result) {
        const cap = this.opts.outputCapBytes;
        const text = result.truncated
          ? `${result.output}\n\n[output truncated by chorus: kept ${cap} of ${result.bytes} bytes]\n`
          : result.output;
        const clean = await this.opts.api
          .redact(text, { location: 'result', agent, task: task.id }, signal)
          .then((r) => r.text)
          .catch((err: unknown) => {
            if (codeOf(err) !== 'SHHH_DENIED') throw err;
            failure = { kind: 'failed', reason: `the result was refused: ${describeError(err)}` };
            return undefined;
          });
        if (clean !== undefined) {
          try {
            const completed = await this.retrying('complete the task', task.id, () =>
              this.opts.api.complete(task.id, token, agent, clean, signal),
            );
            this.note(completed.index);
            this.backoff = 0;
            this.log.info('completed', { task: task.id, result: completed.task.result, bytes: result.bytes });
            return done('completed', { result: completed.task.result });
          } catch (err) {
            if (LOST_CODES.has(codeOf(err))) throw err;
            failure = { kind: 'failed', reason: `the result could not be written: ${describeError(err)}` };
          }
        }
      }
      const f = failure as { kind: FailureKind; reason: string };
      const requeue = f.kind === 'unreachable' || f.kind === 'cancelled';
      const reason = f.kind === 'cancelled' ? AGENT_STOPPED : await this.clean(f.reason, 'failure', task.id, signal);
      const failed = await this.retrying('fail the task', task.id, () =>
        this.opts.api.fail(task.id, token, agent, reason.slice(0, 2000), requeue, signal),
      );
      this.note(failed.index);
      if (f.kind === 'unreachable') this.pause(reason);
      this.log.warn(requeue ? 'gave the task back' : 'failed', { task: task.id, reason });
      return done(requeue ? 'given_back' : 'failed', { reason });
    } catch (err) {
      if (LOST_CODES.has(codeOf(err))) {
        this.log.warn('the claim was lost before the task was settled', { task: task.id, error: describeError(err) });
        return done('lost', { reason: describeError(err) });
      }
      throw err;
    }
  }

  /** Retries a change through the node that failed for a passing reason (no leader, a slow DHT …). */
  private async retrying<T>(what: string, task: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const code = codeOf(err);
        const final = LOST_CODES.has(code) || code === 'SHHH_DENIED' || (err as ChorusError).kind === 'usage';
        if (final || attempt >= SETTLE_ATTEMPTS) throw err;
        this.log.warn(`could not ${what}; retrying`, { task, attempt, error: describeError(err) });
        await delay(SETTLE_RETRY_MS * 2 ** (attempt - 1));
      }
    }
  }

  /** A failure reason through SHHH (it may quote the provider's output). */
  private async clean(text: string, location: string, task: string, signal: AbortSignal): Promise<string> {
    const r = await this.opts.api.redact(text, { location, agent: this.opts.profile.name, task, log: true }, signal);
    return r.text;
  }

  /** The provider could not be reached: no new work for a while (doubling, up to a minute). */
  private pause(reason: string): void {
    this.backoff = this.backoff ? Math.min(this.backoff * 2, MAX_BACKOFF_MS) : this.opts.backoffMs;
    this.pausedUntil = Date.now() + this.backoff;
    this.emit('backoff', { ms: this.backoff, reason });
    this.log.warn('the provider could not be reached; pausing', { ms: this.backoff });
    this.retryIn(this.backoff);
  }

  /** Renews the claim; a progress report (which renews too) when the provider produced something new. */
  private async keepAlive(job: Job): Promise<void> {
    if (job.lost || job.sending) return;
    job.sending = true;
    const { task, token } = job.grant;
    const agent = this.opts.profile.name;
    const signal = AbortSignal.timeout(15_000);
    try {
      if (job.dirty && job.report) {
        job.dirty = false;
        const r = job.report;
        const note = `${r.bytes} bytes${r.tokens ? `, ${r.tokens} tokens` : ''}${r.lastLine ? `; last: ${r.lastLine}` : ''}`;
        const clean = await this.clean(note, 'progress', task.id, signal);
        await this.opts.api.progress(
          task.id,
          token,
          agent,
          { note: clean.slice(0, 2000), ...(r.percent !== undefined ? { percent: r.percent } : {}) },
          signal,
        );
      } else await this.opts.api.renew(task.id, token, agent, signal);
    } catch (err) {
      if (LOST_CODES.has(codeOf(err))) {
        job.lost = true;
        job.ctl.abort(new ChorusError('CLAIM_LOST', `the claim was lost: ${describeError(err)}`));
      } else this.log.debug('could not renew a claim; retrying', { task: task.id, error: describeError(err) });
    } finally {
      job.sending = false;
    }
  }

  /** Provider diagnostics, through SHHH, to this agent's log (batched). */
  private logSink(task: string): { push(line: string): void; flush(): Promise<void> } {
    let lines: string[] = [];
    let timer: NodeJS.Timeout | undefined;
    let chain = Promise.resolve();
    const flush = (): Promise<void> => {
      clearTimeout(timer);
      timer = undefined;
      if (!lines.length) return chain;
      const batch = lines.join('\n');
      lines = [];
      chain = chain.then(async () => {
        try {
          const r = await this.opts.api.redact(
            batch,
            { location: 'log', agent: this.opts.profile.name, task, log: true },
            AbortSignal.timeout(15_000),
          );
          for (const line of r.text.split('\n')) this.log.info('provider', { task, line });
        } catch (err) {
          this.log.warn('provider output not logged (SHHH unavailable)', { task, error: describeError(err) });
        }
      });
      return chain;
    };
    return {
      push: (line) => {
        lines.push(line);
        timer ??= setTimeout(() => void flush(), LOG_FLUSH_MS);
      },
      flush,
    };
  }

  // ---- what the node tells about this agent ---------------------------------------------------------

  private loadTimer: NodeJS.Timeout | undefined;

  /** Tells the node how many tasks run (its availability broadcast), at most once a second. */
  private reportLoad(): void {
    if (this.loadTimer || this.halt.signal.aborted) return;
    this.loadTimer = setTimeout(() => {
      this.loadTimer = undefined;
      if (this.halt.signal.aborted) return;
      // not announced (yet): the announcement itself carries no load
      void this.opts.api.load(this.opts.profile.name, this.running.size, AbortSignal.timeout(5000)).catch(() => {});
    }, LOAD_REPORT_MS);
  }

  /** Holds the COOEE announcement open (re-opened when the node restarts) until the agent stops. */
  private async announceLoop(): Promise<void> {
    const a = {
      name: this.opts.profile.name,
      provider: this.opts.provider.name,
      model: this.opts.provider.model,
      maxConcurrent: this.opts.maxConcurrent,
    };
    while (!this.halt.signal.aborted) {
      try {
        for await (const _line of this.opts.api.announce(a, this.halt.signal)) this.reportLoad();
      } catch (err) {
        this.log.debug('announcement interrupted', { error: describeError(err) });
      }
      await delay(1000, undefined, { signal: this.halt.signal }).catch(() => {});
    }
  }

  /** Wakes the loop when a task opens (created, reopened, unblocked, given back). */
  private async watchLoop(): Promise<void> {
    while (!this.halt.signal.aborted) {
      try {
        for await (const e of this.opts.api.watch(this.halt.signal)) {
          if ('watching' in e) {
            this.poke(); // (re)connected: whatever opened meanwhile
            this.emit('watching');
          } else if (e.kind === 'transition' && e.to === 'open') this.poke();
        }
      } catch (err) {
        this.log.debug('watch interrupted', { error: describeError(err) });
      }
      await delay(1000, undefined, { signal: this.halt.signal }).catch(() => {});
    }
  }
}
