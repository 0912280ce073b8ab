// The proposal state machine of the consensus log: every node applies the same committed commands in
// the same order, at the time the leader stamped on each, so every node holds the same proposals and
// votes. A proposal opens on one decision record (its hash, written by the proposer's node); one vote
// counts per voter node (a later vote from the same node replaces its earlier one while the proposal is
// open); only votes of the quorum's roles count; the proposal is accepted when approvals reach the
// quorum's count, rejected when rejections do. Retried commands (same request id) are answered from
// memory. The state is bounded: closed proposals are forgotten after the retention (a forgotten
// rejection keeps its record key, so that version stays out of `*^`), at most MAX_OPEN are open (one
// more is recorded as rejected at once, so its version never becomes current) and at most MAX_HELD
// are held.
//
// Vote signatures are checked twice. The leader's vet refuses a forged command before it reaches the
// log, with a precise answer to the sender. The machine verifies again when it applies: Ed25519
// verification (RFC 8032, node:crypto on every node) is a pure function of the key, the bytes and the
// signature, so every node reaches the same verdict, and the tally is then a function of signed ballots
// alone — a vote whose signature does not hold never counts, whichever leader let it in (an older
// version's vet, a snapshot from elsewhere). It costs about 0.1 ms per vote.
import type { LogEntry, StateMachine } from '../election/consensus-log.ts';
import { voteVerifies, type ProposalCommand } from './commands.ts';
import { tally, type Proposal, type ProposalState, type Vote } from './model.ts';

/** Why a command was refused; the code is stable (the API maps it to a status, the CLI to exit 1). */
export type RefusalCode =
  'NO_PROPOSAL' | 'PROPOSAL_CLOSED' | 'NOT_ELIGIBLE' | 'BAD_SIGNATURE' | 'DUPLICATE' | 'TOO_MANY_OPEN' | 'STALE';

/** A proposal as the machine holds it (votes as signed, without a node's verification flag). */
export type HeldProposal = Omit<Proposal, 'votes'> & { votes: Vote[] };

export type ProposalResult =
  | { ok: true; proposal: HeldProposal; index: number }
  | { ok: false; code: RefusalCode; message: string; index: number; proposal?: HeldProposal };
export interface PruneResult {
  ok: true;
  pruned: number;
  index: number;
}

export interface ProposalEvent {
  kind: 'opened' | 'voted' | 'accepted' | 'rejected';
  proposal: HeldProposal;
  /** The vote that caused it (a vote, or the vote that decided). */
  vote?: Vote;
  term: number;
  index: number;
}

/** Request ids remembered for answering retries. */
const MAX_REMEMBERED = 10_000;
/** Open proposals at once (one more is recorded as rejected). */
export const MAX_OPEN = 1_000;
/** Proposals held at once: beyond it the oldest closed ones are forgotten early. */
export const MAX_HELD = 10_000;
/** Keys of forgotten rejected versions kept (the oldest go first). */
export const MAX_FORGOTTEN_REJECTED = 10_000;

interface Remembered {
  ok: boolean;
  code?: RefusalCode;
  message?: string;
  id?: string;
  index: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();
/** A proposal applies to the record with this hash written by this node (its author). */
const recordKey = (hash: string, author: string): string => `${hash} ${author}`;

export class ProposalMachine implements StateMachine {
  /** By id, in creation order. */
  private proposals = new Map<string, HeldProposal>();
  /** Record key (hash, proposer) → proposal id, for every held proposal. */
  private byRecord = new Map<string, string>();
  private openCount = 0;
  /** Record keys of rejected versions whose proposals were forgotten. */
  private forgottenRejected = new Set<string>();
  private next = 1;
  private clock = 0;
  private remembered = new Map<string, Remembered>();
  private listener: ((e: ProposalEvent) => void) | undefined;
  private current = { term: 0, index: 0 };

  /** Receives every change as it is applied. */
  onEvent(fn: (e: ProposalEvent) => void): void {
    this.listener = fn;
  }

  // ---- reads --------------------------------------------------------------------------------------

  get(id: string): HeldProposal | undefined {
    return this.proposals.get(id);
  }

  /** Every held proposal, in creation order. */
  all(): HeldProposal[] {
    return [...this.proposals.values()];
  }

