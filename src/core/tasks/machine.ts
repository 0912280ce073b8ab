// The task state machine of the consensus log: every node applies the same committed commands in the
// same order, at the time the proposer stamped on each (never the local clock), so every node holds
// the same task board. Exactly one owner: a claim succeeds only on an open, unblocked task; the owner's
// later commands must carry the claim's fencing token (term.epoch) and come from the owner, so a
// paused-then-resumed old owner is refused once its claim lapsed. Retried commands (same request id)
// are answered from memory, never applied twice. The machine reports every transition and dependency
// alert to its listener (the task service turns them into messages and event-log entries).
import type { LogEntry, StateMachine } from '../election/consensus-log.ts';
import type { TaskCommand } from './commands.ts';
import {
  describeOwner,
  isTerminal,
  matches,
  TASK_LIMITS,
  type Actor,
  type Task,
  type TaskAlert,
  type TaskState,
} from './model.ts';
import { blockersOf, cycleThrough, sameReference, type TaskTable } from './rules.ts';

/** Why a command was refused; the code is stable (the CLI maps it to an exit code). */
export type RefusalCode =
  | 'NO_TASK'
  | 'ALREADY_CLAIMED'
  | 'BLOCKED'
  | 'INVALID_STATE'
  | 'NOT_ELIGIBLE'
  | 'NOT_OWNER'
  | 'CLAIM_EXPIRED'
  | 'CYCLE'
  | 'FORBIDDEN'
  | 'STALE';

export type TaskResult =
  | { ok: true; task: Task; token?: string; index: number }
  | { ok: false; code: RefusalCode; message: string; index: number };
/** What a prune command answers: how many ended tasks were forgotten. */
export interface PruneResult {
  ok: true;
  pruned: number;
  index: number;
}

export type TaskEvent =
  | {
      kind: 'transition';
      task: Task;
      from: TaskState | undefined;
      to: TaskState;
      actor: string;
      note?: string;
      term: number;
      index: number;
    }
  | { kind: 'progress'; task: Task; actor: string; term: number; index: number }
  | { kind: 'alert'; task: Task; alert: TaskAlert; term: number; index: number };

/** Request ids remembered for answering retries. */
const MAX_REMEMBERED = 10_000;

interface Remembered {
  ok: boolean;
  code?: RefusalCode;
  message?: string;
  task?: string;
  token?: string;
  index: number;
}

const actorName = (a: { agent: string; node: string }): string => `${a.agent}@${a.node.slice(-6)}`;
const iso = (ms: number): string => new Date(ms).toISOString();

export class TaskMachine implements StateMachine, TaskTable {
  private tasks = new Map<string, Task>();
  /**
   * The tasks not ended (completed, cancelled), in creation order like `tasks`: the rules look at these on
   * every create and end, so their cost follows the open work, not every task kept for tasks.retainMs. An
   * ended task never opens again, so a task enters once (create) and leaves once (its end).
   */
  private unended = new Map<string, Task>();
  private next = 1;
  /** The latest command time applied (ms). */
  private clock = 0;
  private remembered = new Map<string, Remembered>();
  private listener: ((e: TaskEvent) => void) | undefined;
  /** The entry being applied (for events). */
  private current = { term: 0, index: 0 };

  /** Receives every transition, progress report and alert as it is applied. */
  onEvent(fn: (e: TaskEvent) => void): void {
    this.listener = fn;
  }

  // ---- the table --------------------------------------------------------------------------------

  get(id: string): Task | undefined {
    return this.tasks.get(id);
  }

  active(): Iterable<Task> {
    return this.unended.values();
  }

  all(): Task[] {
    return [...this.tasks.values()];
  }

  get size(): number {
    return this.tasks.size;
  }

  // ---- the state machine ------------------------------------------------------------------------

  snapshot(): unknown {
    return { tasks: [...this.tasks.values()], next: this.next, clock: this.clock, remembered: [...this.remembered] };
  }

  restore(state: unknown): void {
    const s = state as
      { tasks?: Task[]; next?: number; clock?: number; remembered?: [string, Remembered][] } | undefined;
    this.tasks = new Map((s?.tasks ?? []).map((t) => [t.id, t]));
    this.unended = new Map([...this.tasks].filter(([, t]) => !isTerminal(t.state)));
    this.next = s?.next ?? 1;
    this.clock = s?.clock ?? 0;
    this.remembered = new Map(s?.remembered ?? []);
  }

