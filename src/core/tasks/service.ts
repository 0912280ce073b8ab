// The node's task service: registers the task state machine on the consensus log, turns requests from
// the API into commands that go through the leader (from any node), renews the claims this node holds,
// and — on the leader — ends claims whose lease lapsed and escalates missed deadlines. Every committed
// transition is written to this node's event log and reported to watchers; the leader also publishes it
// as the seed's messages (TaskAnnouncement, TaskClaim, TaskProgress, TaskComplete on the coordination
// and the project's topics; DependencyAlert and EscalationTrigger on the meta-discussion topic). The
// committed record is the truth; the messages are notifications.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ChorusError, describeError, UsageError } from '../errors.ts';
import { clockTimeout } from '../election/forward.ts';
import { systemClock, type Clock } from '../election/raft.ts';
import type { ElectionService } from '../election/service.ts';
import type { Logger } from '../log.ts';
import { defaultTopicFor, type MessageType } from '../pubsub/messages.ts';
import { topicFor } from '../pubsub/topics.ts';
import { vetCommand, type TaskRequest } from './commands.ts';
import { TaskMachine, type TaskEvent, type TaskResult } from './machine.ts';
import {
  isTerminal,
  matches,
  parseTaskId,
  parseTaskSpec,
  PRIORITY_RANK,
  type Actor,
  type Task,
  type TaskState,
} from './model.ts';

export interface TasksConfig {
  claimTtlMs: number;
  renewIntervalMs: number;
  maxAttempts: number;
  requestTimeoutMs: number;
  retainMs: number;
}

/** How often the leader looks for ended tasks past their retention. */
const PRUNE_EVERY_MS = 60_000;

/** Who this node is, for the commands it sends. */
export interface NodeAgent {
  name: string;
  role: string;
  expertise: string[];
  capabilities: string[];
}

/** How a notification leaves the node (the node's pubsub). */
export interface TaskPublisher {
  publish(
    type: string,
    data: Record<string, unknown>,
    opts: { topic?: string; projectId?: string; priority?: string; toRoles?: string[] },
  ): Promise<unknown>;
  /** Whether anyone listens on a topic (a project topic nobody follows is skipped). */
  hasSubscribers(topic: string): boolean;
}

export interface TaskServiceOptions {
  election: Pick<ElectionService, 'register' | 'submit' | 'raft' | 'log'>;
  self: string;
  config: () => TasksConfig;
  agent: () => NodeAgent;
  publisher?: TaskPublisher;
  record?: (kind: string, data: unknown) => void;
  logger: Logger;
  /** Timers and the wall clock (virtual in simulations). */
  clock?: Clock;
}

export interface TaskFilter {
  state?: TaskState[];
  project?: string;
  role?: string;
  owner?: string;
  /** Claimed by this node (any of its agents, or the one named). */
  mine?: boolean | string;
  /** Claimable by this node's agent profile. */
  claimable?: boolean;
}

export interface ClaimOptions {
  /** The agent name (default: this node's agent.name). */
  agent?: string;
  /** "node": this node renews the claim (CLI claims); "client": the caller does (an agent process). */
  hold?: 'node' | 'client';
  role?: string;
  expertise?: string[];
  capabilities?: string[];
}

export interface TaskServiceEvents {
  event: [TaskEvent];
}

export class TaskService extends EventEmitter<TaskServiceEvents> {
  readonly machine = new TaskMachine();
  private readonly opts: TaskServiceOptions;
  private readonly clock: Clock;
  private timer: unknown;
  private renewTimer: unknown;
  /** Leader-side expiry and deadline commands in flight (task:epoch), so each is sent once. */
  private readonly pendingLeaderOps = new Set<string>();
  private readonly stopping = new AbortController();
  private lastPrune = 0;

