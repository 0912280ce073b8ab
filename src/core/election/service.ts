// The node's election service: runs the Raft state machine over /chorus/election/1.0.0, settles the
// voter set (election.voters, or bootstrap with election.expect as Consul's bootstrap_expect), scores
// this node, and owns the leader-only paths — the leader signs records (SLURP context, SHHH policy) and
// sends them to every member; members verify them against the leader they know for that term, apply
// them (a SHHH policy replaces the Redactor's extra rules) and keep them in the ledger.
import type { Libp2p } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { redactionRuleSchema, type RedactionRuleConfig } from '../config/schema.ts';
import { ChorusError, describeError, UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { EventRecorder } from '../node/recorder.ts';
import { verifyByAuthor, type Signer } from '../p2p/signer.ts';
import type { Redactor } from '../shhh/redactor.ts';
import { LeaderLedger, newer } from './ledger.ts';
import {
  majorityOf,
  Raft,
  type ElectionRequest,
  type ElectionResponse,
  type ElectionRole,
  type ElectionTiming,
} from './raft.ts';
import {
  NotLeaderError,
  RecordGate,
  signRecord,
  type RecordFields,
  type RecordKind,
  type SignedRecord,
} from './records.ts';
import { hostResources, scoreOf, type ScoreComponents, type ScoreWeights } from './score.ts';
import { FileElectionStorage, type ElectionStorage } from './state.ts';
import { Libp2pElectionTransport } from './transport.ts';

export interface ElectionConfig {
  voters: string[];
  expect: number;
  heartbeatMs: number;
  electionTimeoutMinMs: number;
  electionTimeoutMaxMs: number;
  stabilityWindowMs: number;
  handoverMargin: number;
  preVote: boolean;
  weights: ScoreWeights;
}

export interface ElectionServiceOptions {
  libp2p: Libp2p;
  config: ElectionConfig;
  dataDir: string;
  logger: Logger;
  signer: Signer;
  recorder?: EventRecorder;
  redactor?: Redactor;
  capabilities?: () => number;
  storage?: ElectionStorage;
}

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

export interface ContextEntry {
  key: string;
  content: unknown;
  term: number;
  leader: string;
  seq: number;
  issuedAt: string;
}

export interface PolicyView {
  rules: RedactionRuleConfig[];
  source: 'config' | 'leader';
  term?: number;
  leader?: string;
  seq?: number;
  issuedAt?: string;
}

export interface ProposeResult {
  kind: RecordKind;
  term: number;
  leader: string;
  seq: number;
  issuedAt: string;
  /** Voters (this leader included) that accepted the record, of how many. */
  acceptedBy: number;
  voters: number;
  committed: boolean;
}

export interface ElectionServiceEvents {
  change: [];
  record: [RecordFields];
  rejected: [{ from: string; reason: string }];
}

const rulesSchema = z.array(redactionRuleSchema);
/** Records waiting for the heartbeat that names their term's leader (oldest dropped beyond this). */
const MAX_PENDING = 256;

/** Validates a SHHH policy (a list of extra redaction rules). */
export function parsePolicy(value: unknown): RedactionRuleConfig[] {
  const rules = (value as { rules?: unknown } | null)?.rules ?? value;
  const parsed = rulesSchema.safeParse(rules);
  if (!parsed.success) throw new UsageError(`invalid SHHH policy: ${parsed.error.issues[0]?.message ?? 'bad rules'}`);
  for (const r of parsed.data) {
    try {
      new RegExp(r.pattern, r.flags);
    } catch (err) {
      throw new UsageError(`invalid SHHH policy: rule ${r.name}: ${describeError(err)}`);
    }
  }
  return parsed.data;
}

export class ElectionService extends EventEmitter<ElectionServiceEvents> {
  readonly raft: Raft;
  readonly transport: Libp2pElectionTransport;
  private readonly opts: ElectionServiceOptions;
  private readonly gate: RecordGate;
  readonly ledger: LeaderLedger;
  private readonly self: string;
  private readonly startedAt = Date.now();
  private readonly configRules: RedactionRuleConfig[];
  private bootstrapTimer: NodeJS.Timeout | undefined;
  private bootstrapKnown: string[] = [];
  private warnedCrowd = false;
  private seq = { term: 0, n: 0 };
  private pending: { record: SignedRecord; from: string; until: number }[] = [];
  private stopped = false;
  private scoreCache: { at: number; value: ScoreComponents } | undefined;

  constructor(opts: ElectionServiceOptions, configRules: RedactionRuleConfig[] = []) {
    super();
    this.opts = opts;
    this.self = opts.libp2p.peerId.toString();
    this.configRules = configRules;
    this.transport = new Libp2pElectionTransport(opts.libp2p, opts.logger);
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
    this.raft = new Raft({
      id: this.self,
      transport: this.transport,
      storage: opts.storage ?? new FileElectionStorage(opts.dataDir),
      timing,
      preVote: c.preVote,
      score: () => this.score(),
    });
    this.gate = new RecordGate(this.raft, verifyByAuthor);
    this.ledger = new LeaderLedger(opts.dataDir);
  }

  get peerId(): string {
    return this.self;
  }

  /** This node's score now (cached for a second). */
  score(): ScoreComponents {
    const now = Date.now();
    if (this.scoreCache && now - this.scoreCache.at < 1000) return this.scoreCache.value;
    const others = (this.raft?.voters ?? []).filter((v) => v !== this.self);
    const connected = new Set(this.opts.libp2p.getPeers().map(String));
    const value = scoreOf(
      {
        uptimeMs: now - this.startedAt,
        capabilities: this.opts.capabilities?.() ?? 0,
        ...hostResources(),
        reachable: others.length ? others.filter((v) => connected.has(v)).length / others.length : 1,
        termsLed: this.raft?.termsLed ?? 0,
      },
      this.opts.config.weights,
    );
    this.scoreCache = { at: now, value };
    return value;
  }

  async start(): Promise<void> {
    this.ledger.load();
    this.applyPolicy();
    await this.transport.start((from, req) => this.handle(from, req));
    this.settleVoters();
    this.raft.on('change', () => this.emit('change'));
    this.raft.on('leader', ({ term, leader }) => {
      this.opts.recorder?.record('election', { event: 'leader', term, leader: leader ?? null });
      this.recheckPending();
      if (leader && leader !== this.self) void this.syncFrom([leader]);
      if (leader === this.self) void this.syncFrom((this.raft.voters ?? []).filter((v) => v !== this.self));
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
  }

  /** A crash as far as the others can tell: no hand-over (tests use it to "kill" a node in-process). */
  async halt(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.bootstrapTimer);
    this.raft.halt();
    await this.transport.stop();
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
      case 'record': {
        const verdict = this.receive(req.record, from);
        return { term: this.raft.term, ok: verdict === 'accepted', reason: verdict };
      }
      case 'sync':
        return { term: this.raft.term, ok: true, records: this.ledger.all() };
      default:
        return this.raft.handle(from, req);
    }
  }

  /** Checks a leader-only record; records of a term whose leader is not known yet wait. */
  private receive(record: SignedRecord, from: string): string {
    const verdict = this.gate.check(record);
    if (verdict.ok) {
      this.apply(record, verdict.record);
      return 'accepted';
    }
    if (verdict.reason === 'unknown-leader') {
      if (this.pending.length >= MAX_PENDING) this.pending.shift();
      this.pending.push({ record, from, until: Date.now() + 2 * this.opts.config.electionTimeoutMaxMs });
      return 'pending';
    }
    this.opts.logger.debug('rejected a leader-only record', { from, reason: verdict.reason });
    this.emit('rejected', { from, reason: verdict.reason });
    return verdict.reason;
  }

  private recheckPending(): void {
    const now = Date.now();
    const waiting = this.pending;
    this.pending = [];
    for (const p of waiting) {
      if (p.until < now) this.emit('rejected', { from: p.from, reason: 'unknown-leader' });
      else this.receive(p.record, p.from);
    }
  }

  private apply(signed: SignedRecord, fields: RecordFields): void {
    if (!this.ledger.add(signed, fields)) return;
    if (fields.kind === 'shhh-policy') this.applyPolicy();
    const summary =
      fields.kind === 'slurp-context'
        ? { kind: 'context', key: (fields.payload as { key?: unknown })?.key }
        : { kind: 'shhh_policy', rules: (fields.payload as { rules?: unknown[] })?.rules?.length };
    this.opts.recorder?.record('slurp_event', {
      ...summary,
      term: fields.term,
      leader: fields.leader,
      seq: fields.seq,
    });
    this.emit('record', fields);
  }

  private applyPolicy(): void {
    const latest = this.ledger.latest('shhh-policy');
    if (!latest || !this.opts.redactor) return;
    try {
      this.opts.redactor.replaceExtraRules(parsePolicy(latest.fields.payload));
    } catch (err) {
      this.opts.logger.warn('ignored an invalid SHHH policy record', { error: describeError(err) });
    }
  }

  /** Catch-up: takes the records other members hold that are signed by a voter (only voters ever lead). */
  private async syncFrom(peers: string[]): Promise<void> {
    const voters = new Set(this.raft.voters ?? []);
    await Promise.all(
      peers.map(async (peer) => {
        try {
          const r = await this.transport.send(peer, { type: 'sync' }, 3000);
          let policyChanged = false;
          for (const signed of r.records ?? []) {
            let fields: RecordFields;
            try {
              fields = JSON.parse(signed.body) as RecordFields;
            } catch {
              continue;
            }
            if (!voters.has(fields.leader)) continue;
            if (!verifyByAuthor(fields.leader, Buffer.from(signed.body), Buffer.from(signed.sig, 'base64'))) continue;
            const before = this.ledger.latest('shhh-policy')?.fields;
            if (this.ledger.add(signed, fields) && fields.kind === 'shhh-policy' && newer(fields, before))
              policyChanged = true;
          }
          if (policyChanged) this.applyPolicy();
        } catch (err) {
          this.opts.logger.debug('record sync failed', { peer, error: describeError(err) });
        }
      }),
    );
  }

  // ---- leader-only writes -----------------------------------------------------------------------------

  /** Leader only: signs a record, applies it here and sends it to every member; committed when a majority of voters accepted it. */
  async propose(kind: RecordKind, payload: unknown): Promise<ProposeResult> {
    // a leader fresh in office (or between heartbeats after a hiccup) waits briefly for its majority lease
    const deadline = Date.now() + this.opts.config.electionTimeoutMinMs;
    while (!this.raft.canWrite() && this.raft.state === 'leader' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.max(5, this.opts.config.heartbeatMs / 5)));
    }
    if (!this.raft.canWrite()) {
      const leader = this.raft.leader;
      throw new NotLeaderError(
        leader === this.self ? undefined : leader,
        leader === this.self ? 'the leader has no fresh majority lease' : '',
      );
    }
    const term = this.raft.term;
    if (this.seq.term !== term) this.seq = { term, n: 0 };
    const fields: RecordFields = {
      kind,
      term,
      leader: this.self,
      seq: ++this.seq.n,
      issuedAt: new Date().toISOString(),
      payload,
    };
    const signed = signRecord(this.opts.signer, fields);
    if (this.receive(signed, this.self) !== 'accepted') throw new NotLeaderError(this.raft.leader, 'record refused');
    const voters = this.raft.voters ?? [];
    const members = new Set([...voters, ...this.raft.snapshot().observers, ...this.opts.libp2p.getPeers().map(String)]);
    members.delete(this.self);
    let acceptedBy = voters.includes(this.self) ? 1 : 0;
    await Promise.all(
      [...members].map(async (peer) => {
        try {
          const r = await this.transport.send(peer, { type: 'record', record: signed }, 2000);
          if (r.ok && voters.includes(peer)) acceptedBy++;
        } catch {
          // unreachable: it catches up by sync when it next learns of a leader
        }
      }),
    );
    const committed = acceptedBy >= majorityOf(voters.length);
    const result = {
      kind,
      term,
      leader: this.self,
      seq: fields.seq,
      issuedAt: fields.issuedAt,
      acceptedBy,
      voters: voters.length,
      committed,
    };
    if (!committed)
      throw new ChorusError(
        'NOT_COMMITTED',
        `record accepted by ${acceptedBy} of ${voters.length} voters (no majority)`,
      );
    return result;
  }

  async putContext(key: string, content: unknown): Promise<ProposeResult> {
    if (typeof key !== 'string' || key === '' || key.length > 512)
      throw new UsageError('a context needs a key (1–512 characters)');
    return this.propose('slurp-context', { key, content });
  }

  async setPolicy(value: unknown): Promise<ProposeResult> {
    return this.propose('shhh-policy', { rules: parsePolicy(value) });
  }

  contexts(key?: string): ContextEntry[] {
    return this.ledger
      .sorted('slurp-context')
      .map(({ fields }) => {
        const p = fields.payload as { key: string; content: unknown };
        return {
          key: p.key,
          content: p.content,
          term: fields.term,
          leader: fields.leader,
          seq: fields.seq,
          issuedAt: fields.issuedAt,
        };
      })
      .filter((c) => key === undefined || c.key === key);
  }

  policy(): PolicyView {
    const latest = this.ledger.latest('shhh-policy');
    if (!latest) return { rules: this.configRules, source: 'config' };
    const f = latest.fields;
    return {
      rules: parsePolicy(f.payload),
      source: 'leader',
      term: f.term,
      leader: f.leader,
      seq: f.seq,
      issuedAt: f.issuedAt,
    };
  }

  // ---- operations -------------------------------------------------------------------------------------

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
      return this.opts.libp2p.getConnections(peerIdFromString(peer)).map((c) => c.remoteAddr.toString());
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

  /** A short summary for `chorus status`. */
  summary(): { state: ElectionRole; term: number; leader: string | null } {
    return { state: this.raft.state, term: this.raft.term, leader: this.raft.leader ?? null };
  }
}
