// GossipSub's peer score keeps no delivery records while no topic is scored (core/p2p/unscored-deliveries.ts), on the
// library's own PeerScore: records a scored topic needs are kept as before, from the moment a topic is scored.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeerScore, createPeerScoreParams, createTopicScoreParams } from '@libp2p/gossipsub/score';
import { defaultLogger } from '@libp2p/logger';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { chorusDht } from '../../src/core/dht/kad.ts';
import { RecordNamespaces } from '../../src/core/dht/namespaces.ts';
import { createHost, gossipOptions } from '../../src/core/p2p/host.ts';
import { keepNoUnscoredDeliveries } from '../../src/core/p2p/unscored-deliveries.ts';

const TOPIC = 'CHORUS/coordination/v1';

/** The library's own record map and expiry queue (private in its types). */
function kept(score: PeerScore): { records: Map<string, unknown>; queue: { length: number } } {
  return score.deliveryRecords as unknown as { records: Map<string, unknown>; queue: { length: number } };
}

function peerScore(topics: Record<string, ReturnType<typeof createTopicScoreParams>> = {}): PeerScore {
  const params = createPeerScoreParams({ ...gossipOptions().scoreParams, topics });
  return new PeerScore(params, null, defaultLogger(), { scoreCacheValidityMs: 0 });
}

/** A message's life at a receiver: validated, delivered from `first`, then a copy from `second`. */
function deliver(score: PeerScore, msgId: string, first = 'peer-a', second = 'peer-b'): void {
  score.validateMessage(msgId);
  score.deliverMessage(first, msgId, TOPIC);
  score.duplicateMessage(second, msgId, TOPIC);
}

test("chorus' options score no topic, and then no delivery record is kept", () => {
  assert.deepEqual(createPeerScoreParams(gossipOptions().scoreParams).topics, {});
  const score = peerScore();
  keepNoUnscoredDeliveries({ score });
  for (let i = 0; i < 100; i++) deliver(score, `m${i}`);
  score.rejectMessage('peer-c', 'm-bad', TOPIC, 'reject' as Parameters<PeerScore['rejectMessage']>[3]);
  assert.equal(kept(score).records.size, 0);
  assert.equal(kept(score).queue.length, 0);
  keepNoUnscoredDeliveries({}); // no score: left alone
  assert.equal(score.messageFirstSeenTimestampMs('m1'), null);
});

test('without it, the library keeps a record per message', () => {
  const score = peerScore();
  for (let i = 0; i < 100; i++) deliver(score, `m${i}`);
  assert.equal(kept(score).records.size, 100);
});

test('a scored topic keeps its records, and the duplicate is counted for the peer that sent it', () => {
  const score = peerScore({ [TOPIC]: createTopicScoreParams({ meshMessageDeliveriesWeight: -1 }) });
  keepNoUnscoredDeliveries({ score });
  deliver(score, 'm1');
  assert.equal(kept(score).records.size, 1);
  assert.deepEqual([...(score.deliveryRecords.getRecord('m1')?.peers ?? [])], ['peer-b']);
  assert.equal(typeof score.messageFirstSeenTimestampMs('m1'), 'number');
});

test('a topic scored later keeps records from then on', () => {
  const score = peerScore();
  keepNoUnscoredDeliveries({ score });
  deliver(score, 'before');
  score.params.topics[TOPIC] = createTopicScoreParams({});
  deliver(score, 'after');
  assert.deepEqual([...kept(score).records.keys()], ['after']);
});

test("a chorus host's GossipSub keeps no delivery records", async (t) => {
  const host = await createHost({
    dht: chorusDht(new RecordNamespaces(), { clientMode: false }),
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    maxConnections: 10,
    maxPeersPerIp: 10,
    inboundPerSecond: 10,
    start: false,
  });
  t.after(() => host.stop());
  const score = (host.services.pubsub as unknown as { score: PeerScore }).score;
  deliver(score, 'm1');
  assert.equal(kept(score).records.size, 0);
});
