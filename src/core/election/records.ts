// Leader-only records (SLURP context writes, SHHH policy changes): the leader signs {kind, term,
// leader, seq, payload} with its libp2p key; every node accepts a record only when the signature is
// the leader's, the signer is the leader it knows for that term, and the term is older neither than the
// newest term it has seen a leader for nor than its own current term. Records of a term whose leader is not known yet wait (pending)
// until the election tells this node who leads that term, or expire.
import { ChorusError } from '../errors.ts';
import type { Signer } from '../p2p/signer.ts';

export const RECORD_KINDS = ['slurp-context', 'shhh-policy'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

export interface RecordFields {
  kind: RecordKind;
  term: number;
  leader: string;
  seq: number;
  issuedAt: string;
  payload: unknown;
}

/** On the wire: the exact signed JSON text and its signature (base64). */
export interface SignedRecord {
  body: string;
  sig: string;
}

export type Verdict =
  | { ok: true; record: RecordFields }
  | { ok: false; reason: 'malformed' | 'signature' | 'stale-term' | 'not-leader' | 'unknown-leader' | 'replay' };

/** A node asked for a leader-only write that is not (or no longer safely) the leader. */
export class NotLeaderError extends ChorusError {
  readonly leader: string | undefined;
  constructor(leader: string | undefined, detail = '') {
    super(
      'NOT_LEADER',
      `this node is not the leader${leader ? `; the leader is ${leader}` : '; no leader is elected right now'}${detail ? ` (${detail})` : ''}`,
    );
    this.name = 'NotLeader';
    this.leader = leader;
  }
}

export function signRecord(signer: Signer, fields: RecordFields): SignedRecord {
  const body = JSON.stringify(fields);
  return { body, sig: Buffer.from(signer.sign(Buffer.from(body, 'utf8'))).toString('base64') };
}

function parseFields(body: string): RecordFields | undefined {
  try {
    const f = JSON.parse(body) as RecordFields;
    if (
      typeof f === 'object' &&
      f !== null &&
      (RECORD_KINDS as readonly string[]).includes(f.kind) &&
      Number.isInteger(f.term) &&
      typeof f.leader === 'string' &&
      Number.isInteger(f.seq) &&
      typeof f.issuedAt === 'string'
    )
      return f;
  } catch {
    // malformed
  }
  return undefined;
}

export interface LeaderKnowledge {
  leaderOf(term: number): string | undefined;
  readonly highestKnownLeaderTerm: number;
  /** This node's current term: a record of an older term is stale (as Raft rejects stale appends). */
  readonly term?: number;
}

export type VerifyFn = (author: string, data: Uint8Array, signature: Uint8Array) => boolean;

/** Decides whether a leader-only record is acceptable, given what this node knows about leaders. */
export class RecordGate {
  private readonly knowledge: LeaderKnowledge;
  private readonly verify: VerifyFn;
  /** Per kind: the newest (term, seq) accepted — older ones are replays. */
  private readonly newest = new Map<RecordKind, { term: number; seq: number }>();

  constructor(knowledge: LeaderKnowledge, verify: VerifyFn) {
    this.knowledge = knowledge;
    this.verify = verify;
  }

  check(rec: SignedRecord): Verdict {
    if (typeof rec?.body !== 'string' || typeof rec.sig !== 'string') return { ok: false, reason: 'malformed' };
    const f = parseFields(rec.body);
    if (!f) return { ok: false, reason: 'malformed' };
    if (!this.verify(f.leader, Buffer.from(rec.body, 'utf8'), Buffer.from(rec.sig, 'base64')))
      return { ok: false, reason: 'signature' };
    const highest = this.knowledge.highestKnownLeaderTerm;
    if (f.term < highest || f.term < (this.knowledge.term ?? 0)) return { ok: false, reason: 'stale-term' };
    const leader = this.knowledge.leaderOf(f.term);
    if (leader === undefined) return { ok: false, reason: f.term > highest ? 'unknown-leader' : 'stale-term' };
    if (leader !== f.leader) return { ok: false, reason: 'not-leader' };
    const last = this.newest.get(f.kind);
    if (last && (f.term < last.term || (f.term === last.term && f.seq <= last.seq)))
      return { ok: false, reason: 'replay' };
    this.newest.set(f.kind, { term: f.term, seq: f.seq });
    return { ok: true, record: f };
  }
}
