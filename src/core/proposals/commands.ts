// The commands that change proposals, as they travel in the consensus log, and the leader's check of
// each (vet): well-formed; a proposal is opened only as the node that forwarded it (and it only ever
// applies to a record that node wrote: see the store's hook in service.ts); a vote is cast only by its
// own node (the ballot names the forwarding peer and carries that node's signature, for this proposal);
// only the leader prunes. Anything else is refused before it reaches the log.
import * as z from 'zod';
import { ChorusError, UsageError } from '../errors.ts';
import { verifyByAuthor } from '../p2p/signer.ts';
import { ballotBytes, participantSchema, PROPOSAL_ID, quorumSchema, reasonSchema, VOTE_CHOICES } from './model.ts';

const base = {
  /** Request id: a retried command is answered from memory, never applied twice. */
  rid: z.string().min(8).max(64),
  /** The leader's wall clock (ms) when it accepted the command: every node applies it at this time. */
  at: z.number().int().nonnegative(),
};
const id = z.string().regex(PROPOSAL_ID);
const base64 = z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/, 'base64');

export const ballotSchema = z.strictObject({
  proposal: id,
  vote: z.enum(VOTE_CHOICES),
  reason: reasonSchema.min(1),
  voter: participantSchema,
  at: z.string().datetime({ offset: true }),
});

export const proposalCommandSchema = z.discriminatedUnion('op', [
  z.object({
    op: z.literal('open'),
    ...base,
    proposer: participantSchema,
    subject: z.string().min(1).max(1024),
    address: z.string().startsWith('ucxl://').max(2048),
    version: z.number().int().min(1),
    /** The proposed record's hash: the proposal is about exactly the record with this hash and author. */
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    quorum: quorumSchema,
    reason: reasonSchema.optional(),
  }),
  z.object({ op: z.literal('vote'), ...base, id, ballot: ballotSchema, signature: base64.max(200) }),
  /** Leader: forget closed proposals decided before `before` (ms). */
  z.object({ op: z.literal('prune'), ...base, before: z.number().int().nonnegative() }),
]);
export type ProposalCommand = z.output<typeof proposalCommandSchema>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A command as a node composes it, before the request id and the leader's time are added. */
export type ProposalRequest = DistributiveOmit<ProposalCommand, 'rid' | 'at'>;

/** A refusal of the leader's check (not bad input from a user: exit 1, HTTP 403). */
export class ForgedError extends ChorusError {
  constructor(code: string, message: string) {
    super(code, message, { status: 403 });
    this.name = 'ForgedError';
  }
}

/** Whether a vote's signature holds: the voter's node signed this ballot. */
export function voteVerifies(ballot: z.output<typeof ballotSchema>, signature: string): boolean {
  return verifyByAuthor(ballot.voter.node, ballotBytes(ballot), Buffer.from(signature, 'base64'));
}

/**
 * The leader's check of a proposed command (`from`: the authenticated peer that forwarded it; `self`: the
 * leader). Returns the command to propose; throws a UsageError for a malformed one and a ForgedError for
 * one that acts as another node.
 */
export function vetCommand(data: unknown, from: string, self: string): ProposalCommand {
  const parsed = proposalCommandSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`malformed proposal command: ${issue?.path.join('.') || 'command'}: ${issue?.message}`);
  }
  const cmd = parsed.data;
  if (cmd.op === 'open') {
    if (cmd.proposer.node !== from)
      throw new ForgedError(
        'FORGED',
        `a proposal is opened by its own node: it names ${cmd.proposer.node}, sent by ${from}`,
      );
  } else if (cmd.op === 'vote') {
    if (cmd.ballot.voter.node !== from)
      throw new ForgedError(
        'FORGED',
        `a vote is cast by its own node: it names ${cmd.ballot.voter.node}, sent by ${from}`,
      );
    if (cmd.ballot.proposal !== cmd.id)
      throw new ForgedError('BAD_SIGNATURE', `the vote is signed for ${cmd.ballot.proposal}, not ${cmd.id}`);
    if (!voteVerifies(cmd.ballot, cmd.signature))
      throw new ForgedError('BAD_SIGNATURE', `the vote's signature does not verify for node ${from}`);
  } else if (from !== self) {
    throw new ForgedError('FORBIDDEN', 'only the leader prunes proposals');
  }
  return cmd;
}