  constructor(opts: TaskServiceOptions) {
    super();
    this.setMaxListeners(0);
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.machine.onEvent((e) => this.onEvent(e));
    opts.election.register('tasks', this.machine, {
      forward: true,
      vet: (data, from) => {
        const v = vetCommand(data, from);
        if (!v.ok) throw new UsageError(v.message);
        // the leader's clock stamps every command: leases never depend on the submitter's clock
        return { ...v.command, at: Math.round(this.clock.now()) };
      },
    });
  }

  start(): void {
    const c = this.opts.config();
    if (c.renewIntervalMs * 2 > c.claimTtlMs)
      throw new UsageError('tasks.renewIntervalMs must be at most half of tasks.claimTtlMs');
    const tick = Math.max(100, Math.min(1000, Math.floor(c.claimTtlMs / 10)));
    const duty = (): void => {
      if (this.stopping.signal.aborted) return;
      this.leaderDuties();
      this.timer = this.clock.setTimeout(duty, tick);
    };
    this.timer = this.clock.setTimeout(duty, tick);
    this.scheduleRenewals();
  }

  stop(): void {
    this.stopping.abort();
    this.clock.clearTimeout(this.timer);
    this.clock.clearTimeout(this.renewTimer);
  }

  // ---- reads (this node's applied state) ----------------------------------------------------------

  get(id: string): Task {
    const task = this.machine.get(parseTaskId(id));
    if (!task) throw new ChorusError('NO_TASK', `no task ${id}`);
    return task;
  }

  list(filter: TaskFilter = {}): Task[] {
    const agent = this.opts.agent();
    const me: Actor = { agent: agent.name, node: this.opts.self, ...agent };
    return this.machine
      .all()
      .filter((t) => {
        if (filter.state?.length && !filter.state.includes(t.state)) return false;
        if (filter.project && t.project !== filter.project) return false;
        if (filter.role && t.role !== filter.role) return false;
        const live = t.state === 'claimed' || t.state === 'in_progress';
        if (filter.owner && !(live && t.claim?.owner.agent === filter.owner)) return false;
        if (filter.mine) {
          const owner = t.claim?.owner;
          if (!live || owner?.node !== this.opts.self) return false;
          if (typeof filter.mine === 'string' && owner.agent !== filter.mine) return false;
        }
        if (filter.claimable && !this.claimableBy(t, me)) return false;
        return true;
      })
      .sort((a, b) => a.seq - b.seq);
  }

  /** Open, unblocked, unassigned (or assigned to this agent) and matching the agent's profile. */
  claimableBy(t: Task, actor: Actor): boolean {
    return t.state === 'open' && (!t.assignee || t.assignee === actor.agent) && matches(t, actor) === undefined;
  }

  /** Claimable tasks for an agent, best first: highest priority, then oldest. */
  nextFor(actor: Actor): Task[] {
    return this.machine
      .all()
      .filter((t) => this.claimableBy(t, actor))
      .sort((a, b) => PRIORITY_RANK[b.priority] - PRIORITY_RANK[a.priority] || a.seq - b.seq);
  }

  /** Waits until this node applied the log up to `index` (read-your-writes on any node). */
  async caughtUp(index: number, signal: AbortSignal): Promise<void> {
    await this.opts.election.log.waitApplied(index, signal);
  }

  /** The agent name this node acts under by default. */
  agentName(): string {
    return this.opts.agent().name;
  }

  // ---- writes (through the leader) ------------------------------------------------------------------

  private actor(agent?: string, overrides: Partial<Actor> = {}): Actor {
    const a = this.opts.agent();
    return {
      agent: agent ?? a.name,
      node: this.opts.self,
      role: overrides.role ?? a.role,
      expertise: overrides.expertise ?? a.expertise,
      capabilities: overrides.capabilities ?? a.capabilities,
    };
  }