  /** A new leader's first entry: live claims get a full lease from its time (clocks and elections vary). */
  onLeader(entry: LogEntry): void {
    const stamped = (entry.data as { at?: unknown } | null)?.at;
    if (typeof stamped !== 'number') return;
    const at = Math.max(stamped, this.clock);
    this.clock = at;
    for (const t of this.tasks.values()) {
      if (t.claim && (t.state === 'claimed' || t.state === 'in_progress'))
        t.claim.expiresAt = Math.max(t.claim.expiresAt, at + t.claim.ttlMs);
    }
  }

  apply(entry: LogEntry): TaskResult | PruneResult {
    this.current = { term: entry.term, index: entry.index };
    const cmd = entry.data as TaskCommand;
    const seen = typeof cmd?.rid === 'string' ? this.remembered.get(cmd.rid) : undefined;
    if (seen) return this.replay(seen);
    let result: TaskResult | PruneResult;
    try {
      result = this.run(cmd, entry);
    } catch (err) {
      // a command that slipped past the leader's check: refused here, identically on every node
      result = this.refuse('STALE', `malformed command: ${(err as Error).message}`);
    }
    if (typeof cmd?.rid === 'string') this.remember(cmd.rid, result);
    return result;
  }

  private replay(r: Remembered): TaskResult {
    if (!r.ok) return { ok: false, code: r.code ?? 'STALE', message: r.message ?? 'refused', index: r.index };
    const task = this.tasks.get(r.task ?? '');
    if (!task) return { ok: false, code: 'NO_TASK', message: `no task ${r.task}`, index: r.index };
    return { ok: true, task, token: r.token, index: r.index };
  }

  private remember(rid: string, r: TaskResult | PruneResult): void {
    if ('pruned' in r) return; // a prune is never retried by a client
    this.remembered.set(
      rid,
      r.ok
        ? { ok: true, task: r.task.id, token: r.token, index: r.index }
        : { ok: false, code: r.code, message: r.message, index: r.index },
    );
    if (this.remembered.size > MAX_REMEMBERED) this.remembered.delete(this.remembered.keys().next().value as string);
  }

  private refuse(code: RefusalCode, message: string): TaskResult {
    return { ok: false, code, message, index: this.current.index };
  }

  private done(task: Task, token?: string): TaskResult {
    return { ok: true, task, token, index: this.current.index };
  }

  private run(cmd: TaskCommand, entry: LogEntry): TaskResult | PruneResult {
    // cluster time never runs backwards, whichever leader stamped the command
    cmd.at = Math.max(cmd.at, this.clock);
    this.clock = cmd.at;
    if (cmd.op === 'create') return this.create(cmd);
    if (cmd.op === 'prune') return this.prune(cmd.before);
    const task = this.tasks.get(cmd.task);
    if (!task) return this.refuse('NO_TASK', `no task ${cmd.task}`);
    this.expireIfLapsed(task, cmd.at);
    switch (cmd.op) {
      case 'claim':
        return this.claim(task, cmd, entry.term);
      case 'renew':
      case 'progress':
      case 'complete':
      case 'fail':
        return this.byOwner(task, cmd);
      case 'cancel':
        return this.cancel(task, cmd);
      case 'reopen':
        return this.reopen(task, cmd);
      case 'reassign':
        return this.reassign(task, cmd);
      case 'expire':
        return this.done(task); // expireIfLapsed did what was due
      case 'deadline':
        return this.missedDeadline(task, cmd.at);
    }
  }

  // ---- transitions ------------------------------------------------------------------------------

  private transition(task: Task, to: TaskState, at: number, actor: string, note?: string): void {
    const from = task.state;
    task.state = to;
    if (isTerminal(to)) this.unended.delete(task.id);
    task.updatedAt = iso(at);
    task.history.push({ state: to, at: iso(at), term: this.current.term, actor, ...(note ? { note } : {}) });
    if (task.history.length > TASK_LIMITS.historyEntries) {
      task.history.splice(1, 1); // keep the creation, drop the oldest after it
      task.historyDropped++;
    }
    this.emit({ kind: 'transition', task, from: task.history.length === 1 ? undefined : from, to, actor, note });
  }

