// The node's election service: runs Raft over /chorus/election/1.0.0, settles the voter set
// (election.voters, or bootstrap with election.expect as Consul's bootstrap_expect), scores this node,
// serves `chorus elect` (status, trigger, resign), owns the consensus log (consensus.db) with its state
// machines — the leader-only paths (leader-paths.ts) and whatever a feature registers (tasks) — and
// forwards a feature's proposals from any node to the leader, so callers never need to know who leads.
import { peerIdFromString } from '@libp2p/peer-id';
import { PeerAddressBook } from '../p2p/peer-addresses.ts';
import { EventEmitter } from 'node:events';
import type { RedactionRuleConfig } from '../config/schema.ts';
import { join } from 'node:path';
import { ChorusError, UsageError } from '../errors.ts';
import { ConsensusLog, type StateMachine } from './consensus-log.ts';
import { NotLeaderError } from './errors.ts';
import { Forwarder, type Vet } from './forward.ts';
import { LeaderPaths, type ContextEntry, type PolicyView, type ProposeResult } from './leader-paths.ts';
import { CONSENSUS_LOG_FILE, SqliteLogStorage } from './log-store.ts';
import type { ElectionServiceOptions } from './options.ts';
import {
  Raft,
  systemClock,
  type ElectionRequest,
  type ElectionResponse,
  type ElectionRole,
  type ElectionTiming,
} from './raft.ts';
import { hostResources, scoreOf, type ScoreComponents } from './score.ts';
import { FileElectionStorage } from './state.ts';
import { Libp2pElectionTransport } from './transport.ts';

export type { ContextEntry, PolicyView, ProposeResult } from './leader-paths.ts';
export { parsePolicy } from './leader-paths.ts';

export type { ElectionConfig, ElectionServiceOptions } from './options.ts';

export interface VoterStatus {
  peerId: string;
  self: boolean;
  leader: boolean;
  reachable: boolean;
  score?: ScoreComponents;
  vote?: string | null;
  addresses: string[];
}

export interface ElectionStatus {
  self: string;
  state: ElectionRole;
  term: number;
  votedFor: string | null;
  leader: { peerId: string; addresses: string[]; since?: string } | null;
  lastHeartbeatAgoMs?: number;
  voter: boolean;
  canWrite: boolean;
  highestLeaderTerm: number;
  votersSource?: string;
  voters: VoterStatus[];
  /** While the voter set is not settled: how many are expected and who is known. */
  bootstrap?: { expect: number; known: string[] };
  observers: string[];
  timing: { heartbeatMs: number; electionTimeoutMinMs: number; electionTimeoutMaxMs: number };
}

export interface ElectionServiceEvents {
  change: [];
}

export class ElectionService extends EventEmitter<ElectionServiceEvents> {
  readonly raft: Raft;
  readonly transport: Libp2pElectionTransport;
  /** The replicated log every node applies in the same order. */
  readonly log: ConsensusLog;
  private readonly opts: ElectionServiceOptions;
  /** Proposals of registered kinds from any node, through the leader. */
  private readonly forwarder: Forwarder;
  /** SLURP context writes and SHHH policy changes (leader only). */
  readonly paths: LeaderPaths;
  private readonly self: string;
  private readonly startedAt = Date.now();
  private bootstrapTimer: NodeJS.Timeout | undefined;
  private bootstrapKnown: string[] = [];
  private warnedCrowd = false;
  private stopped = false;
  /** Leaders this node has seen take office since it started (a metric). */
  private leaderChanges = 0;
  /** Peers' announced listen addresses (dialable), for the status's addresses. */
  private readonly addressBook: PeerAddressBook;
  private scoreCache: { at: number; value: ScoreComponents } | undefined;