  /** Sends a command through the leader; a refusal becomes a typed error (exit 1), bad input exit 2. */
  private async send(req: TaskRequest, actor: Actor, signal?: AbortSignal): Promise<Extract<TaskResult, { ok: true }>> {
    const timeout = clockTimeout(this.clock, this.opts.config().requestTimeoutMs);
    const all = AbortSignal.any([timeout, this.stopping.signal, ...(signal ? [signal] : [])]);
    const command = { ...req, rid: randomUUID(), at: Math.round(this.clock.now()), actor };
    const result = (await this.opts.election.submit('tasks', command, all)) as TaskResult | undefined;
    if (!result) throw new ChorusError('NOT_COMMITTED', 'the task change was not applied');
    if (!result.ok) throw new ChorusError(result.code, result.message);
    return result;
  }

  async create(
    input: unknown,
    opts: { agent?: string; signal?: AbortSignal } = {},
  ): Promise<{ task: Task; index: number }> {
    const spec = parseTaskSpec(input);
    const r = await this.send(
      { op: 'create', spec, maxAttempts: this.opts.config().maxAttempts },
      this.actor(opts.agent),
      opts.signal,
    );
    return { task: r.task, index: r.index };
  }

  async claim(
    id: string,
    opts: ClaimOptions & { signal?: AbortSignal } = {},
  ): Promise<{ task: Task; token: string; index: number }> {
    const r = await this.send(
      { op: 'claim', task: parseTaskId(id), ttlMs: this.opts.config().claimTtlMs, hold: opts.hold ?? 'node' },
      this.actor(opts.agent, opts),
      opts.signal,
    );
    return { task: r.task, token: r.token as string, index: r.index };
  }

  /** The token of this node's live claim on a task (for verbs that do not pass one). */
  private heldToken(id: string, agent: string): string {
    const t = this.get(id);
    const c = t.claim;
    const live = t.state === 'claimed' || t.state === 'in_progress';
    if (!c || !live) throw new ChorusError('INVALID_STATE', `${id} is ${t.state}, not claimed`);
    if (c.owner.node !== this.opts.self || c.owner.agent !== agent)
      throw new ChorusError('NOT_OWNER', `not the owner of ${id} (claimed by ${c.owner.agent})`);
    return c.token;
  }

  async renew(id: string, opts: { token?: string; agent?: string; signal?: AbortSignal } = {}) {
    const actor = this.actor(opts.agent);
    const token = opts.token ?? this.heldToken(id, actor.agent);
    const r = await this.send(
      { op: 'renew', task: parseTaskId(id), token, ttlMs: this.opts.config().claimTtlMs },
      actor,
      opts.signal,
    );
    return { task: r.task, index: r.index };
  }

  async progress(
    id: string,
    opts: { token?: string; agent?: string; percent?: number; note?: string; signal?: AbortSignal },
  ) {
    const actor = this.actor(opts.agent);
    if (opts.percent !== undefined && !(opts.percent >= 0 && opts.percent <= 100))
      throw new UsageError('--percent must be between 0 and 100');
    const token = opts.token ?? this.heldToken(id, actor.agent);
    const r = await this.send(
      {
        op: 'progress',
        task: parseTaskId(id),
        token,
        ttlMs: this.opts.config().claimTtlMs,
        percent: opts.percent,
        note: opts.note,
      },
      actor,
      opts.signal,
    );
    return { task: r.task, index: r.index };
  }

  async complete(id: string, opts: { token?: string; agent?: string; result: string; signal?: AbortSignal }) {
    const actor = this.actor(opts.agent);
    const token = opts.token ?? this.heldToken(id, actor.agent);
    const r = await this.send(
      { op: 'complete', task: parseTaskId(id), token, result: opts.result },
      actor,
      opts.signal,
    );
    return { task: r.task, index: r.index };
  }

