// How decision voting shapes the decision store (the proposals feature plugs its VersionVotes in with
// `store.useVotes`): which version `*^` names — the newest one that is neither open nor rejected — the
// proposal a version's metadata carries, and the refusal to write a version over an open proposal.
// Without votes plugged in, every version counts and nothing here changes a read or a write.
import { ChorusError } from '../errors.ts';
import type { ProposalState, Proposal } from '../proposals/model.ts';
import { meta, NotFoundError, type DecisionMeta } from './meta.ts';
import type { DecisionRecord } from './record.ts';

/** Decision voting's view of decision records. */
export interface VersionVotes {
  /** The proposal state of one record (undefined: the version was not proposed). */
  of(
    record: Pick<DecisionRecord, 'subject' | 'version' | 'hash' | 'author'>,
  ): { state: ProposalState; proposal?: Proposal } | undefined;
}

/** A record's metadata, with its proposal when voting knows one. */
export function describeVersion(record: DecisionRecord, votes: VersionVotes | undefined): DecisionMeta {
  const m = meta(record);
  const vote = votes?.of(record);
  return vote ? { ...m, proposalState: vote.state, ...(vote.proposal ? { proposal: vote.proposal } : {}) } : m;
}

/** `*^`: from the newest record down, the first whose proposal is neither open nor rejected. */
export async function currentOf(
  newest: DecisionRecord,
  votes: VersionVotes | undefined,
  older: (version: number) => Promise<DecisionRecord>,
): Promise<DecisionRecord> {
  let record = newest;
  for (
    let state = votes?.of(record)?.state;
    state === 'open' || state === 'rejected';
    state = votes?.of(record)?.state
  ) {
    if (record.version === 1) {
      const why = state === 'open' ? 'proposed, not yet accepted' : 'rejected';
      throw new NotFoundError(`ucxl://${record.subject} (no current version: version 1 is ${why})`);
    }
    record = await older(record.version - 1);
  }
  return record;
}

/** No version is written over an open proposal: decide it first (409 PROPOSAL_OPEN). */
export function checkWritable(previous: DecisionRecord | undefined, votes: VersionVotes | undefined): void {
  const pending = previous ? votes?.of(previous) : undefined;
  if (!previous || pending?.state !== 'open') return;
  const id = pending.proposal ? ` (${pending.proposal.id})` : '';
  throw new ChorusError(
    'PROPOSAL_OPEN',
    `version ${previous.version} of ucxl://${previous.subject} is proposed${id} and waiting for votes: decide it before writing another version`,
    { status: 409 },
  );
}
