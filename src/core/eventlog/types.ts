// Event-log vocabulary: the log types (the predecessor's "hypercore" mapping), the pubsub message → log type
// mapping (over the one message catalogue, ../message-types.ts), and the entry, signer and
// verification-report shapes shared by the log and its readers.
import { MESSAGE_FAMILIES, type MessageFamily, type MessageType } from '../message-types.ts';

/** Every type an entry may carry. Order is stable; new types are appended. */
export const LOG_TYPES = [
  'task_announced',
  'task_claimed',
  'task_progress',
  'task_completed',
  'capability_broadcast',
  'network_event',
  'collaboration',
  'escalation',
  'context_feedback',
  'context_request',
  'context_response',
  'slurp_event',
  'message_in',
  'message_out',
  'raw_message',
  'shhh_redaction',
  'peer_joined',
  'peer_left',
  'node_started',
  'node_stopped',
  'election',
  'decision',
  /** a peer's received messages over the log's per-peer rate limit, counted instead of logged (one per window) */
  'rate_limited',
  'task',
] as const;

export type LogType = (typeof LOG_TYPES)[number];

const LOG_TYPE_SET: ReadonlySet<string> = new Set(LOG_TYPES);

export function isLogType(value: unknown): value is LogType {
  return typeof value === 'string' && LOG_TYPE_SET.has(value);
}

/** Message types logged under a type of their own; the others take their family's (below). */
const OWN_LOG_TYPE: Partial<Record<MessageType, LogType>> = {
  TaskAnnouncement: 'task_announced',
  TaskClaim: 'task_claimed',
  TaskProgress: 'task_progress',
  TaskComplete: 'task_completed',
  CapabilityBcast: 'capability_broadcast',
  AvailabilityBcast: 'network_event',
  EscalationTrigger: 'escalation',
  FeedbackEvent: 'context_feedback',
  ContextUsage: 'context_feedback',
  ContextRelevance: 'context_feedback',
  ContextRequest: 'context_request',
  ContextResponse: 'context_response',
};

/** The log type of each family's other messages (HMMM and role collaboration are "collaboration"). */
const FAMILY_LOG_TYPE: Record<MessageFamily, LogType> = {
  coordination: 'message_in',
  metaDiscussion: 'collaboration',
  roleCollaboration: 'collaboration',
  contextFeedback: 'context_feedback',
  slurp: 'slurp_event',
};

const MESSAGE_LOG_TYPES: ReadonlyMap<string, LogType> = new Map(
  (Object.entries(MESSAGE_FAMILIES) as [MessageFamily, readonly MessageType[]][]).flatMap(([family, types]) =>
    types.map((t): [string, LogType] => [t, OWN_LOG_TYPE[t] ?? FAMILY_LOG_TYPE[family]]),
  ),
);

/** The log type a received CHORUS pubsub message is recorded under; unknown message types → `message_in`. */
export function logTypeForMessage(messageType: string): LogType {
  return MESSAGE_LOG_TYPES.get(messageType) ?? 'message_in';
}

export interface LogSigner {
  /** stable author id, e.g. a libp2p peer id string */
  author: string;
  sign(data: Uint8Array): Uint8Array;
  verify(data: Uint8Array, signature: Uint8Array): boolean;
}

export interface LogEntry {
  /** 1, 2, 3, … with no gaps */
  seq: number;
  /** ISO-8601 UTC; never decreases along the log */
  time: string;
  type: LogType;
  /** any JSON value */
  data: unknown;
  author: string;
  /** hex sha256 of the previous entry; 64 zeros for seq 1 */
  prevHash: string;
  /** hex sha256 over canonicalJson({ seq, time, type, data, author, prevHash }) */
  hash: string;
  /**
   * base64 of signer.sign(the 32 raw hash bytes); empty for an entry appended in one batch with later ones, whose
   * last entry's signature covers it through the chain (format 2)
   */
  signature: string;
}

/**
 * damaged: SQLite cannot read the file (a damaged page, a truncated file); nothing in it is verified.
 * bad_checkpoint: the retention checkpoint is malformed or its signature does not verify.
 */
export type VerifyProblemKind =
  'edited' | 'dropped' | 'reordered' | 'bad_signature' | 'bad_link' | 'malformed' | 'bad_checkpoint' | 'damaged';

export interface VerifyProblem {
  /** where the chain breaks: the altered entry, or the seq missing / out of place (0: the whole file) */
  seq: number;
  kind: VerifyProblemKind;
  message: string;
}

/**
 * The signed anchor left where retention cut the log: entries 1..seq were removed, entry `seq` had hash `hash`
 * and time `entryTime`, and entry seq+1 links to it. Signed by the node that cut (`author`) at `time`.
 */
export interface Checkpoint {
  seq: number;
  hash: string;
  entryTime: string;
  time: string;
  author: string;
  /** base64 of the author's signature over the 32 raw bytes of checkpointHash(this) */
  signature: string;
}

export interface VerifyReport {
  ok: boolean;
  /** the first seq the chain is verified from: 1, or the entry after the checkpoint when the log was cut */
  from: number;
  /** the checkpoint the chain is anchored to (absent while nothing was ever removed) */
  checkpoint?: Omit<Checkpoint, 'signature'>;
  /** entries verified: all of them when ok, otherwise the intact prefix before the problem */
  entries: number;
  /** head of the verified chain (0 and 64 zeros when nothing verified) */
  headSeq: number;
  headHash: string;
  problem?: VerifyProblem;
}

/** Verifies `signature` over `data` for `author`; used by EventLog.verifyFile. */
export type AuthorVerifier = (author: string, data: Uint8Array, signature: Uint8Array) => boolean;