  /** What voting says about one decision record: its proposal, or a remembered rejection, or nothing. */
  recordState(hash: string, author: string): { state: ProposalState; proposal?: HeldProposal } | undefined {
    const key = recordKey(hash, author);
    const id = this.byRecord.get(key);
    const proposal = id === undefined ? undefined : this.proposals.get(id);
    if (proposal) return { state: proposal.state, proposal };
    return this.forgottenRejected.has(key) ? { state: 'rejected' } : undefined;
  }

  get size(): number {
    return this.proposals.size;
  }

  // ---- the state machine ----------------------------------------------------------------------------

  snapshot(): unknown {
    return {
      proposals: [...this.proposals.values()],
      forgottenRejected: [...this.forgottenRejected],
      next: this.next,
      clock: this.clock,
      remembered: [...this.remembered],
    };
  }

  restore(state: unknown): void {
    const s = state as
      | {
          proposals?: HeldProposal[];
          forgottenRejected?: string[];
          next?: number;
          clock?: number;
          remembered?: [string, Remembered][];
        }
      | undefined;
    this.proposals = new Map((s?.proposals ?? []).map((p) => [p.id, p]));
    this.byRecord = new Map([...this.proposals.values()].map((p) => [recordKey(p.hash, p.proposer.node), p.id]));
    this.openCount = [...this.proposals.values()].filter((p) => p.state === 'open').length;
    this.forgottenRejected = new Set(s?.forgottenRejected ?? []);
    this.next = s?.next ?? 1;
    this.clock = s?.clock ?? 0;
    this.remembered = new Map(s?.remembered ?? []);
  }

  apply(entry: LogEntry): ProposalResult | PruneResult {
    this.current = { term: entry.term, index: entry.index };
    const cmd = entry.data as ProposalCommand;
    const seen = typeof cmd?.rid === 'string' ? this.remembered.get(cmd.rid) : undefined;
    if (seen) return this.replay(seen);
    let result: ProposalResult | PruneResult;
    try {
      result = this.run(cmd);
    } catch (err) {
      // a command that slipped past the leader's check: refused here, identically on every node
      result = this.refuse('STALE', `malformed command: ${(err as Error).message}`);
    }
    if (typeof cmd?.rid === 'string' && !('pruned' in result)) this.remember(cmd.rid, result);
    return result;
  }

  private replay(r: Remembered): ProposalResult {
    const proposal = r.id === undefined ? undefined : this.proposals.get(r.id);
    if (!r.ok) {
      const refusal = { ok: false as const, code: r.code ?? 'STALE', message: r.message ?? 'refused', index: r.index };
      return proposal ? { ...refusal, proposal } : refusal;
    }
    if (!proposal) return { ok: false, code: 'NO_PROPOSAL', message: `no proposal ${r.id}`, index: r.index };
    return { ok: true, proposal, index: r.index };
  }

  private remember(rid: string, r: ProposalResult): void {
    this.remembered.set(
      rid,
      r.ok
        ? { ok: true, id: r.proposal.id, index: r.index }
        : { ok: false, code: r.code, message: r.message, id: r.proposal?.id, index: r.index },
    );
    if (this.remembered.size > MAX_REMEMBERED) this.remembered.delete(this.remembered.keys().next().value as string);
  }

  private refuse(code: RefusalCode, message: string, proposal?: HeldProposal): ProposalResult {
    return { ok: false, code, message, index: this.current.index, ...(proposal ? { proposal } : {}) };
  }

  private done(proposal: HeldProposal): ProposalResult {
    return { ok: true, proposal, index: this.current.index };
  }

  private emit(e: Omit<ProposalEvent, 'term' | 'index'>): void {
    this.listener?.({ ...e, term: this.current.term, index: this.current.index });
  }

  private run(cmd: ProposalCommand): ProposalResult | PruneResult {
    // cluster time never runs backwards, whichever leader stamped the command
    cmd.at = Math.max(cmd.at, this.clock);
    this.clock = cmd.at;
    switch (cmd.op) {
      case 'open':
        return this.open(cmd);
      case 'vote':
        return this.vote(cmd);
      case 'prune':
        return this.prune(cmd.before);
    }
  }

