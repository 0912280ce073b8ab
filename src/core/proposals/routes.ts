// The decision-voting routes of the control API (/v1/ucxl/propose, /proposals, /proposal, /vote): reads
// answer from this node's applied proposals; writes go through the leader and answer once this node
// applied them. Refusals carry the contract's status: 404 NO_PROPOSAL, 403 NOT_ELIGIBLE, 409
// PROPOSAL_CLOSED / PROPOSAL_OPEN.
import type { Route } from '../api/server.ts';
import { UsageError } from '../errors.ts';
import type { PutReceipt } from '../decisions/store.ts';
import { parseProposalState, type Proposal } from './model.ts';
import type { ProposalService } from './service.ts';

/** What the voting routes use of the node. */
export interface ProposalRouteComponents {
  proposals: ProposalService;
}

/** `POST /v1/ucxl/propose`: a decision version and the quorum that decides it. */
export interface ProposeRequest {
  address: string;
  /** base64 */
  content: string;
  contentType?: string;
  roles?: string[];
  quorum: { count: number; roles: string[] };
  reason?: string;
  /** The agent proposing (default: the node's agent.name). */
  as?: string;
}

/** `POST /v1/ucxl/vote`. */
export interface VoteRequest {
  id: string;
  vote: 'approve' | 'reject';
  reason: string;
  as?: string;
}

export interface ProposeResponse {
  proposal: Proposal;
  receipt: PutReceipt;
}

type Body = Record<string, unknown>;

function object(v: unknown): Body {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new UsageError('the request body must be a JSON object');
  return v as Body;
}

function optionalString(b: Body, key: string): string | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new UsageError(`${key} must be a string`);
  return v;
}

function requiredString(b: Body, key: string, what: string): string {
  const v = optionalString(b, key);
  if (v === undefined) throw new UsageError(`${key} is required (${what})`);
  return v;
}

export function proposalRoutes(c: ProposalRouteComponents): Record<string, Route> {
  return {
    'POST /v1/ucxl/propose': async ({ body, signal }): Promise<ProposeResponse> => {
      const b = object(await body());
      const address = requiredString(b, 'address', 'a decision address ending in *^');
      const content = requiredString(b, 'content', 'the version, base64');
      const roles = b.roles;
      if (roles !== undefined && !(Array.isArray(roles) && roles.every((r) => typeof r === 'string')))
        throw new UsageError('roles must be a list of role names');
      if (b.quorum === undefined) throw new UsageError('quorum is required ({ count, roles })');
      return c.proposals.propose(
        {
          address,
          content: Buffer.from(content, 'base64'),
          contentType: optionalString(b, 'contentType'),
          roles: roles as string[] | undefined,
          quorum: b.quorum,
          reason: optionalString(b, 'reason'),
          agent: optionalString(b, 'as'),
        },
        signal,
      );
    },
    'GET /v1/ucxl/proposals': async ({ url }) => {
      const q = url.searchParams;
      const states = q
        .getAll('state')
        .flatMap((s) => s.split(','))
        .filter(Boolean)
        .map(parseProposalState);
      return c.proposals.list({ state: states, subject: q.get('subject') || undefined });
    },
    'GET /v1/ucxl/proposal': async ({ url }) => {
      const id = url.searchParams.get('id');
      if (!id) throw new UsageError('the "id" query parameter is required (e.g. p-3)');
      return c.proposals.get(id);
    },
    'POST /v1/ucxl/vote': async ({ body, signal }): Promise<Proposal> => {
      const b = object(await body());
      return c.proposals.vote(requiredString(b, 'id', 'the proposal, e.g. p-3'), {
        vote: b.vote,
        reason: b.reason,
        agent: optionalString(b, 'as'),
        signal,
      });
    },
  };
}
