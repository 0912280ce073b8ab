// The node's decision-voting service: registers the proposal state machine on the consensus log, plugs
// voting into the decision store (`*^` steps back over open and rejected versions; reads carry each
// version's proposal), writes a proposed version and opens its proposal, signs this node's votes with
// its Ed25519 key and sends them through the leader (from any node), and — on the leader — forgets
// decided proposals past their retention. Every committed change is written to this node's event log
// (type `decision`) and emitted as a `proposal` event for watchers (the portal's event stream).
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { DecisionStore, PutReceipt } from '../decisions/store.ts';
import { ReplicationError } from '../decisions/store.ts';
import { clockTimeout } from '../election/forward.ts';
import { systemClock, type Clock } from '../election/raft.ts';
import type { ElectionService } from '../election/service.ts';
import { ChorusError, describeError, UsageError } from '../errors.ts';
import { checkDecisionSize } from '../limits.ts';
import type { Logger } from '../log.ts';
import type { Signer } from '../p2p/signer.ts';
import { isPattern, parseAddress, requireDecisionPath, subjectKey } from '../ucxl/address.ts';
import { vetCommand, voteVerifies, type ProposalRequest } from './commands.ts';
import { ProposalMachine, type HeldProposal, type ProposalEvent, type ProposalResult } from './machine.ts';
import {
  ballotBytes,
  parseProposalId,
  parseQuorum,
  parseVoteChoice,
  parseVoteReason,
  PROPOSAL_LIMITS,
  type Ballot,
  type Participant,
  type Proposal,
  type ProposalState,
  type Vote,
  type VoteView,
} from './model.ts';

export interface VotesConfig {
  requestTimeoutMs: number;
  retainMs: number;
}

/** How often the leader looks for decided proposals past their retention. */
const PRUNE_EVERY_MS = 60_000;

/** HTTP statuses of the refusals (the API contract): the CLI exits 1 on each. */
const STATUS: Record<string, number> = {
  NO_PROPOSAL: 404,
  NOT_ELIGIBLE: 403,
  BAD_SIGNATURE: 403,
  FORGED: 403,
  FORBIDDEN: 403,
  PROPOSAL_CLOSED: 409,
  PROPOSAL_OPEN: 409,
  DUPLICATE: 409,
  TOO_MANY_OPEN: 409,
  STALE: 409,
};

export interface ProposalServiceOptions {
  election: Pick<ElectionService, 'register' | 'submit' | 'raft' | 'log'>;
  /** This node's key (its author is this node's peer ID): it signs the votes this node casts. */
  signer: Pick<Signer, 'author' | 'sign'>;
  decisions: Pick<DecisionStore, 'put' | 'useVotes'>;
  /** The running configuration: the votes settings, and the agent name and role this node acts under. */
  config: () => { votes: VotesConfig; agent: { name: string; role: string } };
  recorder?: { record(kind: string, data: unknown): void };
  logger: Logger;
  clock?: Clock;
}

export interface ProposeInput {
  /** A decision address ending in `*^` (the next version is written). */
  address: string;
  content: Uint8Array;
  contentType?: string;
  /** Roles the version is encrypted for (default: this node's role). */
  roles?: string[];
  quorum: unknown;
  reason?: string;
  /** The agent proposing (default: agent.name). */
  agent?: string;
}

export interface ProposalFilter {
  state?: ProposalState[];
  /** A subject (`agent:role@project:task/path`) or any address of it. */
  subject?: string;
}

/** What changed, with each `proposal` event. */
export interface ProposalChange {
  kind: ProposalEvent['kind'];
  term: number;
  index: number;
}

export interface ProposalServiceEvents {
  /** Every committed change of a proposal, on every node: the proposal as it is now. */
  proposal: [Proposal, ProposalChange];
}

export class ProposalService extends EventEmitter<ProposalServiceEvents> {
  readonly machine = new ProposalMachine();
  private readonly opts: ProposalServiceOptions;
  /** This node's peer ID. */
  private readonly self: string;
  private readonly clock: Clock;
  private readonly stopping = new AbortController();
  private timer: unknown;
  private lastPrune = 0;
  private pruning = false;
  /** This node's verdict on each vote's signature (votes are immutable once recorded). */
  private readonly verdicts = new WeakMap<Vote, boolean>();

  constructor(opts: ProposalServiceOptions) {
    super();
    this.setMaxListeners(0);
    this.opts = opts;
    this.self = opts.signer.author;
    this.clock = opts.clock ?? systemClock;
    this.machine.onEvent((e) => this.onEvent(e));
    opts.election.register('proposals', this.machine, {
      forward: true,
      // the leader's clock stamps every command: all nodes apply it at the same time
      vet: (data, from) => ({ ...vetCommand(data, from, this.self), at: Math.round(this.clock.now()) }),
    });
  }