  async fail(
    id: string,
    opts: { token?: string; agent?: string; reason: string; requeue?: boolean; signal?: AbortSignal },
  ) {
    const actor = this.actor(opts.agent);
    if (!opts.reason?.trim()) throw new UsageError('a failure needs a reason (--reason)');
    const token = opts.token ?? this.heldToken(id, actor.agent);
    const r = await this.send(
      { op: 'fail', task: parseTaskId(id), token, reason: opts.reason, requeue: opts.requeue ?? false },
      actor,
      opts.signal,
    );
    return { task: r.task, index: r.index };
  }

  async cancel(id: string, opts: { agent?: string; reason?: string; signal?: AbortSignal } = {}) {
    const r = await this.send(
      { op: 'cancel', task: parseTaskId(id), reason: opts.reason },
      this.actor(opts.agent),
      opts.signal,
    );
    return { task: r.task, index: r.index };
  }

  async reopen(id: string, opts: { agent?: string; signal?: AbortSignal } = {}) {
    const r = await this.send({ op: 'reopen', task: parseTaskId(id) }, this.actor(opts.agent), opts.signal);
    return { task: r.task, index: r.index };
  }

  async reassign(id: string, to: string, opts: { agent?: string; signal?: AbortSignal } = {}) {
    if (!/^[a-zA-Z0-9_.@-]{1,64}$/.test(to)) throw new UsageError(`not an agent name: ${to}`);
    const r = await this.send({ op: 'reassign', task: parseTaskId(id), to }, this.actor(opts.agent), opts.signal);
    return { task: r.task, index: r.index };
  }

  // ---- duties ---------------------------------------------------------------------------------------

  /** Leader only: ends lapsed claims and escalates missed deadlines (each once; the machine re-checks). */
  private leaderDuties(): void {
    const { raft, log } = this.opts.election;
    if (raft.state !== 'leader' || !log.leading) return;
    const now = this.clock.now();
    for (const t of this.machine.active()) {
      const live = t.state === 'claimed' || t.state === 'in_progress';
      if (live && t.claim && now >= t.claim.expiresAt)
        this.leaderOp(`${t.id}:e${t.claim.epoch}`, { op: 'expire', task: t.id, epoch: t.claim.epoch });
      if (t.deadline && t.state !== 'escalated' && now > Date.parse(t.deadline))
        this.leaderOp(`${t.id}:d`, { op: 'deadline', task: t.id });
    }
    // ended tasks are kept for tasks.retainMs, then forgotten (their results stay in the DHT)
    const retainMs = this.opts.config().retainMs;
    if (now - this.lastPrune >= Math.min(PRUNE_EVERY_MS, retainMs)) {
      this.lastPrune = now;
      const before = now - retainMs;
      if (this.machine.all().some((t) => isTerminal(t.state) && Date.parse(t.updatedAt) < before))
        this.leaderOp('prune', { op: 'prune', before: Math.round(before) });
    }
  }

  private leaderOp(key: string, req: TaskRequest): void {
    if (this.pendingLeaderOps.has(key)) return;
    this.pendingLeaderOps.add(key);
    this.send(req, { agent: 'leader', node: this.opts.self })
      .catch((err) => this.opts.logger.debug('leader task duty not applied', { key, error: describeError(err) }))
      .finally(() => this.pendingLeaderOps.delete(key));
  }

  /** Renews the live claims this node holds for its CLI users ("node" holds), every renewIntervalMs. */
  private scheduleRenewals(): void {
    if (this.renewTimer || this.stopping.signal.aborted) return;
    this.renewTimer = this.clock.setTimeout(() => {
      void this.renewHeld().finally(() => {
        this.renewTimer = undefined;
        this.scheduleRenewals(); // also picks up claims this node holds from before a restart
      });
    }, this.opts.config().renewIntervalMs);
  }

  private held(): Task[] {
    return this.machine
      .all()
      .filter(
        (t) =>
          (t.state === 'claimed' || t.state === 'in_progress') &&
          t.claim?.hold === 'node' &&
          t.claim.owner.node === this.opts.self,
      );
  }

