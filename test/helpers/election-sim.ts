// A simulated election cluster: Raft state machines with their consensus logs over an in-memory network
// that can be partitioned, with nodes that can be killed (crash, no hand-over) and restarted from their
// persisted state (votes, log, snapshots), on a virtual clock (seconds of protocol time run in
// milliseconds, deterministically from a seed). An invariant checker records every leader and every
// applied log entry: one leader per term, the same entry at the same index on every node (State Machine
// Safety), and every acknowledged entry in the log of every later leader (Leader Completeness).
import { ConsensusLog, type LogEntry, type StateMachine } from '../../src/core/election/consensus-log.ts';
import { Forwarder } from '../../src/core/election/forward.ts';
import { MemoryLogStorage } from '../../src/core/election/log-store.ts';
import {
  Raft,
  type Clock,
  type ElectionRequest,
  type ElectionResponse,
  type ElectionTiming,
  type ElectionTransport,
} from '../../src/core/election/raft.ts';
import { MemoryElectionStorage } from '../../src/core/election/state.ts';
import { prng } from '../../src/bench/stats.ts';

export class VirtualClock implements Clock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  readonly random: () => number;

  constructor(random: () => number) {
    this.random = random;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    if (typeof handle === 'number') this.timers.delete(handle);
  }

  /** Runs every timer due within `ms`, in order, letting promise chains settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      let nextId = -1;
      let next: { at: number; fn: () => void } | undefined;
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && (!next || timer.at < next.at || (timer.at === next.at && id < nextId))) {
          next = timer;
          nextId = id;
        }
      }
      if (!next) break;
      this.timers.delete(nextId);
      this.t = next.at;
      next.fn();
      await new Promise((r) => setImmediate(r));
    }
    this.t = end;
  }
}

export const SIM_TIMING: Partial<ElectionTiming> = {
  heartbeatMs: 50,
  electionMinMs: 300,
  electionMaxMs: 600,
  stabilityMs: 2000,
};

/** The default machine of a simulated node: a list of the values applied, in order. */
export class ListMachine implements StateMachine {
  values: unknown[] = [];
  apply(entry: LogEntry): unknown {
    this.values.push(entry.data);
    return this.values.length;
  }
  snapshot(): unknown {
    return [...this.values];
  }
  restore(state: unknown): void {
    this.values = Array.isArray(state) ? [...state] : [];
  }
}

export type MachineFactory = (id: string) => Record<string, StateMachine>;

interface SimNode {
  id: string;
  storage: MemoryElectionStorage;
  logStorage: MemoryLogStorage;
  raft?: Raft;
  log?: ConsensusLog;
  forwarder?: Forwarder;
  machines?: Record<string, StateMachine>;
}

/** What a feature running on a simulated node gets (the task service uses it as its election). */
export interface SimNodeParts {
  id: string;
  raft: Raft;
  log: ConsensusLog;
  forwarder: Forwarder;
}

export interface Violation {
  at: number;
  what: string;
}

export interface SimOptions {
  timing?: Partial<ElectionTiming>;
  machines?: MachineFactory;
  /** Runs when a node starts (before its log is restored): features register their machines here. */
  onStart?: (parts: SimNodeParts) => void;
  /** Runs when a node is killed: features stop their timers. */
  onKill?: (id: string) => void;
  /** Snapshot after this many applied entries (small, so snapshots and their transfer are exercised). */
  snapshotEvery?: number;
}

export class SimCluster {
  readonly clock: VirtualClock;
  readonly rnd: () => number;
  readonly ids: string[];
  private readonly nodes = new Map<string, SimNode>();
  private group = new Map<string, number>();
  readonly leaderOfTerm = new Map<number, string>();
  maxElectedTerm = 0;
  readonly violations: Violation[] = [];
  /** index → the entry first applied there (every other node must apply the same). */
  private readonly appliedAt = new Map<number, { term: number; data: string }>();
  /** Entries whose proposal resolved (committed), as [index, term]. */
  readonly acknowledged: [number, number][] = [];
  proposed = 0;
  applied = 0;
  elections = 0;
  private readonly timing: Partial<ElectionTiming>;
  private readonly machineFactory: MachineFactory;
  private readonly snapshotEvery: number;
  private readonly onStart: SimOptions['onStart'];
  private readonly onKill: SimOptions['onKill'];
  private scores: Map<string, number>;

  constructor(n: number, seed: number, opts: SimOptions | Partial<ElectionTiming> = {}) {
    const o: SimOptions =
      'heartbeatMs' in opts || 'stabilityMs' in opts
        ? { timing: opts as Partial<ElectionTiming> }
        : (opts as SimOptions);
    this.rnd = prng(seed);
    this.clock = new VirtualClock(this.rnd);
    this.timing = o.timing ?? SIM_TIMING;
    this.machineFactory = o.machines ?? (() => ({ list: new ListMachine() }));
    this.snapshotEvery = o.snapshotEvery ?? 25;
    this.onStart = o.onStart;
    this.onKill = o.onKill;
    this.ids = Array.from({ length: n }, (_, i) => `n${i}`);
    this.scores = new Map(this.ids.map((id) => [id, 0.5]));
    for (const id of this.ids)
      this.nodes.set(id, { id, storage: new MemoryElectionStorage(), logStorage: new MemoryLogStorage() });
    for (const id of this.ids) this.group.set(id, 0);
  }

  raft(id: string): Raft | undefined {
    return this.nodes.get(id)?.raft;
  }

  log(id: string): ConsensusLog | undefined {
    return this.nodes.get(id)?.log;
  }

  machines(id: string): Record<string, StateMachine> | undefined {
    return this.nodes.get(id)?.machines;
  }

