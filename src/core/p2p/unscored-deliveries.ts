// GossipSub's peer score keeps a delivery record for every message its node sees, for two minutes (the library's
// TimeCacheDuration, not an option): an object, a Set of the peers that sent copies, a map entry and a queue entry
// (score/message-deliveries.js). The records feed only the topic scores (first, mesh and invalid message
// deliveries), which count for topics with score parameters; chorus gives none (host.ts: scoreParams has no
// `topics`), so every record is written and never read. At 1,000 messages a second that is ~120,000 live records per
// node, ~0.4 KB each: in `bench pubsub`'s ten nodes in one process, 255,000 records and ~100 MB of heap, whose every
// major collection (15–30 ms on the event loop) walks them.
// While no topic has score parameters, a record is made for the call that asks for it and not kept. The moment one
// does (a later option, or a test), records are kept as the library keeps them.
import type { PeerScore } from '@libp2p/gossipsub/score';

type DeliveryRecord = ReturnType<PeerScore['deliveryRecords']['ensureRecord']>;

/** The status the library gives a new record (DeliveryRecordStatus.unknown). */
const UNKNOWN = 0 as DeliveryRecord['status'];

/**
 * Makes the peer score of `pubsub` (a GossipSub: its `score` is the library's PeerScore, outside its public type)
 * keep no delivery records while no topic is scored. Leaves anything without one alone.
 */
export function keepNoUnscoredDeliveries(pubsub: object): void {
  const score = (pubsub as { score?: PeerScore }).score;
  const records = score?.deliveryRecords;
  if (!score || typeof records?.ensureRecord !== 'function' || typeof records.getRecord !== 'function') return;
  const ensure = records.ensureRecord.bind(records);
  const get = records.getRecord.bind(records);
  const scored = (): boolean => {
    for (const _topic in score.params.topics) return true;
    return false;
  };
  records.ensureRecord = (msgIdStr: string): DeliveryRecord =>
    scored() ? ensure(msgIdStr) : { status: UNKNOWN, firstSeenTsMs: Date.now(), validated: 0, peers: new Set() };
  records.getRecord = (msgIdStr: string): DeliveryRecord | undefined => (scored() ? get(msgIdStr) : undefined);
}