  private async renewHeld(): Promise<void> {
    await Promise.all(
      this.held().map(async (t) => {
        const c = t.claim;
        if (!c) return;
        try {
          await this.send(
            { op: 'renew', task: t.id, token: c.token, ttlMs: this.opts.config().claimTtlMs },
            this.actor(c.owner.agent),
          );
        } catch (err) {
          this.opts.logger.warn('could not renew a claim', { task: t.id, error: describeError(err) });
        }
      }),
    );
  }

  // ---- notifications --------------------------------------------------------------------------------

  private onEvent(e: TaskEvent): void {
    const t = e.task;
    if (e.kind === 'transition')
      this.opts.record?.('task', {
        id: t.id,
        from: e.from ?? null,
        to: e.to,
        actor: e.actor,
        note: e.note,
        term: e.term,
        index: e.index,
        title: t.title,
        project: t.project,
        owner: t.claim?.owner.agent,
      });
    else if (e.kind === 'alert') this.opts.record?.('task', { id: t.id, alert: e.alert, term: e.term, index: e.index });
    this.emit('event', e);
    const { raft } = this.opts.election;
    if (raft.state === 'leader' && raft.term === e.term) void this.publish(e);
  }

  private async publish(e: TaskEvent): Promise<void> {
    const pub = this.opts.publisher;
    if (!pub) return;
    const t = e.task;
    const message = notificationFor(e);
    if (!message) return;
    const main = defaultTopicFor(message.type as MessageType);
    const topics = (message.meta ? [main] : [main, topicFor.project(t.project)]).filter((topic) =>
      pub.hasSubscribers(topic),
    );
    await Promise.all(
      topics.map((topic) =>
        pub.publish(message.type, message.data, { topic, projectId: t.project, priority: t.priority }).catch((err) =>
          this.opts.logger.debug('task notification not published', {
            task: t.id,
            type: message.type,
            error: describeError(err),
          }),
        ),
      ),
    );
  }
}

/** The seed's message for a committed change (the committed record stays the truth). */
export function notificationFor(
  e: TaskEvent,
): { type: string; data: Record<string, unknown>; meta?: boolean } | undefined {
  const t = e.task;
  const base = { task_id: t.id, title: t.title, project: t.project, state: t.state, term: e.term, index: e.index };
  if (e.kind === 'alert')
    return {
      type: 'DependencyAlert',
      data: { ...base, rule: e.alert.rule, other_task: e.alert.task, detail: e.alert.detail },
      meta: true,
    };
  if (e.kind === 'progress')
    return {
      type: 'TaskProgress',
      data: { ...base, agent: t.claim?.owner.agent, percent: t.progress?.percent, note: t.progress?.note },
    };
  switch (e.to) {
    case 'open':
    case 'blocked':
      return {
        type: 'TaskAnnouncement',
        data: {
          ...base,
          priority: t.priority,
          role: t.role,
          expertise: t.expertise,
          capabilities: t.capabilities,
          attempt: t.attempt,
          note: e.note,
          blocked_by: t.blockedBy.map((b) => b.task),
        },
      };
    case 'claimed':
      return {
        type: 'TaskClaim',
        data: { ...base, agent: t.claim?.owner.agent, node: t.claim?.owner.node, attempt: t.attempt },
      };
    case 'in_progress':
      return {
        type: 'TaskProgress',
        data: { ...base, agent: t.claim?.owner.agent, percent: t.progress?.percent, note: t.progress?.note },
      };
    case 'completed':
      return {
        type: 'TaskComplete',
        data: { ...base, agent: t.claim?.owner.agent, result: t.result, status: 'completed' },
      };
    case 'cancelled':
      return { type: 'TaskComplete', data: { ...base, status: 'cancelled', note: e.note } };
    case 'escalated':
      return {
        type: 'EscalationTrigger',
        data: { ...base, reason: t.escalation?.reason, failures: t.failures },
        meta: true,
      };
    default:
      return undefined;
  }
}