  private open(cmd: Extract<ProposalCommand, { op: 'open' }>): ProposalResult {
    const key = recordKey(cmd.hash, cmd.proposer.node);
    const existing = this.byRecord.get(key) ?? (this.forgottenRejected.has(key) ? 'since forgotten' : undefined);
    if (existing !== undefined)
      return this.refuse('DUPLICATE', `version ${cmd.version} of ${cmd.subject} was proposed already (${existing})`);
    const proposal: HeldProposal = {
      id: `p-${this.next++}`,
      subject: cmd.subject,
      address: cmd.address,
      version: cmd.version,
      hash: cmd.hash,
      proposer: { agent: cmd.proposer.agent, node: cmd.proposer.node, role: cmd.proposer.role },
      quorum: { count: cmd.quorum.count, roles: [...new Set(cmd.quorum.roles)] },
      ...(cmd.reason ? { reason: cmd.reason } : {}),
      state: 'open',
      createdAt: iso(cmd.at),
      votes: [],
    };
    this.proposals.set(proposal.id, proposal);
    this.byRecord.set(key, proposal.id);
    if (this.openCount >= MAX_OPEN) {
      // the version is written already: recorded as rejected, it never becomes current
      proposal.state = 'rejected';
      proposal.decidedAt = proposal.createdAt;
      proposal.note = `${MAX_OPEN} proposals are open: decide some first, then propose again`;
      this.emit({ kind: 'rejected', proposal });
      this.bound();
      return this.refuse('TOO_MANY_OPEN', `${proposal.note} (${proposal.id} is recorded as rejected)`, proposal);
    }
    this.openCount++;
    this.emit({ kind: 'opened', proposal });
    this.bound();
    return this.done(proposal);
  }

  private vote(cmd: Extract<ProposalCommand, { op: 'vote' }>): ProposalResult {
    const p = this.proposals.get(cmd.id);
    if (!p) return this.refuse('NO_PROPOSAL', `no proposal ${cmd.id}`);
    const ballot = cmd.ballot;
    if (ballot.proposal !== cmd.id || !voteVerifies(ballot, cmd.signature))
      return this.refuse('BAD_SIGNATURE', `the vote on ${cmd.id} is not signed by node ${ballot.voter.node}`);
    if (p.state !== 'open') return this.refuse('PROPOSAL_CLOSED', `${p.id} is ${p.state} already`, p);
    if (!p.quorum.roles.includes(ballot.voter.role))
      return this.refuse(
        'NOT_ELIGIBLE',
        `${p.id} counts votes of ${p.quorum.roles.join(', ')} only (this node is ${ballot.voter.role})`,
        p,
      );
    const vote: Vote = {
      proposal: ballot.proposal,
      vote: ballot.vote,
      reason: ballot.reason,
      voter: { agent: ballot.voter.agent, node: ballot.voter.node, role: ballot.voter.role },
      at: ballot.at,
      signature: cmd.signature,
    };
    // one vote per voter node: a later one replaces it (the list is in the order votes were last cast)
    p.votes = [...p.votes.filter((v) => v.voter.node !== vote.voter.node), vote];
    const t = tally(p);
    const decided: ProposalState | undefined =
      t.approve >= p.quorum.count ? 'accepted' : t.reject >= p.quorum.count ? 'rejected' : undefined;
    if (decided) {
      p.state = decided;
      p.decidedAt = iso(cmd.at);
      this.openCount--;
    }
    this.emit({ kind: decided ?? 'voted', proposal: p, vote });
    return this.done(p);
  }

  /** Forgets closed proposals decided before `before`; a rejected version's record key is kept. */
  private prune(before: number): PruneResult {
    let pruned = 0;
    for (const p of this.all()) {
      if (p.state !== 'open' && Date.parse(p.decidedAt ?? p.createdAt) < before) {
        this.forget(p);
        pruned++;
      }
    }
    return { ok: true, pruned, index: this.current.index };
  }

  /** Keeps at most MAX_HELD proposals: the oldest closed ones go first (open ones are capped by MAX_OPEN). */
  private bound(): void {
    if (this.proposals.size <= MAX_HELD) return;
    for (const p of this.all()) {
      if (this.proposals.size <= MAX_HELD) return;
      if (p.state !== 'open') this.forget(p);
    }
  }

  private forget(p: HeldProposal): void {
    const key = recordKey(p.hash, p.proposer.node);
    this.proposals.delete(p.id);
    this.byRecord.delete(key);
    if (p.state !== 'rejected') return;
    this.forgottenRejected.add(key);
    if (this.forgottenRejected.size > MAX_FORGOTTEN_REJECTED)
      this.forgottenRejected.delete(this.forgottenRejected.values().next().value as string);
  }
}