  private emit(e: DistributiveOmitTI<TaskEvent, 'term' | 'index'>): void {
    this.listener?.({ ...e, term: this.current.term, index: this.current.index } as TaskEvent);
  }

  private alert(task: Task, alert: Omit<TaskAlert, 'at'>, at: number): void {
    const full: TaskAlert = { ...alert, at: iso(at) };
    task.alerts.push(full);
    if (task.alerts.length > TASK_LIMITS.historyEntries) task.alerts.shift();
    this.emit({ kind: 'alert', task, alert: full });
  }

  private create(cmd: Extract<TaskCommand, { op: 'create' }>): TaskResult {
    const spec = cmd.spec;
    for (const dep of spec.dependsOn) if (!this.tasks.has(dep)) return this.refuse('NO_TASK', `no task ${dep}`);
    const id = `t-${this.next}`;
    const seq = this.next;
    const cycle = cycleThrough(spec, id, seq, this);
    if (cycle) return this.refuse('CYCLE', `dependency cycle: ${cycle.join(' → ')}`);
    this.next++;
    const at = iso(cmd.at);
    const { force, ...fields } = spec;
    const task: Task = {
      ...fields,
      id,
      seq,
      forced: force,
      createdBy: {
        agent: cmd.actor.agent,
        node: cmd.actor.node,
        ...(cmd.actor.role ? { role: cmd.actor.role } : {}),
      },
      createdAt: at,
      updatedAt: at,
      state: 'open',
      attempt: 0,
      failures: 0,
      maxAttempts: cmd.maxAttempts,
      blockedBy: [],
      alerts: [],
      history: [],
      historyDropped: 0,
    };
    this.tasks.set(id, task);
    this.unended.set(id, task);
    const blockers = blockersOf(task, this);
    task.blockedBy = blockers;
    this.transition(task, blockers.length ? 'blocked' : 'open', cmd.at, actorName(cmd.actor));
    for (const b of blockers)
      this.alert(task, { rule: b.rule, task: b.task, detail: describeBlocker(task.id, b) }, cmd.at);
    for (const other of sameReference(task, this)) {
      const detail = `${other.id} and ${task.id} are both for ${task.ref} in ${task.project}`;
      this.alert(task, { rule: 'same_ref', task: other.id, detail }, cmd.at);
      this.alert(other, { rule: 'same_ref', task: task.id, detail }, cmd.at);
    }
    if (task.provides.length) this.reevaluate(cmd.at); // open consumers of what it provides now wait for it
    return this.done(task);
  }

  private claim(task: Task, cmd: Extract<TaskCommand, { op: 'claim' }>, term: number): TaskResult {
    const owner = task.claim?.owner;
    if (task.state === 'claimed' || task.state === 'in_progress') {
      if (owner && owner.agent === cmd.actor.agent && owner.node === cmd.actor.node)
        return this.done(task, task.claim?.token); // this agent holds it already (a retried claim)
      return this.refuse('ALREADY_CLAIMED', `already claimed by ${owner ? describeOwner(owner) : 'another agent'}`);
    }
    if (task.state === 'blocked') {
      const why = task.blockedBy.map((b) => `${b.task} (${b.rule}${b.via ? `: ${b.via}` : ''})`).join(', ');
      return this.refuse('BLOCKED', `${task.id} is blocked by ${why}`);
    }
    if (task.state !== 'open') return this.refuse('INVALID_STATE', `${task.id} is ${task.state}, not open`);
    if (task.assignee && task.assignee !== cmd.actor.agent)
      return this.refuse('NOT_ELIGIBLE', `${task.id} is assigned to ${task.assignee}`);
    const mismatch = matches(task, cmd.actor);
    if (mismatch) return this.refuse('NOT_ELIGIBLE', `${task.id} ${mismatch}`);
    task.attempt++;
    const token = `${term}.${task.attempt}`;
    task.claim = {
      owner: { agent: cmd.actor.agent, node: cmd.actor.node },
      token,
      term,
      epoch: task.attempt,
      expiresAt: cmd.at + cmd.ttlMs,
      ttlMs: cmd.ttlMs,
      hold: cmd.hold,
    };
    delete task.progress;
    this.transition(task, 'claimed', cmd.at, actorName(cmd.actor), `attempt ${task.attempt}`);
    return this.done(task, token);
  }

