// `chorus ucxl propose|vote|proposals|proposal`: decision voting through the local node's API. Input is
// checked here with the node's own parsers (exit 2) before anything is read or sent; refusals from the
// cluster (not eligible, closed, no such proposal) come back as errors with their codes (exit 1).
import { ApiClient } from '../../core/api/client.ts';
import { UsageError } from '../../core/errors.ts';
import { checkDecisionSize } from '../../core/limits.ts';
import {
  parseProposalId,
  parseProposalState,
  parseQuorum,
  parseVoteChoice,
  parseVoteReason,
  PROPOSAL_LIMITS,
  type Proposal,
} from '../../core/proposals/model.ts';
import type { ProposeRequest, ProposeResponse, VoteRequest } from '../../core/proposals/routes.ts';
import { parseAddress, requireDecisionPath, subjectKey } from '../../core/ucxl/address.ts';
import type { CommandContext } from '../context.ts';
import { readContent } from './ucxl.ts';

/** A proposal writes a version and goes through the leader: both deadlines, and some slack. */
const client = (ctx: CommandContext) =>
  new ApiClient({
    dataDir: ctx.config.dataDir,
    timeoutMs: ctx.config.dht.timeoutMs + ctx.config.votes.requestTimeoutMs + 5000,
  });

export interface ProposeOptions {
  quorum?: number;
  voters?: string[];
  roles?: string[];
  reason?: string;
  type?: string;
  as?: string;
}

export async function propose(
  address: string,
  file: string,
  opts: ProposeOptions,
  ctx: CommandContext,
): Promise<ProposeResponse> {
  const a = requireDecisionPath(parseAddress(address), address);
  if (a.temporal.kind !== 'latest') throw new UsageError('a proposal writes the next version: use *^ in the address');
  if (opts.quorum === undefined) throw new UsageError('--quorum is required (approvals needed, e.g. --quorum 2)');
  if (!opts.voters?.length) throw new UsageError('--voters is required (the roles that vote, e.g. architect,admin)');
  const quorum = parseQuorum({ count: opts.quorum, roles: opts.voters });
  if (opts.reason !== undefined && opts.reason.length > PROPOSAL_LIMITS.reasonChars)
    throw new UsageError(`--reason: at most ${PROPOSAL_LIMITS.reasonChars} characters`);
  const content = await readContent(file);
  checkDecisionSize(content.byteLength);
  const body: ProposeRequest = {
    address,
    content: content.toString('base64'),
    contentType: opts.type,
    roles: opts.roles,
    quorum,
    reason: opts.reason,
    as: opts.as,
  };
  return client(ctx).call<ProposeResponse>('POST', '/v1/ucxl/propose', body, ctx.signal);
}

export function vote(
  id: string,
  choice: string,
  opts: { reason?: string; as?: string },
  ctx: CommandContext,
): Promise<Proposal> {
  const body: VoteRequest = {
    id: parseProposalId(id),
    vote: parseVoteChoice(choice),
    reason: parseVoteReason(opts.reason),
    as: opts.as,
  };
  return client(ctx).call<Proposal>('POST', '/v1/ucxl/vote', body, ctx.signal);
}

export function proposals(opts: { state?: string[]; subject?: string }, ctx: CommandContext): Promise<Proposal[]> {
  const q = new URLSearchParams();
  for (const s of opts.state ?? []) q.append('state', parseProposalState(s));
  if (opts.subject) q.set('subject', subjectKey(parseAddress(opts.subject)));
  const query = q.toString();
  return client(ctx).call<Proposal[]>('GET', `/v1/ucxl/proposals${query ? `?${query}` : ''}`, undefined, ctx.signal);
}

export function proposal(id: string, ctx: CommandContext): Promise<Proposal> {
  return client(ctx).call<Proposal>(
    'GET',
    `/v1/ucxl/proposal?${new URLSearchParams({ id: parseProposalId(id) })}`,
    undefined,
    ctx.signal,
  );
}