  constructor(opts: ElectionServiceOptions, configRules: RedactionRuleConfig[] = []) {
    super();
    this.opts = opts;
    this.self = opts.libp2p.peerId.toString();
    this.transport = new Libp2pElectionTransport(opts.libp2p, opts.logger);
    this.addressBook = new PeerAddressBook(opts.libp2p);
    const c = opts.config;
    if (c.electionTimeoutMinMs >= c.electionTimeoutMaxMs)
      throw new UsageError('election.electionTimeoutMinMs must be below election.electionTimeoutMaxMs');
    if (c.heartbeatMs * 2 > c.electionTimeoutMinMs)
      throw new UsageError('election.heartbeatMs must be at most half of election.electionTimeoutMinMs');
    const timing: ElectionTiming = {
      heartbeatMs: c.heartbeatMs,
      electionMinMs: c.electionTimeoutMinMs,
      electionMaxMs: c.electionTimeoutMaxMs,
      stabilityMs: c.stabilityWindowMs,
      handoverMargin: c.handoverMargin,
    };
    this.log = new ConsensusLog({
      storage: opts.logStorage ?? new SqliteLogStorage(join(opts.dataDir, CONSENSUS_LOG_FILE)),
    });
    this.raft = new Raft({
      id: this.self,
      transport: this.transport,
      storage: opts.storage ?? new FileElectionStorage(opts.dataDir),
      timing,
      preVote: c.preVote,
      score: () => this.score(),
      log: this.log,
    });
    this.paths = new LeaderPaths(opts, this.raft, this.log, configRules);
    this.forwarder = new Forwarder({
      self: this.self,
      raft: this.raft,
      log: this.log,
      transport: this.transport,
      clock: systemClock,
    });
  }

  /**
   * Registers a feature's state machine on the consensus log (before start). With `forward`, any node
   * may submit proposals of this kind (checked by the leader with `vet`): they go to the leader.
   */
  register(kind: string, machine: StateMachine, opts: { forward?: boolean; vet?: Vet } = {}): void {
    this.log.register(kind, machine);
    if (opts.forward) this.forwarder.allow(kind, opts.vet);
  }

  /**
   * Proposes an entry of a registered kind through the leader, wherever it is, and resolves with its
   * state machine's result once committed and applied. Retries across leader changes until the signal
   * fires; proposals must therefore be idempotent (carry a request id the state machine remembers).
   */
  submit(kind: string, data: unknown, signal: AbortSignal): Promise<unknown> {
    return this.forwarder.submit(kind, data, signal);
  }

  /** True while this node is the only member of its voter set (a lone node's cluster of one). */
  soleVoter(): boolean {
    const voters = this.raft?.voters;
    return voters?.length === 1 && voters[0] === this.self;
  }

  /** The peers of the cluster this node knows of (voters and observers heard from), itself included when a voter. */
  members(): string[] {
    return this.raft?.members ?? [];
  }

  get peerId(): string {
    return this.self;
  }

  /** This node's score now (cached for a second). */
  score(): ScoreComponents {
    const now = Date.now();
    if (this.scoreCache && now - this.scoreCache.at < 1000) return this.scoreCache.value;
    const others = (this.raft?.voters ?? []).filter((v) => v !== this.self);
    const value = scoreOf(
      {
        uptimeMs: now - this.startedAt,
        capabilities: this.opts.capabilities?.() ?? 0,
        ...hostResources(),
        // the connected peers are listed only when there are other voters to look for among them (a sole
        // voter of 50 connected nodes was listing all of them every second, for nothing)
        reachable: others.length ? reachableShare(others, this.opts.libp2p.getPeers()) : 1,
        termsLed: this.raft?.termsLed ?? 0,
      },
      this.opts.config.weights,
    );
    this.scoreCache = { at: now, value };
    return value;
  }

