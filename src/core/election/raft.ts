// The election state machine: Raft (follower → pre-candidate → candidate → leader) over an injected
// transport and clock so tests can drive it fast and cut the network. Safety: a vote is persisted before
// it is answered and a node votes once per term, so a term has at most one leader; votes go only to
// candidates whose log is at least as up to date. Heartbeats carry the consensus log's entries
// (consensus-log.ts: AppendEntries, commit, snapshots). Pre-vote and leader leases keep a returning node
// from disrupting a healthy leader; a leader that cannot reach a majority within an election timeout
// steps down (quorum loss); TimeoutNow hands leadership over gracefully. Scores only shorten timeouts
// and pick hand-over targets.
// Size: one state machine whose transitions read best together (its tests drive it as a unit); the log it
// ships lives in consensus-log.ts.
import { EventEmitter } from 'node:events';
import type { AppendRequest, AppendResult, ConsensusLog, SnapshotChunk } from './consensus-log.ts';
import type { ScoreComponents } from './score.ts';
import type { ElectionStorage, PersistedElection, PersistedVoters } from './state.ts';

export type ElectionRole = 'follower' | 'candidate' | 'leader';

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Uniform in [0, 1). */
  random(): number;
}

const origin = performance.timeOrigin;
export const systemClock: Clock = {
  now: () => origin + performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  random: Math.random,
};

/** What a leader tells every member about each voter (so followers can show it too). */
export interface VoterView {
  score?: ScoreComponents;
  reachable: boolean;
  /** Whom this voter voted for in the current term, when known. */
  vote?: string | null;
}

export type ElectionRequest =
  | { type: 'prevote'; term: number; candidate: string; voters: string; last?: RecordPosition }
  | { type: 'vote'; term: number; candidate: string; voters: string; transfer?: boolean; last?: RecordPosition }
  | {
      type: 'heartbeat';
      term: number;
      leader: string;
      voters: string[];
      since: number;
      /** The leader's newest log entry [term, index]. */
      last?: RecordPosition;
      view?: Record<string, VoterView>;
      /** Log entries (AppendEntries) or, for a follower too far behind, a snapshot chunk. */
      append?: AppendRequest;
      snapshot?: SnapshotChunk;
    }
  | { type: 'timeoutnow'; term: number; leader: string }
  | { type: 'handover'; term: number }
  | { type: 'hello'; expect: number; voters: PersistedVoters | null }
  // a follower forwards a proposal to the leader (handled by the election service)
  | { type: 'propose'; kind: string; data: unknown };

/** Position of the newest log entry: [term, index]; [0, 0] when the log is empty. */
export type RecordPosition = readonly [number, number];

export const comparePositions = (a: RecordPosition | undefined, b: RecordPosition | undefined): number =>
  (a?.[0] ?? 0) - (b?.[0] ?? 0) || (a?.[1] ?? 0) - (b?.[1] ?? 0);

export interface ElectionResponse {
  term: number;
  /** The responder's newest log entry [term, index]. */
  last?: RecordPosition;
  /** The answer to the log entries or snapshot chunk a heartbeat carried. */
  log?: AppendResult;
  ok: boolean;
  reason?: string;
  score?: ScoreComponents;
  votedFor?: string | null;
  /** hello: the responder's expect and committed voter set. */
  expect?: number;
  voters?: PersistedVoters | null;
  leader?: string;
  /** propose: the state machine's result, or the error that stopped it. */
  result?: unknown;
  error?: { code: string; message: string; kind?: string };
}

export interface ElectionTransport {
  /** Rejects when the peer cannot be reached or does not answer within timeoutMs. */
  send(to: string, req: ElectionRequest, timeoutMs: number): Promise<ElectionResponse>;
}

export interface ElectionTiming {
  heartbeatMs: number;
  electionMinMs: number;
  electionMaxMs: number;
  /** Minimum leadership before a voluntary hand-over to a better-scored voter. */
  stabilityMs: number;
  /** Score difference (0–1) a voter needs over the leader for a voluntary hand-over. */
  handoverMargin: number;
}

export const DEFAULT_TIMING: ElectionTiming = {
  heartbeatMs: 250,
  electionMinMs: 1000,
  electionMaxMs: 2000,
  stabilityMs: 30_000,
  handoverMargin: 0.25,
};

