// The leader-only paths: SLURP context writes and SHHH policy changes. The leader signs records with
// its libp2p key and sends them to every member over the election protocol; a write is committed when a
// majority of voters accepted it. Members check each record against the leader they know for its term
// (RecordGate), apply it (a SHHH policy replaces the Redactor's extra rules), log it and keep it in the
// ledger; records whose term's leader is not known yet wait for the heartbeat that names it. Catch-up:
// a follower fetches the new leader's records, a new leader fetches the voters'.
import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { redactionRuleSchema, type RedactionRuleConfig } from '../config/schema.ts';
import { ChorusError, describeError, UsageError } from '../errors.ts';
import { verifyByAuthor } from '../p2p/signer.ts';
import { LeaderLedger, newer } from './ledger.ts';
import { majorityOf, type ElectionRequest, type ElectionResponse, type ElectionTransport, type Raft } from './raft.ts';
import {
  NotLeaderError,
  RecordGate,
  signRecord,
  type RecordFields,
  type RecordKind,
  type SignedRecord,
} from './records.ts';
import type { ElectionServiceOptions } from './options.ts';

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

const rulesSchema = z.array(redactionRuleSchema);
/** A sync answer carries the newest records up to about this many bytes (the protocol's messages stay small). */
const SYNC_BYTES = 2 * 1024 * 1024;
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

export interface LeaderPathEvents {
  record: [RecordFields];
  rejected: [{ from: string; reason: string }];
}

export class LeaderPaths extends EventEmitter<LeaderPathEvents> {
  private readonly opts: ElectionServiceOptions;
  private readonly raft: Raft;
  private readonly transport: ElectionTransport;
  private readonly self: string;
  private readonly configRules: RedactionRuleConfig[];
  private readonly gate: RecordGate;
  readonly ledger: LeaderLedger;
  private seq = { term: 0, n: 0 };
  private pending: { record: SignedRecord; from: string; until: number }[] = [];
  private catchingUp = false;

  constructor(
    opts: ElectionServiceOptions,
    raft: Raft,
    transport: ElectionTransport,
    configRules: RedactionRuleConfig[],
  ) {
    super();
    this.opts = opts;
    this.raft = raft;
    this.transport = transport;
    this.self = raft.id;
    this.configRules = configRules;
    this.gate = new RecordGate(raft, verifyByAuthor);
    this.ledger = new LeaderLedger(opts.dataDir);
  }

  /** Loads the held records, applies the SHHH policy in force, and follows leader changes. */
  start(): void {
    this.ledger.load();
    this.applyPolicy();
    this.raft.on('leader', ({ leader }) => {
      this.recheckPending();
      if (leader && leader !== this.self) void this.syncFrom([leader]);
      if (leader === this.self) void this.syncFrom((this.raft.voters ?? []).filter((v) => v !== this.self));
    });
    // a heartbeat named a newer record than this node holds: fetch what the leader has (one at a time)
    this.raft.on('behind', ({ leader }) => {
      if (this.catchingUp) return;
      this.catchingUp = true;
      void this.syncFrom([leader]).finally(() => (this.catchingUp = false));
    });
  }

  /** [term, seq] of the newest record held (the election's up-to-date rule compares it). */
  position(): readonly [number, number] {
    return this.ledger.position();
  }

  /** Serves the record and sync requests of the election protocol; undefined for the others. */
  handle(from: string, req: ElectionRequest): ElectionResponse | undefined {
    if (req.type === 'record') {
      const verdict = this.receive(req.record, from);
      return { term: this.raft.term, ok: verdict === 'accepted', reason: verdict };
    }
    if (req.type === 'sync') return { term: this.raft.term, ok: true, records: this.ledger.newestRecords(SYNC_BYTES) };
    return undefined;
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

  /** Keeps, logs and announces an accepted record; false when it was already held. */
  private apply(signed: SignedRecord, fields: RecordFields, via: 'leader' | 'sync' = 'leader'): boolean {
    if (!this.ledger.add(signed, fields, via === 'leader')) return false;
    if (fields.kind === 'shhh-policy' && via === 'leader') this.applyPolicy();
    const summary =
      fields.kind === 'slurp-context'
        ? { kind: 'context', key: (fields.payload as { key?: unknown })?.key }
        : { kind: 'shhh_policy', rules: (fields.payload as { rules?: unknown[] })?.rules?.length };
    this.opts.recorder?.record('slurp_event', {
      ...summary,
      term: fields.term,
      leader: fields.leader,
      seq: fields.seq,
      via,
    });
    this.emit('record', fields);
    return true;
  }

  private applyPolicy(): void {
    const latest = this.ledger.latest('shhh-policy');
    if (!latest || !this.opts.redactor) return;
    try {
      this.opts.redactor.setPolicyRules(parsePolicy(latest.fields.payload));
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
            if (this.apply(signed, fields, 'sync') && fields.kind === 'shhh-policy' && newer(fields, before))
              policyChanged = true;
          }
          this.ledger.save();
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
}