  async start(): Promise<void> {
    this.log.on('archived', ({ from, to }) =>
      this.opts.logger.warn('the voter set changed: the consensus log of the old cluster was moved aside', {
        cluster: from,
        file: to,
      }),
    );
    this.log.on('sync-failed', (err) =>
      this.opts.logger.error('the consensus log could not be flushed to disk; this leader does not count itself', {
        error: err.message,
      }),
    );
    this.log.start();
    this.paths.start();
    await this.transport.start((from, req) => this.handle(from, req));
    this.settleVoters();
    this.raft.on('change', () => this.emit('change'));
    this.raft.on('leader', ({ term, leader }) => {
      if (leader) this.leaderChanges++;
      this.opts.recorder?.record('election', { event: 'leader', term, leader: leader ?? null });
    });
    this.raft.on('state', (role) =>
      this.opts.recorder?.record('election', { event: 'state', role, term: this.raft.term }),
    );
    this.raft.on('quorum-lost', (term) => {
      this.opts.logger.warn('leader lost its quorum and stepped down', { term });
      this.opts.recorder?.record('election', { event: 'quorum_lost', term });
    });
    this.raft.start();
    const tick = Math.max(100, this.opts.config.heartbeatMs * 2);
    this.bootstrapTimer = setInterval(() => void this.helloTick(), tick);
    this.bootstrapTimer.unref();
    void this.helloTick();
  }