  /** renew, progress, complete, fail: only the current owner with the current token. */
  private byOwner(
    task: Task,
    cmd: Extract<TaskCommand, { op: 'renew' | 'progress' | 'complete' | 'fail' }>,
  ): TaskResult {
    const claim = task.claim;
    const epoch = Number(cmd.token.split('.')[1]);
    const live = task.state === 'claimed' || task.state === 'in_progress';
    const sameOwner = claim?.owner.agent === cmd.actor.agent && claim?.owner.node === cmd.actor.node;
    if (!live || !claim) {
      if (claim?.token === cmd.token && sameOwner)
        return this.refuse('INVALID_STATE', `${task.id} is ${task.state} already`);
      if (epoch > 0 && epoch <= task.attempt)
        return this.refuse('CLAIM_EXPIRED', `claim expired: ${task.id} is ${task.state}`);
      return this.refuse('INVALID_STATE', `${task.id} is ${task.state}, not claimed`);
    }
    if (claim.token !== cmd.token) {
      if (epoch < claim.epoch)
        return this.refuse(
          'CLAIM_EXPIRED',
          `claim expired: ${task.id} is claimed again by ${describeOwner(claim.owner)}`,
        );
      return this.refuse('NOT_OWNER', `not the owner of ${task.id} (claimed by ${describeOwner(claim.owner)})`);
    }
    if (!sameOwner)
      return this.refuse('NOT_OWNER', `not the owner of ${task.id} (claimed by ${describeOwner(claim.owner)})`);
    const who = actorName(cmd.actor);
    switch (cmd.op) {
      case 'renew':
        claim.expiresAt = cmd.at + cmd.ttlMs;
        return this.done(task, claim.token);
      case 'progress':
        claim.expiresAt = cmd.at + cmd.ttlMs;
        task.progress = {
          ...(cmd.percent !== undefined ? { percent: cmd.percent } : {}),
          ...(cmd.note !== undefined ? { note: cmd.note } : {}),
          at: iso(cmd.at),
        };
        if (task.state === 'claimed') this.transition(task, 'in_progress', cmd.at, who, cmd.note);
        else {
          task.updatedAt = iso(cmd.at);
          this.emit({ kind: 'progress', task, actor: who });
        }
        return this.done(task, claim.token);
      case 'complete':
        task.result = cmd.result;
        this.transition(task, 'completed', cmd.at, who, cmd.result);
        this.reevaluate(cmd.at);
        return this.done(task, claim.token);
      case 'fail':
        this.failAttempt(task, cmd.at, who, cmd.reason, !cmd.requeue);
        return this.done(task);
    }
  }

  /** An attempt ended without success: back to open, or escalated after too many failures. */
  private failAttempt(task: Task, at: number, actor: string, reason: string, counts: boolean): void {
    if (counts) task.failures++;
    task.lastFailure = reason;
    if (task.failures >= task.maxAttempts) {
      task.escalation = { reason: `failed ${task.failures} times; last: ${reason}`, at: iso(at) };
      this.transition(task, 'escalated', at, actor, task.escalation.reason);
    } else this.reopenForRules(task, at, actor, `${counts ? 'failed' : 'given back'}: ${reason}`);
  }

  /** Open again, or blocked when the rules now say so. */
  private reopenForRules(task: Task, at: number, actor: string, note: string): void {
    task.blockedBy = blockersOf(task, this);
    this.transition(task, task.blockedBy.length ? 'blocked' : 'open', at, actor, note);
  }

  /** A claim whose lease lapsed (owner killed, partitioned, hung) ends its attempt. */
  private expireIfLapsed(task: Task, at: number): void {
    const c = task.claim;
    if (!c || (task.state !== 'claimed' && task.state !== 'in_progress') || at < c.expiresAt) return;
    this.failAttempt(
      task,
      at,
      'leader',
      `claim of ${describeOwner(c.owner)} expired (not renewed for ${c.ttlMs} ms)`,
      true,
    );
  }

