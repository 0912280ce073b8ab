// Tests for src/core/p2p/gossip-streams.ts: on real GossipSub hosts over loopback, an outbound stream that was
// reset is opened again on the same connection and messages flow again (GossipSub alone never reopens it); and,
// on a stand-in for GossipSub's internals, when a peer is queued: after a grace period, then with backoff, only
// with an open connection (an unlimited one first), and not once its stream is back.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { GossipsubMessage } from '@libp2p/gossipsub';
import type { Connection, PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { keepGossipStreamsOpen, REOPEN_GRACE_MS, REOPEN_MAX_BACKOFF_MS } from '../../src/core/p2p/gossip-streams.ts';
import { plainHosts, type PlainHost } from '../helpers/cluster.ts';
import { until } from '../helpers/poll.ts';

const TOPIC = 'CHORUS/test/streams/v1';

/** GossipSub's implementation map of outbound streams (the exported interface hides it). */
const outboundOf = (h: PlainHost): Map<string, { rawStream: { abort(err: Error): void } }> =>
  (h.host.services.pubsub as unknown as { streamsOutbound: Map<string, { rawStream: { abort(err: Error): void } }> })
    .streamsOutbound;

describe('GossipSub outbound streams are reopened', () => {
  const started: PlainHost[] = [];
  after(() => Promise.all(started.map((h) => h.stop())));

  test('a reset outbound stream is opened again on the same connection, and messages flow again', async () => {
    const [a, b] = await plainHosts(2);
    started.push(a!, b!);
    await a!.host.dial(b!.host.getMultiaddrs()[0]!);
    for (const h of [a!, b!]) h.host.services.pubsub.subscribe(TOPIC);
    const idB = b!.host.peerId.toString();
    await until(
      'A subscribed to by B over its outbound stream',
      () => a!.host.services.pubsub.getSubscribers(TOPIC).some((p) => p.toString() === idB) && outboundOf(a!).has(idB),
    );
    const connection = a!.host.getConnections(b!.host.peerId)[0]!.id;
    const received: string[] = [];
    b!.host.services.pubsub.addEventListener('gossipsub:message', (evt: CustomEvent<GossipsubMessage>) =>
      received.push(new TextDecoder().decode(evt.detail.msg.data)),
    );

    outboundOf(a!).get(idB)!.rawStream.abort(new Error('test: the stream was reset'));
    await until('GossipSub dropped the reset stream', () => !outboundOf(a!).has(idB));
    await until('A opened a new outbound stream to B', () => outboundOf(a!).has(idB), { timeoutMs: 10_000 });
    assert.deepEqual(
      a!.host.getConnections(b!.host.peerId).map((c) => c.id),
      [connection],
      'the same connection: the stream was reopened, not the connection remade',
    );
    await a!.host.services.pubsub.publish(TOPIC, new TextEncoder().encode('after the reset'));
    await until('B received the message published after the reset', () => received.includes('after the reset'));
  });
});

/** A stand-in for GossipSub's internals: its peers, outbound streams, stream queue and heartbeat. */
function fakeGossip() {
  const heartbeat = new EventTarget();
  const queued: string[] = [];
  const gossip = {
    peers: new Map<string, PeerId>(),
    streamsOutbound: new Map<string, unknown>(),
    outboundInflightQueue: {
      push: (item: { peerId: PeerId; connection: Connection }) => queued.push(item.connection.id),
    },
    addEventListener: heartbeat.addEventListener.bind(heartbeat),
    removeEventListener: heartbeat.removeEventListener.bind(heartbeat),
  };
  return { gossip, queued, beat: () => heartbeat.dispatchEvent(new Event('gossipsub:heartbeat')) };
}

const PEER = peerIdFromString('12D3KooWDwtgPpP9iedZoXi4dJ6TqB9zexEwyGbzowym42WvRJvj');
const conn = (id: string, status = 'open', limited = false): Connection =>
  ({ id, status, ...(limited ? { limits: { bytes: 1n } } : {}) }) as unknown as Connection;

describe('keepGossipStreamsOpen', () => {
  test('queues a peer without a stream after the grace period, then with doubling waits up to the cap', () => {
    const { gossip, queued, beat } = fakeGossip();
    let t = 0;
    const keeper = keepGossipStreamsOpen(
      gossip,
      () => [conn('relayed', 'open', true), conn('c1')],
      () => t,
    )!;
    gossip.peers.set(PEER.toString(), PEER);
    beat();
    assert.deepEqual(queued, [], 'first seen without a stream: GossipSub may still be opening it');
    t = REOPEN_GRACE_MS - 1;
    beat();
    assert.deepEqual(queued, []);
    t = REOPEN_GRACE_MS;
    beat();
    assert.deepEqual(queued, ['c1'], 'queued on the unlimited connection');
    const times: number[] = [t];
    for (t = REOPEN_GRACE_MS; t < 200_000; t += 100) {
      const before = queued.length;
      beat();
      if (queued.length > before) times.push(t);
    }
    const waits = times.slice(1).map((x, i) => x - times[i]!);
    assert.deepEqual(waits.slice(0, 5), [2_000, 4_000, 8_000, 16_000, REOPEN_MAX_BACKOFF_MS]);
    assert.ok(waits.slice(4).every((w) => w === REOPEN_MAX_BACKOFF_MS));
    assert.equal(keeper.reopened, queued.length);
  });

  test('a peer whose stream is back, or that has no open connection, is not queued; stop() ends it', () => {
    const { gossip, queued, beat } = fakeGossip();
    let t = 0;
    let connections = [conn('c1', 'closing')];
    const keeper = keepGossipStreamsOpen(
      gossip,
      () => connections,
      () => t,
    )!;
    gossip.peers.set(PEER.toString(), PEER);
    for (; t < 5 * REOPEN_GRACE_MS; t += 100) beat();
    assert.deepEqual(queued, [], 'no open connection: nothing to open a stream on');
    connections = [conn('c2')];
    beat();
    t += REOPEN_GRACE_MS;
    gossip.streamsOutbound.set(PEER.toString(), {});
    beat();
    assert.deepEqual(queued, [], 'the stream came back within the grace period');
    gossip.streamsOutbound.clear();
    beat();
    t += REOPEN_GRACE_MS - 1;
    beat();
    assert.deepEqual(queued, [], 'a new grace period after the stream was seen again');
    t += 1;
    beat();
    assert.deepEqual(queued, ['c2']);
    keeper.stop();
    t += REOPEN_MAX_BACKOFF_MS;
    beat();
    assert.deepEqual(queued, ['c2'], 'stopped');
  });

  test('a GossipSub without the internals it relies on is left alone', () => {
    assert.equal(
      keepGossipStreamsOpen({}, () => []),
      undefined,
    );
  });
});