  /** Graceful stop: a leader hands over first (TimeoutNow to the best reachable voter). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.bootstrapTimer);
    const target = await this.raft.stop();
    if (target) this.opts.logger.info('handed leadership over', { to: target });
    await this.transport.stop();
    this.addressBook.stop();
    this.log.storage.close();
  }

  /** A crash as far as the others can tell: no hand-over (tests use it to "kill" a node in-process). */
  async halt(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.bootstrapTimer);
    this.raft.halt();
    await this.transport.stop();
    this.addressBook.stop();
    this.log.storage.close();
  }

  // ---- voter set --------------------------------------------------------------------------------------

  private settleVoters(): void {
    const { voters, expect } = this.opts.config;
    if (voters.length > 0) {
      for (const v of voters) {
        try {
          peerIdFromString(v);
        } catch {
          throw new UsageError(`election.voters: ${v} is not a peer ID`);
        }
      }
      this.raft.setVoters(voters, 'config');
      return;
    }
    const source = `expect:${expect}`;
    if (this.raft.votersSource === source) return; // committed earlier
    this.raft.clearVoters(); // formed under another configuration
    if (expect === 1) this.raft.setVoters([this.self], source);
  }

  private async helloTick(): Promise<void> {
    if (this.stopped) return;
    const expect = this.opts.config.expect;
    const source = `expect:${expect}`;
    const settled = this.raft.voters !== null && (this.raft.votersSource === source || this.opts.config.voters.length);
    // once settled, only observers keep saying hello (so a leader adds them to its heartbeats)
    if (settled && (this.raft.isVoter || this.raft.leader)) return;
    const known = new Set([this.self]);
    await Promise.all(
      this.opts.libp2p.getPeers().map(async (peer) => {
        const id = peer.toString();
        try {
          if (this.opts.admit && !(await this.opts.admit(id))) return; // unlicensed: never a voter candidate
          const r = await this.transport.send(id, { type: 'hello', expect, voters: null }, 1000);
          if (!settled && r.voters && r.voters.source === source) {
            this.raft.setVoters(r.voters.members, source);
            this.opts.logger.info('adopted the committed voter set', { voters: r.voters.members.length, from: id });
          } else if (r.expect === expect && !r.voters) known.add(id);
        } catch {
          // not (yet) speaking the election protocol
        }
      }),
    );
    if (this.raft.voters !== null) return;
    this.bootstrapKnown = [...known].sort();
    if (known.size === expect) {
      this.raft.setVoters(this.bootstrapKnown, source);
      this.opts.logger.info('voter set formed by bootstrap', { expect, voters: this.bootstrapKnown });
      this.opts.recorder?.record('election', { event: 'voters', voters: this.bootstrapKnown, source });
    } else if (known.size > expect && !this.warnedCrowd) {
      this.warnedCrowd = true;
      this.opts.logger.warn('more voter candidates than election.expect; not forming a voter set', {
        expect,
        known: known.size,
      });
    }
    this.emit('change');
  }

  // ---- serving ----------------------------------------------------------------------------------------

  private async handle(from: string, req: ElectionRequest): Promise<ElectionResponse> {
    if (this.opts.admit && !(await this.opts.admit(from))) throw new Error(`${from} is not admitted`);
    switch (req.type) {
      case 'hello':
        if (this.raft.voters !== null) this.raft.addObserver(from);
        return {
          term: this.raft.term,
          ok: true,
          expect: this.opts.config.expect,
          voters:
            this.raft.voters === null ? null : { members: this.raft.voters, source: this.raft.votersSource ?? '' },
          leader: this.raft.leader,
        };
      case 'propose':
        return this.forwarder.serve(from, req.kind, req.data);
      default:
        return this.raft.handle(from, req);
    }
  }

  // ---- operations -------------------------------------------------------------------------------------

  putContext(key: string, content: unknown): Promise<ProposeResult> {
    return this.paths.putContext(key, content);
  }

  setPolicy(value: unknown): Promise<ProposeResult> {
    return this.paths.setPolicy(value);
  }

  contexts(key?: string): ContextEntry[] {
    return this.paths.contexts(key);
  }

  policy(): PolicyView {
    return this.paths.policy();
  }

  async trigger(): Promise<{ action: string; target?: string }> {
    return this.raft.trigger();
  }

  async resign(): Promise<{ target: string }> {
    if (this.raft.state !== 'leader') throw new NotLeaderError(this.raft.leader, 'only the leader can resign');
    const target = await this.raft.resign();
    if (!target) throw new ChorusError('NO_SUCCESSOR', 'no other voter is reachable to take over');
    return { target };
  }

  private addressesOf(peer: string): string[] {
    if (peer === this.self) return this.opts.libp2p.getMultiaddrs().map(String);
    try {
      return this.addressBook.addressesOf(peerIdFromString(peer));
    } catch {
      return [];
    }
  }

  status(): ElectionStatus {
    const s = this.raft.snapshot();
    const connected = new Set(this.opts.libp2p.getPeers().map(String));
    const voters = (s.voters ?? []).map<VoterStatus>((v) => ({
      peerId: v,
      self: v === this.self,
      leader: v === s.leader,
      reachable: v === this.self || (s.view[v]?.reachable ?? connected.has(v)),
      score: v === this.self ? this.score() : s.view[v]?.score,
      vote: v === this.self ? s.votedFor : s.view[v]?.vote,
      addresses: this.addressesOf(v),
    }));
    const c = this.opts.config;
    return {
      self: this.self,
      state: s.role,
      term: s.term,
      votedFor: s.votedFor,
      leader: s.leader
        ? {
            peerId: s.leader,
            addresses: this.addressesOf(s.leader),
            since: s.leaderSince ? new Date(s.leaderSince).toISOString() : undefined,
          }
        : null,
      lastHeartbeatAgoMs: s.lastHeartbeatAgoMs,
      voter: s.isVoter,
      canWrite: s.canWrite,
      highestLeaderTerm: this.raft.highestKnownLeaderTerm,
      votersSource: this.raft.votersSource,
      voters,
      bootstrap: s.voters === null ? { expect: c.expect, known: this.bootstrapKnown } : undefined,
      observers: s.observers,
      timing: {
        heartbeatMs: c.heartbeatMs,
        electionTimeoutMinMs: c.electionTimeoutMinMs,
        electionTimeoutMaxMs: c.electionTimeoutMaxMs,
      },
    };
  }

  /** What the ops metrics report: term, state and leader changes seen. */
  metrics(): { term: number; state: ElectionRole; leaderChanges: number } {
    return { term: this.raft.term, state: this.raft.state, leaderChanges: this.leaderChanges };
  }

  /** A short summary for `chorus status`. */
  summary(): { state: ElectionRole; term: number; leader: string | null } {
    return { state: this.raft.state, term: this.raft.term, leader: this.raft.leader ?? null };
  }
}

/** The share of `voters` among the connected `peers`. */
function reachableShare(voters: string[], peers: { toString(): string }[]): number {
  const connected = new Set(peers.map(String));
  return voters.filter((v) => connected.has(v)).length / voters.length;
}
