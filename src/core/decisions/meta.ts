// What callers see of a decision: its metadata (with the address of its version), a write's receipt,
// and the store's typed errors.
import { ChorusError } from '../errors.ts';
import type { Proposal, ProposalState } from '../proposals/model.ts';
import type { DecisionRecord } from './record.ts';

export class NotFoundError extends ChorusError {
  constructor(what: string) {
    super('UCXL-404-NOT_FOUND', `UCXL-404-NOT_FOUND: ${what} not found`);
    this.name = 'NotFound';
  }
}

export class ReplicationError extends ChorusError {
  readonly holders: number;
  /** What was written (kept locally and re-replicated later). */
  readonly receipt: PutReceipt | undefined;
  constructor(message: string, holders: number, receipt?: PutReceipt) {
    super('REPLICATION_FAILED', message);
    this.name = 'ReplicationFailed';
    this.holders = holders;
    this.receipt = receipt;
  }
}

export interface DecisionMeta {
  address: string;
  subject: string;
  version: number;
  author: string;
  authorRole: string;
  timestamp: string;
  contentType: string;
  prevHash: string;
  hash: string;
  roles: string[];
  size: number;
  deleted: boolean;
  /** Decision voting: the state of this version's proposal, when it was proposed. */
  proposalState?: ProposalState;
  /** …and the proposal with its votes, while this node holds it (closed ones are forgotten after a while). */
  proposal?: Proposal;
}

export interface PutReceipt extends DecisionMeta {
  /** Peers holding the latest record: this node plus the remote peers that confirmed storing it. */
  holders: number;
  holderPeers: string[];
  replication: number;
  /** `chorus publish decision`: whether the DeliverableReady announcement went out (sent: false when nobody subscribes). */
  announcement?: { topic: string; sent: boolean; recipients?: number; note?: string };
}

/** The metadata of a record, addressed at its version (`…/*~N/path`). */
export function meta(d: DecisionRecord): DecisionMeta {
  const [who, rest] = d.subject.split('@') as [string, string];
  const slash = rest.indexOf('/');
  const [where, path] = slash < 0 ? [rest, ''] : [rest.slice(0, slash), rest.slice(slash + 1)];
  const address = `ucxl://${who}@${where}/*~${d.version}${path ? `/${path}` : ''}`;
  return {
    address,
    subject: d.subject,
    version: d.version,
    author: d.author,
    authorRole: d.authorRole,
    timestamp: d.timestamp,
    contentType: d.contentType,
    prevHash: d.prevHash,
    hash: d.hash,
    roles: d.roles,
    size: d.size,
    deleted: d.deleted ?? false,
  };
}