export interface RaftOptions {
  id: string;
  transport: ElectionTransport;
  storage: ElectionStorage;
  clock?: Clock;
  timing?: Partial<ElectionTiming>;
  /** This node's score now. */
  score?: () => ScoreComponents | undefined;
  preVote?: boolean;
  /**
   * The consensus log. Votes go only to candidates whose newest entry is at least as new (Raft's
   * up-to-date rule), so an entry a majority holds survives any leader change.
   */
  log?: ConsensusLog;
}

export interface LeaderEvent {
  term: number;
  leader: string | undefined;
}

export interface ElectionSnapshot {
  self: string;
  role: ElectionRole;
  term: number;
  votedFor: string | null;
  leader?: string;
  /** When the current leader took office (its own clock, ms). */
  leaderSince?: number;
  lastHeartbeatAgoMs?: number;
  voters: string[] | null;
  isVoter: boolean;
  canWrite: boolean;
  view: Record<string, VoterView>;
  observers: string[];
}

export interface RaftEvents {
  state: [ElectionRole];
  leader: [LeaderEvent];
  term: [number];
  change: [];
  'quorum-lost': [number];
  /** A pre-vote round did not reach a majority (the candidate stays a follower; its term is unchanged). */
  'prevote-failed': [number];
}

export const votersKey = (voters: readonly string[]): string => [...voters].sort().join(',');
/** Names the cluster a log belongs to: its voter set and where the set came from. */
export const clusterKey = (voters: readonly string[], source: string): string => `${source}|${votersKey(voters)}`;
export const majorityOf = (n: number): number => Math.floor(n / 2) + 1;

/** Terms whose leaders are remembered (leader-only records name a term). */
const LEADER_MEMORY = 64;

export class Raft extends EventEmitter<RaftEvents> {
  readonly id: string;
  private readonly transport: ElectionTransport;
  private readonly storage: ElectionStorage;
  private readonly clock: Clock;
  readonly timing: ElectionTiming;
  private readonly scoreFn: () => ScoreComponents | undefined;
  private readonly preVote: boolean;
  readonly log: ConsensusLog | undefined;
  private readonly lastOf = new Map<string, RecordPosition>();
  private persisted: PersistedElection;
  private role: ElectionRole = 'follower';
  private leaderId: string | undefined;
  private leaderSince: number | undefined;
  private lastHeartbeatAt: number;
  private readonly leaders = new Map<number, string>();
  private highestLeaderTerm = 0;
  private electionTimer: unknown;
  private heartbeatTimer: unknown;
  private running = false;
  private epoch = 0;
  private transferUntil = 0;
  private campaigning = false;
  // leader bookkeeping: per peer, the send time of the newest heartbeat it acknowledged
  private readonly ackedSentAt = new Map<string, number>();
  private readonly inflight = new Set<string>();
  /** Peers to send to again as soon as their in-flight message is answered. */
  private readonly resend = new Set<string>();
  private replicateQueued = false;
  private readonly observers = new Set<string>();
  private view: Record<string, VoterView> = {};

  constructor(opts: RaftOptions) {
    super();
    this.id = opts.id;
    this.transport = opts.transport;
    this.storage = opts.storage;
    this.clock = opts.clock ?? systemClock;
    this.timing = { ...DEFAULT_TIMING, ...opts.timing };
    this.scoreFn = opts.score ?? (() => undefined);
    this.preVote = opts.preVote ?? true;
    this.setMaxListeners(0); // proposals waiting for a leader listen here, as many as are in flight
    this.log = opts.log;
    this.persisted = this.storage.load();
    this.lastHeartbeatAt = this.clock.now();
    this.log?.on('replicate', () => this.queueReplicate());
    this.log?.on('durable', () => {
      if (this.running && this.role === 'leader') this.log?.advanceCommit(this.voters ?? [], this.id);
    });
  }