  private missedDeadline(task: Task, at: number): TaskResult {
    if (!task.deadline || isTerminal(task.state) || task.state === 'escalated' || at <= Date.parse(task.deadline))
      return this.done(task);
    task.escalation = { reason: `missed its deadline ${task.deadline}`, at: iso(at) };
    this.transition(task, 'escalated', at, 'leader', task.escalation.reason);
    return this.done(task);
  }

  /** Forgets ended tasks (completed, cancelled) older than `before` that no unfinished task depends on. */
  private prune(before: number): PruneResult {
    const needed = new Set<string>();
    for (const t of this.active()) for (const d of t.dependsOn) needed.add(d);
    let pruned = 0;
    for (const [id, t] of this.tasks) {
      if (isTerminal(t.state) && Date.parse(t.updatedAt) < before && !needed.has(id)) {
        this.tasks.delete(id);
        pruned++;
      }
    }
    return { ok: true, pruned, index: this.current.index };
  }

  private mayManage(task: Task, actor: Actor): boolean {
    return actor.role === 'admin' || task.createdBy.node === actor.node;
  }

  private cancel(task: Task, cmd: Extract<TaskCommand, { op: 'cancel' }>): TaskResult {
    if (!this.mayManage(task, cmd.actor))
      return this.refuse('FORBIDDEN', `only the creator’s node or an admin may cancel ${task.id}`);
    if (isTerminal(task.state)) return this.refuse('INVALID_STATE', `${task.id} is ${task.state} already`);
    this.transition(task, 'cancelled', cmd.at, actorName(cmd.actor), cmd.reason);
    for (const other of this.active()) {
      if (other.dependsOn.includes(task.id))
        this.alert(
          other,
          { rule: 'depends_on', task: task.id, detail: `${other.id} depends on ${task.id}, which was cancelled` },
          cmd.at,
        );
    }
    this.reevaluate(cmd.at);
    return this.done(task);
  }

  private reopen(task: Task, cmd: Extract<TaskCommand, { op: 'reopen' }>): TaskResult {
    if (task.state !== 'escalated')
      return this.refuse('INVALID_STATE', `${task.id} is ${task.state}; only an escalated task is reopened`);
    task.failures = 0;
    delete task.escalation;
    delete task.assignee;
    this.reopenForRules(task, cmd.at, actorName(cmd.actor), 'reopened');
    return this.done(task);
  }

  private reassign(task: Task, cmd: Extract<TaskCommand, { op: 'reassign' }>): TaskResult {
    if (isTerminal(task.state)) return this.refuse('INVALID_STATE', `${task.id} is ${task.state}`);
    task.assignee = cmd.to;
    task.failures = 0;
    delete task.escalation;
    this.reopenForRules(task, cmd.at, actorName(cmd.actor), `assigned to ${cmd.to}`);
    return this.done(task);
  }

  /** Re-checks every open or blocked task against the rules after something ended or appeared. */
  private reevaluate(at: number): void {
    for (const t of [...this.active()]) {
      if (t.state !== 'open' && t.state !== 'blocked') continue;
      const blockers = blockersOf(t, this);
      const was = t.blockedBy;
      t.blockedBy = blockers;
      if (blockers.length && t.state === 'open') {
        this.transition(t, 'blocked', at, 'rules', blockers.map((b) => describeBlocker(t.id, b)).join('; '));
        for (const b of blockers) this.alert(t, { rule: b.rule, task: b.task, detail: describeBlocker(t.id, b) }, at);
      } else if (!blockers.length && t.state === 'blocked') {
        this.transition(t, 'open', at, 'rules', `unblocked (${was.map((b) => b.task).join(', ')})`);
      }
    }
  }
}

type DistributiveOmitTI<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function describeBlocker(id: string, b: { rule: string; task: string; via?: string }): string {
  if (b.rule === 'depends_on') return `${id} depends on ${b.task}`;
  if (b.rule === 'touches') return `${id} and ${b.task} both touch ${b.via}; ${id} waits for ${b.task}`;
  return `${id} consumes ${b.via}, which ${b.task} provides; ${id} waits for it`;
}
