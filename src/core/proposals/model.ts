// What decision voting is made of: a proposal (one decision version waiting for a quorum), its quorum,
// the votes, and the ballot each voter's node signs — with the parsers of user input and the canonical
// bytes of a ballot (pure; shared by the node, the client verbs and the portal, so it loads only zod).
import * as z from 'zod';
import { signedBytes } from '../canonical.ts';
import { UsageError } from '../errors.ts';

export const PROPOSAL_STATES = ['open', 'accepted', 'rejected'] as const;
export type ProposalState = (typeof PROPOSAL_STATES)[number];
export const VOTE_CHOICES = ['approve', 'reject'] as const;
export type VoteChoice = (typeof VOTE_CHOICES)[number];

/** The documented limits (docs/decisions.md). */
export const PROPOSAL_LIMITS = {
  reasonChars: 2000,
  quorumRoles: 32,
  maxCount: 100,
} as const;

export const PROPOSAL_ID = /^p-[0-9]+$/;
const ROLE = /^[a-zA-Z0-9_-]{1,64}$/;

/** Who proposes or votes: an agent name on a node, with the node's role (the node signs). */
export interface Participant {
  agent: string;
  node: string;
  role: string;
}

export interface Quorum {
  /** Approvals needed to accept (and rejections needed to reject). */
  count: number;
  /** Only votes from nodes of these roles count. */
  roles: string[];
}

/** What a voter's node signs: RFC 8785 canonical JSON of this object, after the domain line. */
export interface Ballot {
  proposal: string;
  vote: VoteChoice;
  reason: string;
  voter: Participant;
  /** The voter's clock, ISO 8601. */
  at: string;
}

export interface Vote extends Ballot {
  /** Ed25519 signature of the voter's node over ballotBytes(ballot), base64. */
  signature: string;
}

/** A vote as the API shows it: `verified` is this node's own check of the signature when it answered. */
export interface VoteView extends Omit<Vote, 'proposal'> {
  verified: boolean;
}

export interface Proposal {
  id: string;
  /** The decision's subject (`agent:role@project:task/path`). */
  subject: string;
  /** The proposed version's address (`ucxl://…/*~N/path`). */
  address: string;
  version: number;
  /** The hash of the proposed version's record: the proposal is about exactly that record. */
  hash: string;
  proposer: Participant;
  quorum: Quorum;
  reason?: string;
  state: ProposalState;
  createdAt: string;
  decidedAt?: string;
  /** Why the cluster (not the voters) decided, e.g. another proposal was open on the subject. */
  note?: string;
  votes: VoteView[];
}

/** Signature domain of a ballot (a signature made for anything else never verifies as a vote). */
export const BALLOT_DOMAIN = 'chorus-vote/1';

/** The bytes a voter's node signs: `chorus-vote/1\n` + RFC 8785 JSON of `{ proposal, vote, reason, voter, at }`. */
export function ballotBytes(b: Ballot): Buffer {
  const { proposal, vote, reason, voter, at } = b;
  return signedBytes(BALLOT_DOMAIN, {
    proposal,
    vote,
    reason,
    voter: { agent: voter.agent, node: voter.node, role: voter.role },
    at,
  });
}

export const participantSchema = z.strictObject({
  agent: z.string().regex(/^[a-zA-Z0-9_.@-]{1,64}$/, 'an agent name: letters, digits, ".", "_", "@", "-"'),
  node: z.string().min(1).max(128),
  role: z.string().regex(ROLE, 'a role name: letters, digits, "_" and "-"'),
});

export const quorumSchema = z.strictObject({
  count: z
    .number({ error: 'quorum.count must be a number' })
    .int('quorum.count must be a whole number')
    .min(1, 'quorum.count must be at least 1')
    .max(PROPOSAL_LIMITS.maxCount, `quorum.count must be at most ${PROPOSAL_LIMITS.maxCount}`),
  roles: z
    .array(z.string().regex(ROLE, 'a role name: letters, digits, "_" and "-"'))
    .min(1, 'quorum.roles must name at least one role')
    .max(PROPOSAL_LIMITS.quorumRoles),
});

export const reasonSchema = z
  .string()
  .max(PROPOSAL_LIMITS.reasonChars, `at most ${PROPOSAL_LIMITS.reasonChars} characters`);

function usage(field: string, error: z.ZodError): UsageError {
  const issue = error.issues[0];
  const path = [field, ...(issue?.path ?? [])].filter((p) => p !== '').join('.');
  return new UsageError(`${path}: ${issue?.message ?? 'invalid'}`);
}

/** Validates a quorum given by a user (`--quorum 2 --voters architect,admin`); duplicate roles are merged. */
export function parseQuorum(input: unknown): Quorum {
  const parsed = quorumSchema.safeParse(input);
  if (!parsed.success) throw usage('quorum', parsed.error);
  return { count: parsed.data.count, roles: [...new Set(parsed.data.roles)] };
}

export function parseProposalId(id: unknown): string {
  if (typeof id !== 'string' || !PROPOSAL_ID.test(id))
    throw new UsageError(`not a proposal id: ${String(id)} (e.g. p-3)`);
  return id;
}

export function parseVoteChoice(vote: unknown): VoteChoice {
  if (typeof vote !== 'string' || !(VOTE_CHOICES as readonly string[]).includes(vote))
    throw new UsageError(`a vote is "approve" or "reject", not ${JSON.stringify(vote)}`);
  return vote as VoteChoice;
}

/** A vote needs a reason (one line or a paragraph, at most 2000 characters). */
export function parseVoteReason(reason: unknown): string {
  if (typeof reason !== 'string' || reason.trim() === '') throw new UsageError('a vote needs a reason (--reason "…")');
  const parsed = reasonSchema.safeParse(reason);
  if (!parsed.success) throw usage('reason', parsed.error);
  return reason;
}

export function parseProposalState(state: unknown): ProposalState {
  if (typeof state !== 'string' || !(PROPOSAL_STATES as readonly string[]).includes(state))
    throw new UsageError(`unknown proposal state ${String(state)} (one of ${PROPOSAL_STATES.join(', ')})`);
  return state as ProposalState;
}

/** Approvals and rejections that count (votes of the quorum's roles). */
export function tally(p: Pick<Proposal, 'quorum'> & { votes: readonly Pick<Vote, 'vote' | 'voter'>[] }): {
  approve: number;
  reject: number;
} {
  const counted = p.votes.filter((v) => p.quorum.roles.includes(v.voter.role));
  return {
    approve: counted.filter((v) => v.vote === 'approve').length,
    reject: counted.filter((v) => v.vote === 'reject').length,
  };
}