  /** [term, index] of the newest log entry. */
  private lastRecord(): RecordPosition {
    return this.log?.position() ?? [0, 0];
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /** Starts the timers. A restarted node honours a lease it may have given before the crash. */
  start(): void {
    if (this.running) return;
    const voters = this.persisted.voters;
    if (voters) this.log?.bindCluster(clusterKey(voters.members, voters.source));
    this.running = true;
    this.lastHeartbeatAt = this.clock.now();
    this.resetElectionTimer(true);
  }

  /** Stops without handing over (a crash, as far as the others can tell). */
  halt(): void {
    this.running = false;
    this.clock.clearTimeout(this.electionTimer);
    this.clock.clearTimeout(this.heartbeatTimer);
    this.electionTimer = this.heartbeatTimer = undefined;
    if (this.role === 'leader') {
      this.log?.stepDown();
      this.emit('leader', { term: this.term, leader: undefined });
    }
    this.role = 'follower';
    this.leaderId = undefined;
  }

  /** Graceful stop: a leader first hands over to the best reachable voter. */
  async stop(): Promise<string | undefined> {
    let target: string | undefined;
    if (this.running && this.role === 'leader') target = await this.resign().catch(() => undefined);
    this.halt();
    return target;
  }

  // ---- voter set --------------------------------------------------------------------------------

  get voters(): string[] | null {
    return this.persisted.voters?.members ?? null;
  }

  /** The peers of the cluster this node knows of: the voters and the observers heard from (itself included when a voter). */
  get members(): string[] {
    return [...new Set([...(this.voters ?? []), ...this.observers])];
  }

  get votersSource(): string | undefined {
    return this.persisted.voters?.source;
  }

  get term(): number {
    return this.persisted.currentTerm;
  }

  get state(): ElectionRole {
    return this.role;
  }

  get leader(): string | undefined {
    return this.leaderId;
  }

  get termsLed(): number {
    return this.persisted.led;
  }

  get isVoter(): boolean {
    return this.voters?.includes(this.id) ?? false;
  }

  /** Commits the voter set (persisted). Changing a committed set resets leadership knowledge. */
  setVoters(members: string[], source: string): void {
    const sorted = [...new Set(members)].sort();
    const cur = this.persisted.voters;
    if (cur && cur.source === source && votersKey(cur.members) === votersKey(sorted)) return;
    if (this.role === 'leader') this.becomeFollower(undefined);
    this.persist({ ...this.persisted, voters: { members: sorted, source } });
    this.log?.bindCluster(clusterKey(sorted, source));
    this.bump();
    if (this.running) this.resetElectionTimer(true);
  }

  /** Forgets a committed voter set that no longer matches the configuration (a new bootstrap follows). */
  clearVoters(): void {
    if (this.persisted.voters === null) return;
    if (this.role === 'leader') this.becomeFollower(undefined);
    this.persist({ ...this.persisted, voters: null });
    this.bump();
  }

  addObserver(peer: string): void {
    if (peer !== this.id && !this.voters?.includes(peer)) this.observers.add(peer);
  }

  // ---- queries ----------------------------------------------------------------------------------

  /** The leader this node knows for a term (remembered for the last terms). */
  leaderOf(term: number): string | undefined {
    return this.leaders.get(term);
  }

  /** The highest term for which this node has seen a leader. */
  get highestKnownLeaderTerm(): number {
    return this.highestLeaderTerm;
  }

  /**
   * True when this node leads and a majority acknowledged a heartbeat sent within the lease: those
   * voters refuse other candidates until their lease runs out, so no newer leader can exist yet.
   */
  canWrite(): boolean {
    if (this.role !== 'leader' || !this.running || this.clock.now() < this.transferUntil) return false;
    const voters = this.voters ?? [];
    const horizon = this.clock.now() - this.leaseMs() * 0.9;
    let fresh = 0;
    for (const v of voters) if (v === this.id || (this.ackedSentAt.get(v) ?? -Infinity) >= horizon) fresh++;
    return fresh >= majorityOf(voters.length);
  }

  snapshot(): ElectionSnapshot {
    const now = this.clock.now();
    return {
      self: this.id,
      role: this.role,
      term: this.term,
      votedFor: this.persisted.votedFor,
      leader: this.leaderId,
      leaderSince: this.leaderSince,
      lastHeartbeatAgoMs: this.role === 'leader' || !this.leaderId ? undefined : Math.round(now - this.lastHeartbeatAt),
      voters: this.voters,
      isVoter: this.isVoter,
      canWrite: this.canWrite(),
      view: this.currentView(),
      observers: [...this.observers],
    };
  }

  private currentView(): Record<string, VoterView> {
    if (this.role !== 'leader') {
      const mine = { ...this.view };
      if (this.voters?.includes(this.id))
        mine[this.id] = { ...mine[this.id], score: this.scoreFn(), reachable: true, vote: this.persisted.votedFor };
      return mine;
    }
    const now = this.clock.now();
    const out: Record<string, VoterView> = {};
    for (const v of this.voters ?? []) {
      if (v === this.id) out[v] = { score: this.scoreFn(), reachable: true, vote: this.persisted.votedFor };
      else {
        const acked = this.ackedSentAt.get(v);
        out[v] = {
          ...this.view[v],
          reachable: acked !== undefined && now - acked <= this.timing.electionMinMs,
        };
      }
    }
    return out;
  }

  private leaseMs(): number {
    return Math.max(2 * this.timing.heartbeatMs, this.timing.electionMinMs - this.timing.heartbeatMs);
  }

  private leaseActive(): boolean {
    if (this.role === 'leader') return true;
    return this.clock.now() - this.lastHeartbeatAt < this.leaseMs();
  }

  // ---- persistence and transitions ----------------------------------------------------------------

  private persist(next: PersistedElection): void {
    this.storage.save(next);
    this.persisted = next;
  }

  private bump(): void {
    this.epoch++;
    this.emit('change');
  }

  /** Adopts a higher term (and forgets the vote of the old one). */
  private observeTerm(term: number): boolean {
    if (term <= this.term) return false;
    const wasLeader = this.role === 'leader';
    this.persist({ ...this.persisted, currentTerm: term, votedFor: null });
    if (wasLeader || this.role === 'candidate') this.becomeFollower(undefined);
    else if (this.leaderId) {
      this.leaderId = undefined;
      this.emit('leader', { term, leader: undefined });
    }
    this.emit('term', term);
    this.bump();
    return true;
  }

  private becomeFollower(leader: string | undefined, since?: number): void {
    const wasLeader = this.role === 'leader';
    const changedRole = this.role !== 'follower';
    const changedLeader = this.leaderId !== leader;
    this.role = 'follower';
    this.leaderId = leader;
    this.leaderSince = leader ? since : undefined;
    if (wasLeader) {
      this.clock.clearTimeout(this.heartbeatTimer);
      this.heartbeatTimer = undefined;
      this.log?.stepDown();
    }
    if (changedRole) this.emit('state', 'follower');
    if (changedLeader) this.emit('leader', { term: this.term, leader });
    if (changedRole || changedLeader) this.bump();
  }

  private noteLeader(term: number, leader: string): void {
    const known = this.leaders.get(term);
    if (known !== undefined && known !== leader) {
      // two leaders in one term would break the core guarantee: never accept the second
      throw new Error(`two leaders claim term ${term}: ${known} and ${leader}`);
    }
    this.leaders.set(term, leader);
    if (term > this.highestLeaderTerm) this.highestLeaderTerm = term;
    if (this.leaders.size > LEADER_MEMORY) {
      const oldest = Math.min(...this.leaders.keys());
      this.leaders.delete(oldest);
    }
  }

  private resetElectionTimer(atStart = false): void {
    this.clock.clearTimeout(this.electionTimer);
    this.electionTimer = undefined;
    if (!this.running || this.role === 'leader') return;
    const voters = this.voters;
    let ms: number;
    if (voters && voters.length === 1 && voters[0] === this.id && atStart) ms = 0;
    else {
      const { electionMinMs: min, electionMaxMs: max } = this.timing;
      const score = this.scoreFn()?.total ?? 0;
      // a better score shortens the random part (by up to half); never below the minimum
      ms = min + (max - min) * this.clock.random() * (1 - 0.5 * Math.min(1, Math.max(0, score)));
    }
    this.electionTimer = this.clock.setTimeout(() => this.onElectionTimeout(), ms);
  }

  private onElectionTimeout(): void {
    this.electionTimer = undefined;
    if (!this.running || this.role === 'leader') return;
    if (this.campaigning) return this.resetElectionTimer();
    if (this.leaderId && this.clock.now() - this.lastHeartbeatAt >= this.timing.electionMinMs) {
      this.becomeFollower(undefined); // heartbeat timeout
    }
    if (!this.isVoter) {
      this.resetElectionTimer();
      return;
    }
    void this.campaign(false);
  }

  // ---- campaigning ------------------------------------------------------------------------------

  private rpcTimeout(): number {
    return Math.max(this.timing.heartbeatMs, Math.floor(this.timing.electionMinMs / 2));
  }

  /** Asks the other voters; resolves true as soon as `need` granted (self counted), false when that is impossible. */
  private poll(req: ElectionRequest, onResponse?: (from: string, r: ElectionResponse) => void): Promise<boolean> {
    const voters = this.voters ?? [];
    const others = voters.filter((v) => v !== this.id);
    const need = majorityOf(voters.length);
    let granted = 1;
    let answered = 0;
    return new Promise((resolve) => {
      if (granted >= need) return resolve(true);
      const settle = (ok: boolean): void => {
        answered++;
        if (ok) granted++;
        if (granted >= need) resolve(true);
        else if (granted + (others.length - answered) < need) resolve(false);
      };
      for (const peer of others) {
        this.transport.send(peer, req, this.rpcTimeout()).then(
          (r) => {
            if (r.term > this.term) this.observeTerm(r.term);
            onResponse?.(peer, r);
            settle(r.ok);
          },
          () => settle(false),
        );
      }
    });
  }

  private async campaign(transfer: boolean): Promise<void> {
    if (this.campaigning || !this.running || !this.isVoter || this.role === 'leader') return;
    this.campaigning = true;
    try {
      const voters = this.voters as string[];
      const key = votersKey(voters);
      if (this.preVote && !transfer) {
        const epoch = this.epoch;
        const ok = await this.poll({
          type: 'prevote',
          term: this.term + 1,
          candidate: this.id,
          voters: key,
          last: this.lastRecord(),
        });
        if (!ok || epoch !== this.epoch || !this.running || this.leaderId) {
          if (!ok) this.emit('prevote-failed', this.term);
          this.resetElectionTimer();
          return;
        }
      }
      const term = this.term + 1;
      this.persist({ ...this.persisted, currentTerm: term, votedFor: this.id });
      const wasLeaderKnown = this.leaderId !== undefined;
      this.role = 'candidate';
      this.leaderId = undefined;
      this.emit('term', term);
      this.emit('state', 'candidate');
      if (wasLeaderKnown) this.emit('leader', { term, leader: undefined });
      this.bump();
      this.resetElectionTimer();
      const req: ElectionRequest = {
        type: 'vote',
        term,
        candidate: this.id,
        voters: key,
        transfer,
        last: this.lastRecord(),
      };
      const won = await this.poll(req, (from, r) => {
        if (r.score) this.view[from] = { ...this.view[from], score: r.score, reachable: true };
      });
      if (won && this.role === 'candidate' && this.term === term && this.running) this.becomeLeader();
    } finally {
      this.campaigning = false;
    }
  }

  private becomeLeader(): void {
    this.clock.clearTimeout(this.electionTimer);
    this.electionTimer = undefined;
    const now = this.clock.now();
    this.role = 'leader';
    this.leaderId = this.id;
    this.leaderSince = now;
    this.transferUntil = 0;
    this.ackedSentAt.clear();
    this.noteLeader(this.term, this.id);
    this.persist({ ...this.persisted, led: this.persisted.led + 1 });
    this.resend.clear();
    this.log?.becomeLeader(
      this.term,
      [...(this.voters ?? []), ...this.observers].filter((p) => p !== this.id),
      this.clock.now(),
    );
    this.emit('state', 'leader');
    this.emit('leader', { term: this.term, leader: this.id });
    this.bump();
    this.heartbeatRound();
  }

  // ---- leading ----------------------------------------------------------------------------------

  private heartbeatRound(): void {
    if (!this.running || this.role !== 'leader') return;
    for (const peer of [...(this.voters ?? []), ...this.observers]) if (peer !== this.id) this.sendTo(peer);
    const now = this.clock.now();
    this.checkQuorum(now);
    if (this.role !== 'leader') return;
    this.considerHandover(now);
    this.heartbeatTimer = this.clock.setTimeout(() => this.heartbeatRound(), this.timing.heartbeatMs);
  }

  /** New log entries or a new commit index: send them now (once per turn of the event loop). */
  private queueReplicate(): void {
    if (this.replicateQueued) return;
    this.replicateQueued = true;
    queueMicrotask(() => {
      this.replicateQueued = false;
      if (!this.running || this.role !== 'leader') return;
      this.log?.advanceCommit(this.voters ?? [], this.id);
      for (const peer of [...(this.voters ?? []), ...this.observers]) if (peer !== this.id) this.sendTo(peer);
    });
  }

  /** One heartbeat (with the log entries the peer lacks) to one peer; at most one in flight per peer. */
  private sendTo(peer: string): void {
    if (this.inflight.has(peer)) {
      this.resend.add(peer);
      return;
    }
    const term = this.term;
    const voters = this.voters ?? [];
    const sentAt = this.clock.now();
    this.log?.track(peer);
    const carried = this.log?.messageFor(peer) ?? {};
    const req: ElectionRequest = {
      type: 'heartbeat',
      term,
      leader: this.id,
      voters,
      since: this.leaderSince ?? sentAt,
      last: this.lastRecord(),
      view: this.currentView(),
      ...carried,
    };
    this.inflight.add(peer);
    this.transport.send(peer, req, this.rpcTimeout()).then(
      (r) => {
        this.inflight.delete(peer);
        if (r.term > this.term) {
          this.observeTerm(r.term);
          return;
        }
        if (this.role !== 'leader' || this.term !== term) return;
        if (r.ok) {
          if (voters.includes(peer)) {
            this.ackedSentAt.set(peer, Math.max(sentAt, this.ackedSentAt.get(peer) ?? -Infinity));
            this.view[peer] = { score: r.score, reachable: true, vote: r.votedFor };
            if (r.last) this.lastOf.set(peer, r.last);
          }
          if (r.log) this.log?.onResult(peer, carried, r.log, voters, this.id);
          if (this.resend.delete(peer) || (r.log && this.log?.hasMoreFor(peer))) this.sendTo(peer);
        } else if (!voters.includes(peer)) this.observers.delete(peer); // not following this voter set
      },
      () => {
        this.inflight.delete(peer);
        this.resend.delete(peer);
        if (this.view[peer]) this.view[peer] = { ...this.view[peer], reachable: false };
        if (this.observers.has(peer) && !voters.includes(peer)) this.observers.delete(peer);
      },
    );
  }

  /** Quorum loss: no majority acknowledged anything sent within the last election timeout → step down. */
  private checkQuorum(now: number): void {
    const voters = this.voters ?? [];
    if (now - (this.leaderSince ?? now) < this.timing.electionMaxMs) return;
    const horizon = now - this.timing.electionMaxMs;
    let fresh = 0;
    for (const v of voters) if (v === this.id || (this.ackedSentAt.get(v) ?? -Infinity) >= horizon) fresh++;
    if (fresh < majorityOf(voters.length)) {
      this.becomeFollower(undefined);
      this.emit('quorum-lost', this.term);
      this.resetElectionTimer();
    }
  }

  /**
   * The best reachable voter other than this node: holding this leader's newest record first (so it can
   * win the hand-over election), then by score, then by the freshest acknowledgement.
   */
  private bestFollower(): { peer: string; score: number } | undefined {
    const now = this.clock.now();
    const mine = this.lastRecord();
    let best: { peer: string; score: number; acked: number; current: boolean } | undefined;
    for (const v of this.voters ?? []) {
      if (v === this.id) continue;
      const acked = this.ackedSentAt.get(v);
      if (acked === undefined || now - acked > this.timing.electionMinMs) continue;
      const score = this.view[v]?.score?.total ?? 0;
      const current = comparePositions(this.lastOf.get(v), mine) >= 0;
      const better =
        !best ||
        (current && !best.current) ||
        (current === best.current && (score > best.score || (score === best.score && acked > best.acked)));
      if (better) best = { peer: v, score, acked, current };
    }
    return best;
  }

  private considerHandover(now: number): void {
    if (now - (this.leaderSince ?? now) < this.timing.stabilityMs) return;
    const mine = this.scoreFn()?.total;
    const best = this.bestFollower();
    if (mine === undefined || !best || best.score < mine + this.timing.handoverMargin) return;
    void this.handOver(best.peer);
  }

  /**
   * Stops writing, sends TimeoutNow and steps down, whatever the answer: this leader never writes in
   * this term again, so a late TimeoutNow can never create a newer leader while this one still writes.
   */
  private async handOver(peer: string): Promise<boolean> {
    this.transferUntil = Infinity;
    const term = this.term;
    this.log?.freeze();
    await this.catchUp(peer, term);
    let ok: boolean;
    try {
      const r = await this.transport.send(peer, { type: 'timeoutnow', term, leader: this.id }, this.rpcTimeout());
      if (r.term > this.term) this.observeTerm(r.term);
      ok = r.ok;
    } catch {
      ok = false;
    }
    if (this.role === 'leader' && this.term === term) {
      this.becomeFollower(undefined);
      this.resetElectionTimer();
    }
    return ok;
  }

  /**
   * Before TimeoutNow, the target gets every entry this leader holds (Raft's leadership transfer), so it
   * can win the next term's election: voters refuse a candidate whose log is behind theirs.
   */
  private async catchUp(peer: string, term: number): Promise<void> {
    const log = this.log;
    if (!log) return;
    const deadline = this.clock.now() + this.timing.electionMinMs;
    while (this.role === 'leader' && this.term === term && this.running && this.clock.now() < deadline) {
      if (log.matchOf(peer) >= log.position()[1]) return;
      this.sendTo(peer);
      await new Promise((resolve) =>
        this.clock.setTimeout(() => resolve(undefined), Math.max(1, this.timing.heartbeatMs / 10)),
      );
    }
  }

  /** Leader only: hands leadership to the best reachable voter and steps down. Resolves with the target. */
  async resign(): Promise<string | undefined> {
    if (this.role !== 'leader') return undefined;
    const best = this.bestFollower();
    if (!best) return undefined;
    return (await this.handOver(best.peer)) ? best.peer : undefined;
  }

  /**
   * `chorus elect trigger`: a leader hands over; a follower that knows a leader asks it to hand over;
   * a node without a leader campaigns now (with pre-vote, so a healthy leader elsewhere is not disturbed).
   */
  async trigger(): Promise<{ action: 'resigned' | 'asked-leader' | 'campaigning' | 'none'; target?: string }> {
    if (!this.running) return { action: 'none' };
    if (this.role === 'leader') {
      const target = await this.resign();
      return { action: target ? 'resigned' : 'none', target };
    }
    if (this.leaderId) {
      const leader = this.leaderId;
      const r = await this.transport.send(leader, { type: 'handover', term: this.term }, 2000);
      return { action: r.ok ? 'asked-leader' : 'none', target: r.leader };
    }
    if (!this.isVoter) return { action: 'none' };
    void this.campaign(false);
    return { action: 'campaigning' };
  }

  // ---- serving requests ---------------------------------------------------------------------------

  /** Answers one request from `from` (the authenticated remote peer). */
  async handle(from: string, req: ElectionRequest): Promise<ElectionResponse> {
    if (!this.running) throw new Error('election not running');
    switch (req.type) {
      case 'prevote':
        return this.onPreVote(from, req);
      case 'vote':
        return this.onVote(from, req);
      case 'heartbeat':
        return this.onHeartbeat(from, req);
      case 'timeoutnow':
        return this.onTimeoutNow(from, req);
      case 'handover': {
        if (this.role !== 'leader' || !this.voters?.includes(from)) return { term: this.term, ok: false };
        const target = await this.resign();
        return { term: this.term, ok: target !== undefined, leader: target };
      }
      default:
        return { term: this.term, ok: false, reason: 'unsupported' };
    }
  }

  private sameVoters(key: string): boolean {
    return this.voters !== null && votersKey(this.voters) === key;
  }

  private onPreVote(from: string, req: Extract<ElectionRequest, { type: 'prevote' }>): ElectionResponse {
    const ok =
      req.candidate === from &&
      this.isVoter &&
      this.sameVoters(req.voters) &&
      (this.voters as string[]).includes(from) &&
      req.term > this.term &&
      !this.leaseActive() &&
      comparePositions(req.last, this.lastRecord()) >= 0;
    return { term: this.term, ok, score: this.scoreFn() };
  }

  private onVote(from: string, req: Extract<ElectionRequest, { type: 'vote' }>): ElectionResponse {
    const deny = (reason: string): ElectionResponse => ({ term: this.term, ok: false, reason, score: this.scoreFn() });
    if (req.candidate !== from) return deny('spoofed');
    if (!this.isVoter || !this.sameVoters(req.voters) || !(this.voters as string[]).includes(from))
      return deny('voter-set');
    if (req.term < this.term) return deny('stale-term');
    // a voter that heard from a live leader ignores ordinary candidates (no term bump either)
    if (!req.transfer && req.term > this.term && this.leaseActive()) return deny('lease');
    this.observeTerm(req.term);
    if (comparePositions(req.last, this.lastRecord()) < 0) return deny('out-of-date');
    const voted = this.persisted.votedFor;
    if (voted !== null && voted !== from) return deny('already-voted');
    if (voted === null) this.persist({ ...this.persisted, votedFor: from }); // durable before the answer
    this.bump();
    this.resetElectionTimer();
    return { term: this.term, ok: true, score: this.scoreFn(), votedFor: from };
  }

  private async onHeartbeat(
    from: string,
    req: Extract<ElectionRequest, { type: 'heartbeat' }>,
  ): Promise<ElectionResponse> {
    if (req.leader !== from) return { term: this.term, ok: false, reason: 'spoofed' };
    if (this.voters === null || votersKey(this.voters) !== votersKey(req.voters))
      return { term: this.term, ok: false, reason: this.voters === null ? 'no-voters' : 'voter-set' };
    if (!this.voters.includes(from)) return { term: this.term, ok: false, reason: 'not-a-voter' };
    if (req.term < this.term) return { term: this.term, ok: false, reason: 'stale-term' };
    this.observeTerm(req.term);
    if (this.role === 'leader') throw new Error(`two leaders claim term ${req.term}`);
    this.noteLeader(req.term, from);
    this.lastHeartbeatAt = this.clock.now();
    if (req.view) this.view = { ...req.view };
    if (this.role !== 'follower' || this.leaderId !== from) this.becomeFollower(from, req.since);
    this.leaderSince = req.since;
    this.resetElectionTimer();
    let log: AppendResult | undefined;
    if (this.log && req.append) log = await this.log.handleAppend(req.append);
    else if (this.log && req.snapshot) log = this.log.handleSnapshot(req.snapshot);
    return {
      term: this.term,
      ok: true,
      score: this.isVoter ? this.scoreFn() : undefined,
      votedFor: this.persisted.votedFor,
      last: this.lastRecord(),
      log,
    };
  }

  private onTimeoutNow(from: string, req: Extract<ElectionRequest, { type: 'timeoutnow' }>): ElectionResponse {
    const ok =
      req.leader === from &&
      req.term === this.term &&
      this.leaderOf(req.term) === from &&
      this.isVoter &&
      this.role === 'follower';
    if (ok) void this.campaign(true);
    return { term: this.term, ok };
  }
}

const isTerm = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isPosition = (v: unknown): boolean => v === undefined || (Array.isArray(v) && v.length === 2 && v.every(isTerm));
const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length < 200;

const isIndex = isTerm;

function isAppend(v: unknown): v is AppendRequest {
  const a = v as Record<string, unknown> | null;
  if (typeof a !== 'object' || a === null || !isPosition(a.prev) || a.prev === undefined || !isIndex(a.commit))
    return false;
  if (!Array.isArray(a.entries)) return false;
  let expect = (a.prev as number[])[0] as number;
  for (const e of a.entries as Record<string, unknown>[]) {
    if (typeof e !== 'object' || e === null || !isIndex(e.index) || !isTerm(e.term) || typeof e.kind !== 'string')
      return false;
    if (e.index !== ++expect) return false; // contiguous after prev
  }
  return true;
}

function isChunk(v: unknown): v is SnapshotChunk {
  const c = v as Record<string, unknown> | null;
  return (
    typeof c === 'object' &&
    c !== null &&
    isIndex(c.index) &&
    isTerm(c.term) &&
    isIndex(c.offset) &&
    isIndex(c.total) &&
    typeof c.chunk === 'string'
  );
}

/** Shape check of a request that arrived from the network (peers are licensed, not trusted to be well-formed). */
export function isElectionRequest(v: unknown): v is ElectionRequest {
  const r = v as Record<string, unknown> | null;
  if (typeof r !== 'object' || r === null) return false;
  switch (r.type) {
    case 'prevote':
    case 'vote':
      return isTerm(r.term) && isId(r.candidate) && typeof r.voters === 'string' && isPosition(r.last);
    case 'heartbeat':
      return (
        isTerm(r.term) &&
        isId(r.leader) &&
        Array.isArray(r.voters) &&
        r.voters.every(isId) &&
        typeof r.since === 'number' &&
        isPosition(r.last) &&
        (r.view === undefined || (typeof r.view === 'object' && r.view !== null)) &&
        (r.append === undefined || isAppend(r.append)) &&
        (r.snapshot === undefined || isChunk(r.snapshot))
      );
    case 'timeoutnow':
      return isTerm(r.term) && isId(r.leader);
    case 'handover':
      return isTerm(r.term);
    case 'hello':
      return isTerm(r.expect) && (r.voters === null || typeof r.voters === 'object');
    case 'propose':
      return typeof r.kind === 'string' && r.kind.length > 0 && r.kind.length < 64;
    default:
      return false;
  }
}

/** Shape check of an answer from the network. */
export function isElectionResponse(v: unknown): v is ElectionResponse {
  const r = v as Record<string, unknown> | null;
  if (typeof r !== 'object' || r === null || !isTerm(r.term) || typeof r.ok !== 'boolean' || !isPosition(r.last))
    return false;
  const log = r.log as Record<string, unknown> | undefined;
  return (
    log === undefined ||
    (typeof log === 'object' &&
      log !== null &&
      typeof log.ok === 'boolean' &&
      (log.match === undefined || isIndex(log.match)) &&
      (log.conflict === undefined || isIndex(log.conflict)) &&
      (log.snapOffset === undefined || isIndex(log.snapOffset)))
  );
}