  start(): void {
    this.opts.decisions.useVotes({
      of: (record) => {
        const v = this.machine.recordState(record.hash, record.author);
        if (!v) return undefined;
        return v.proposal ? { state: v.state, proposal: this.view(v.proposal) } : { state: v.state };
      },
    });
    const duty = (): void => {
      if (this.stopping.signal.aborted) return;
      this.leaderDuties();
      this.timer = this.clock.setTimeout(duty, 1000);
    };
    this.timer = this.clock.setTimeout(duty, 1000);
  }

  stop(): void {
    this.stopping.abort();
    this.clock.clearTimeout(this.timer);
    this.opts.decisions.useVotes(undefined);
  }

  // ---- reads (this node's applied state) ----------------------------------------------------------

  /** A proposal as the API shows it: every vote with this node's check of its signature. */
  view(p: HeldProposal): Proposal {
    return { ...p, votes: p.votes.map((v) => this.voteView(v)) };
  }

  private voteView(v: Vote): VoteView {
    let verified = this.verdicts.get(v);
    if (verified === undefined) {
      verified = voteVerifies(v, v.signature);
      this.verdicts.set(v, verified);
    }
    const { proposal: _id, ...rest } = v;
    return { ...rest, verified };
  }

  get(id: string): Proposal {
    const p = this.machine.get(parseProposalId(id));
    if (!p) throw refusal('NO_PROPOSAL', `no proposal ${id}`);
    return this.view(p);
  }

  /** Proposals this node holds, in creation order. */
  list(filter: ProposalFilter = {}): Proposal[] {
    const subject = filter.subject === undefined ? undefined : subjectOf(filter.subject);
    return this.machine
      .all()
      .filter((p) => (!filter.state?.length || filter.state.includes(p.state)) && (!subject || p.subject === subject))
      .map((p) => this.view(p));
  }

  // ---- writes (through the leader) ------------------------------------------------------------------

  private participant(agent?: string): Participant {
    const a = this.opts.config().agent;
    if (agent !== undefined && !/^[a-zA-Z0-9_.@-]{1,64}$/.test(agent))
      throw new UsageError(`not an agent name: ${agent}`);
    return { agent: agent ?? a.name, node: this.self, role: a.role };
  }

  /** The signal of one change: its deadline, the service's stop and the caller's signal. */
  private deadline(signal?: AbortSignal): AbortSignal {
    const timeout = clockTimeout(this.clock, this.opts.config().votes.requestTimeoutMs);
    return AbortSignal.any([timeout, this.stopping.signal, ...(signal ? [signal] : [])]);
  }

  /**
   * Sends a command through the leader and waits until this node applied it (a read here then sees it);
   * a refusal becomes a typed error with its HTTP status.
   */
  private async send(req: ProposalRequest, signal: AbortSignal): Promise<Extract<ProposalResult, { ok: true }>> {
    const command = { ...req, rid: randomUUID(), at: Math.round(this.clock.now()) };
    let result: ProposalResult | undefined;
    try {
      result = (await this.opts.election.submit('proposals', command, signal)) as ProposalResult | undefined;
    } catch (err) {
      // the leader's vet refuses forged commands; its answer loses the status on the way back
      if (err instanceof ChorusError && STATUS[err.code]) throw refusal(err.code, err.message);
      throw err;
    }
    if (!result) throw new ChorusError('NOT_COMMITTED', 'the proposal change was not applied');
    await this.opts.election.log.waitApplied(result.index, signal).catch(() => {});
    if (!result.ok) throw refusal(result.code, result.message);
    return result;
  }

