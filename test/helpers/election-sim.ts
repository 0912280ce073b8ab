// A simulated election cluster: Raft state machines over an in-memory network that can be partitioned,
// with nodes that can be killed (crash, no hand-over) and restarted from their persisted state, on a
// virtual clock (seconds of protocol time run in milliseconds, deterministically from a seed). An
// invariant checker records every leader and every leader-only record created and accepted.
import { createHash } from 'node:crypto';
import {
  comparePositions,
  majorityOf,
  Raft,
  type Clock,
  type ElectionRequest,
  type ElectionResponse,
  type ElectionTiming,
  type ElectionTransport,
} from '../../src/core/election/raft.ts';
import { RecordGate, signRecord, type SignedRecord } from '../../src/core/election/records.ts';
import { MemoryElectionStorage } from '../../src/core/election/state.ts';

/** mulberry32: a small seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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

const fakeSig = (author: string, data: Uint8Array): Buffer => createHash('sha256').update(author).update(data).digest();

export const SIM_TIMING: Partial<ElectionTiming> = {
  heartbeatMs: 50,
  electionMinMs: 300,
  electionMaxMs: 600,
  stabilityMs: 2000,
};

interface SimNode {
  id: string;
  storage: MemoryElectionStorage;
  raft?: Raft;
  gate?: RecordGate;
  seq: number;
  /** Newest leader-only record held (survives restarts, like the ledger file). */
  last: [number, number];
}

export interface Violation {
  at: number;
  what: string;
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
  recordsCreated = 0;
  recordsAccepted = 0;
  recordsRejected = 0;
  /** Newest record accepted by a majority so far. */
  committed: [number, number] = [0, 0];
  private readonly acceptedBy = new Map<string, Set<string>>();
  elections = 0;
  private readonly timing: Partial<ElectionTiming>;
  private scores: Map<string, number>;

  constructor(n: number, seed: number, timing: Partial<ElectionTiming> = SIM_TIMING) {
    this.rnd = prng(seed);
    this.clock = new VirtualClock(this.rnd);
    this.timing = timing;
    this.ids = Array.from({ length: n }, (_, i) => `n${i}`);
    this.scores = new Map(this.ids.map((id) => [id, 0.5]));
    for (const id of this.ids) this.nodes.set(id, { id, storage: new MemoryElectionStorage(), seq: 0, last: [0, 0] });
    for (const id of this.ids) this.group.set(id, 0);
  }

  raft(id: string): Raft | undefined {
    return this.nodes.get(id)?.raft;
  }

  setScore(id: string, score: number): void {
    this.scores.set(id, score);
  }

  alive(): string[] {
    return this.ids.filter((id) => this.nodes.get(id)?.raft);
  }

  private reachable(from: string, to: string): boolean {
    return Boolean(this.nodes.get(to)?.raft) && this.group.get(from) === this.group.get(to);
  }

  private transportFor(from: string): ElectionTransport {
    return {
      send: (to, req, timeoutMs) =>
        new Promise<ElectionResponse>((resolve, reject) => {
          const fail = (): void => void this.clock.setTimeout(() => reject(new Error('unreachable')), timeoutMs);
          if (!this.reachable(from, to)) return fail();
          this.clock.setTimeout(
            () => {
              const target = this.nodes.get(to)?.raft;
              if (!target || !this.reachable(from, to)) return fail();
              target.handle(from, structuredClone(req) as ElectionRequest).then(
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
        }),
    };
  }

  start(id: string): Raft {
    const node = this.nodes.get(id) as SimNode;
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
      lastRecord: () => node.last,
    });
    if (!raft.voters) raft.setVoters(this.ids, 'config');
    raft.on('state', (role) => {
      if (role !== 'leader') return;
      const term = raft.term;
      const known = this.leaderOfTerm.get(term);
      if (known !== undefined && known !== id) this.violation(`two leaders in term ${term}: ${known} and ${id}`);
      this.leaderOfTerm.set(term, id);
      if (comparePositions(node.last, this.committed) < 0)
        this.violation(`${id} leads term ${term} without the committed record ${this.committed.join('/')}`);
      this.maxElectedTerm = Math.max(this.maxElectedTerm, term);
      this.elections++;
    });
    node.raft = raft;
    node.gate = new RecordGate(raft, (author, data, sig) => fakeSig(author, data).equals(Buffer.from(sig)));
    raft.start();
    return raft;
  }

  startAll(): void {
    for (const id of this.ids) this.start(id);
  }

  /** A crash: timers stop, no hand-over; persisted state survives. */
  kill(id: string): void {
    const node = this.nodes.get(id) as SimNode;
    node.raft?.halt();
    node.raft?.removeAllListeners();
    node.raft = undefined;
    node.gate = undefined;
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

  /** Every node that may write issues one leader-only record, delivered to every live node after a random delay. */
  issueRecords(): void {
    for (const id of this.alive()) {
      const node = this.nodes.get(id) as SimNode;
      const raft = node.raft as Raft;
      if (!raft.canWrite()) continue;
      if (raft.term !== this.maxElectedTerm)
        this.violation(`${id} may write in term ${raft.term} while term ${this.maxElectedTerm} has a leader`);
      const signer = { author: id, sign: (d: Uint8Array) => fakeSig(id, d), verify: () => true };
      const rec = signRecord(signer, {
        kind: 'slurp-context',
        term: raft.term,
        leader: id,
        seq: ++node.seq,
        issuedAt: String(this.clock.now()),
        payload: { n: node.seq },
      });
      this.recordsCreated++;
      node.last = [raft.term, node.seq];
      this.acceptedBy.set(`${raft.term}/${node.seq}`, new Set([id]));
      for (const to of this.alive()) this.clock.setTimeout(() => this.deliver(to, rec, 0), this.rnd() * 1500);
    }
  }

  private deliver(to: string, rec: SignedRecord, attempt: number): void {
    const node = this.nodes.get(to);
    if (!node?.raft || !node.gate) return;
    const before = node.raft.highestKnownLeaderTerm;
    const verdict = node.gate.check(rec);
    if (verdict.ok) {
      this.recordsAccepted++;
      const f = verdict.record;
      if (f.term < before) this.violation(`${to} accepted a record of term ${f.term} after seeing term ${before}`);
      if (this.leaderOfTerm.get(f.term) !== f.leader)
        this.violation(`${to} accepted a record by ${f.leader}, not the leader of term ${f.term}`);
      if (comparePositions([f.term, f.seq], node.last) > 0) node.last = [f.term, f.seq];
      const by = this.acceptedBy.get(`${f.term}/${f.seq}`);
      by?.add(to);
      if (by && by.size >= majorityOf(this.ids.length) && comparePositions([f.term, f.seq], this.committed) > 0)
        this.committed = [f.term, f.seq];
    } else if (verdict.reason === 'unknown-leader' && attempt < 5) {
      this.clock.setTimeout(() => this.deliver(to, rec, attempt + 1), 200);
    } else this.recordsRejected++;
  }

  /** A forged record: right term, signed by a node that is not that term's leader. */
  forgeRecord(by: string): SignedRecord {
    const term = this.maxElectedTerm;
    const signer = { author: by, sign: (d: Uint8Array) => fakeSig(by, d), verify: () => true };
    return signRecord(signer, {
      kind: 'shhh-policy',
      term,
      leader: by,
      seq: 1,
      issuedAt: String(this.clock.now()),
      payload: {},
    });
  }

  gate(id: string): RecordGate | undefined {
    return this.nodes.get(id)?.gate;
  }
}