  setScore(id: string, score: number): void {
    this.scores.set(id, score);
  }

  alive(): string[] {
    return this.ids.filter((id) => this.nodes.get(id)?.raft);
  }

  reachable(from: string, to: string): boolean {
    return Boolean(this.nodes.get(to)?.raft) && this.group.get(from) === this.group.get(to);
  }

  /** Delivers a request to `to` after a random delay and its answer back after another; rejects when cut. */
  deliver<Res>(from: string, to: string, timeoutMs: number, handle: (target: SimNode) => Promise<Res>): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const fail = (): void => void this.clock.setTimeout(() => reject(new Error('unreachable')), timeoutMs);
      if (!this.reachable(from, to)) return fail();
      this.clock.setTimeout(
        () => {
          const target = this.nodes.get(to);
          if (!target?.raft || !this.reachable(from, to)) return fail();
          handle(target).then(
            (res) =>
              void this.clock.setTimeout(
                () => (this.reachable(to, from) ? resolve(structuredClone(res)) : fail()),
                1 + this.rnd() * 10,
              ),
            () => fail(),
          );
        },
        1 + this.rnd() * 10,
      );
    });
  }

  private transportFor(from: string): ElectionTransport {
    return {
      send: (to, req, timeoutMs) =>
        this.deliver<ElectionResponse>(from, to, timeoutMs, (target) => {
          const copy = structuredClone(req) as ElectionRequest;
          if (copy.type === 'propose') return (target.forwarder as Forwarder).serve(from, copy.kind, copy.data);
          return (target.raft as Raft).handle(from, copy);
        }),
    };
  }

  start(id: string): Raft {
    const node = this.nodes.get(id) as SimNode;
    const log = new ConsensusLog({ storage: node.logStorage, snapshotEvery: this.snapshotEvery, keepAfterSnapshot: 5 });
    const machines = this.machineFactory(id);
    for (const [kind, m] of Object.entries(machines)) log.register(kind, m);
    log.on('applied', (e) => this.checkApplied(id, e));
    const raft = new Raft({
      id,
      transport: this.transportFor(id),
      storage: node.storage,
      clock: this.clock,
      timing: this.timing,
      score: () => {
        const total = this.scores.get(id) ?? 0;
        return { uptime: total, capabilities: total, resources: total, network: total, experience: total, total };
      },
      log,
    });
    const forwarder = new Forwarder({
      self: id,
      raft,
      log,
      transport: this.transportFor(id),
      clock: this.clock,
      timeoutMs: 2000,
    });
    node.forwarder = forwarder;
    this.onStart?.({ id, raft, log, forwarder });
    log.start();
    if (!raft.voters) raft.setVoters(this.ids, 'config');
    raft.on('state', (role) => {
      if (role !== 'leader') return;
      const term = raft.term;
      const known = this.leaderOfTerm.get(term);
      if (known !== undefined && known !== id) this.violation(`two leaders in term ${term}: ${known} and ${id}`);
      this.leaderOfTerm.set(term, id);
      for (const [index, t] of this.acknowledged) {
        const snap = node.logStorage.snapshot();
        const held = snap && index <= snap.index ? t : node.logStorage.termAt(index);
        if (held !== t) this.violation(`${id} leads term ${term} without the acknowledged entry ${index}/${t}`);
      }
      this.maxElectedTerm = Math.max(this.maxElectedTerm, term);
      this.elections++;
    });
    node.raft = raft;
    node.log = log;
    node.machines = machines;
    raft.start();
    return raft;
  }

  private checkApplied(id: string, e: LogEntry): void {
    this.applied++;
    const data = JSON.stringify([e.kind, e.data]);
    const first = this.appliedAt.get(e.index);
    if (!first) this.appliedAt.set(e.index, { term: e.term, data });
    else if (first.term !== e.term || first.data !== data)
      this.violation(
        `${id} applied ${e.kind} ${data} at ${e.index}/${e.term}; another node applied ${first.data}/${first.term}`,
      );
  }

  startAll(): void {
    for (const id of this.ids) this.start(id);
  }

  /** A crash: timers stop, no hand-over; persisted state (votes, log, snapshot) survives. */
  kill(id: string): void {
    const node = this.nodes.get(id) as SimNode;
    if (node.raft) this.onKill?.(id);
    node.raft?.halt();
    node.raft?.removeAllListeners();
    node.log?.removeAllListeners();
    node.raft = undefined;
    node.log = undefined;
    node.forwarder = undefined;
    node.machines = undefined;
  }

  /** Splits the nodes into groups (an array of groups of ids); nodes not named form their own group. */
  partition(groups: string[][]): void {
    this.group = new Map(this.ids.map((id, i) => [id, 1000 + i]));
    groups.forEach((g, i) => g.forEach((id) => this.group.set(id, i)));
  }

  heal(): void {
    this.group = new Map(this.ids.map((id) => [id, 0]));
  }

  leaders(): string[] {
    return this.alive().filter((id) => this.raft(id)?.state === 'leader');
  }

  violation(what: string): void {
    this.violations.push({ at: this.clock.now(), what });
  }

  /** Every node that leads proposes one entry; acknowledged entries are remembered for the checker. */
  proposeOnLeaders(kind = 'list'): void {
    for (const id of this.alive()) {
      const node = this.nodes.get(id) as SimNode;
      const log = node.log as ConsensusLog;
      if (!log.leading) continue;
      const value = { by: id, n: ++this.proposed };
      const term = node.raft?.term as number;
      const index = log.position()[1] + 1;
      log
        .propose(kind, value, undefined)
        .then(() => this.acknowledged.push([index, term]))
        .catch(() => {});
    }
  }
}