  /**
   * Writes the next version of a decision and opens its proposal: until the quorum approves it, `*^`
   * keeps returning the version before it. Refused before anything is written when the input is bad or
   * the newest version is still open (the store's check, PROPOSAL_OPEN).
   */
  async propose(input: ProposeInput, signal?: AbortSignal): Promise<{ proposal: Proposal; receipt: PutReceipt }> {
    const address = requireDecisionPath(parseAddress(input.address), input.address);
    if (isPattern(address))
      throw new UsageError('cannot propose at an address with "any": name the agent, role, project and task');
    if (address.temporal.kind !== 'latest')
      throw new UsageError('a proposal writes the next version: use *^ in the address');
    const quorum = parseQuorum(input.quorum);
    if (input.reason !== undefined && input.reason.length > PROPOSAL_LIMITS.reasonChars)
      throw new UsageError(`reason: at most ${PROPOSAL_LIMITS.reasonChars} characters`);
    checkDecisionSize(input.content.byteLength);
    const proposer = this.participant(input.agent);
    const all = this.deadline(signal);
    let receipt: PutReceipt;
    let unreplicated: ReplicationError | undefined;
    try {
      receipt = await this.opts.decisions.put(address, input.content, {
        contentType: input.contentType,
        roles: input.roles,
        signal: all,
      });
    } catch (err) {
      // the version exists (kept locally, re-replicated later): it must not become current unvoted
      if (!(err instanceof ReplicationError && err.receipt)) throw err;
      receipt = err.receipt;
      unreplicated = err;
    }
    let r: Extract<ProposalResult, { ok: true }>;
    try {
      r = await this.send(
        {
          op: 'open',
          proposer,
          subject: receipt.subject,
          address: receipt.address,
          version: receipt.version,
          hash: receipt.hash,
          quorum,
          ...(input.reason ? { reason: input.reason } : {}),
        },
        all,
      );
    } catch (err) {
      throw new ChorusError(
        err instanceof ChorusError ? err.code : 'NOT_COMMITTED',
        `version ${receipt.version} of ${receipt.address.replace(/\/\*~\d+/, '/*^')} was written, but its proposal was not opened: ${describeError(err)}`,
        { status: err instanceof ChorusError ? err.status : undefined, cause: err },
      );
    }
    if (unreplicated)
      throw new ChorusError(
        'REPLICATION_FAILED',
        `proposal ${r.proposal.id} is open for version ${receipt.version}, but ${describeError(unreplicated)}`,
      );
    return { proposal: this.view(r.proposal), receipt };
  }

  /** Casts this node's vote, signed with its key; a later vote from this node replaces it while open. */
  async vote(
    id: string,
    opts: { vote: unknown; reason: unknown; agent?: string; signal?: AbortSignal },
  ): Promise<Proposal> {
    const ballot: Ballot = {
      proposal: parseProposalId(id),
      vote: parseVoteChoice(opts.vote),
      reason: parseVoteReason(opts.reason),
      voter: this.participant(opts.agent),
      at: new Date(this.clock.now()).toISOString(),
    };
    const signature = Buffer.from(this.opts.signer.sign(ballotBytes(ballot))).toString('base64');
    const r = await this.send({ op: 'vote', id: ballot.proposal, ballot, signature }, this.deadline(opts.signal));
    return this.view(r.proposal);
  }

  // ---- duties ---------------------------------------------------------------------------------------

  /** Leader only: forgets decided proposals past the retention (the machine re-checks the time). */
  private leaderDuties(): void {
    const { raft, log } = this.opts.election;
    if (raft.state !== 'leader' || !log.leading || this.pruning) return;
    const now = this.clock.now();
    const retainMs = this.opts.config().votes.retainMs;
    if (now - this.lastPrune < Math.min(PRUNE_EVERY_MS, retainMs)) return;
    this.lastPrune = now;
    const before = Math.round(now - retainMs);
    if (!this.machine.all().some((p) => p.state !== 'open' && Date.parse(p.decidedAt ?? p.createdAt) < before)) return;
    this.pruning = true;
    this.send({ op: 'prune', before }, this.deadline())
      .catch((err) => this.opts.logger.debug('proposal pruning not applied', { error: describeError(err) }))
      .finally(() => (this.pruning = false));
  }

  // ---- notifications --------------------------------------------------------------------------------

  private onEvent(e: ProposalEvent): void {
    const p = e.proposal;
    this.opts.recorder?.record('decision', {
      event: e.kind === 'voted' ? 'vote' : `proposal_${e.kind}`,
      proposal: p.id,
      subject: p.subject,
      version: p.version,
      state: p.state,
      ...(e.vote
        ? { voter: e.vote.voter, vote: e.vote.vote, reason: e.vote.reason, signature: e.vote.signature }
        : { proposer: p.proposer, quorum: p.quorum }),
      ...(p.note ? { note: p.note } : {}),
      term: e.term,
      index: e.index,
    });
    this.emit('proposal', this.view(p), { kind: e.kind, term: e.term, index: e.index });
  }
}

/** A refusal as the API answers it (the contract's status for each code). */
function refusal(code: string, message: string): ChorusError {
  return new ChorusError(code, message, { status: STATUS[code] });
}

/** A subject key from a subject or any address of it. */
function subjectOf(value: string): string {
  return value.startsWith('ucxl://') ? subjectKey(parseAddress(value)) : value;
}
