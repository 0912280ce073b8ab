// The benchmarks' mesh forming: pairs dialled once and admitted at both ends before the next node,
// the wait re-dials what is missing (and pairs whose GossipSub stream failed) and fails with a clear
// message when the mesh stops forming.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { admittedPair, connectPairs, stalledPairs, topicPeers, waitForTopicMesh } from '../../src/bench/mesh.ts';
import { TimeoutError } from '../../src/core/errors.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { startNode, stopAll } from '../helpers/cluster.ts';
import { until } from '../helpers/poll.ts';

describe('bench mesh', () => {
  let nodes: ChorusNode[] = [];
  before(async () => {
    nodes = await Promise.all([startNode(), startNode(), startNode()]);
  });
  after(() => stopAll(nodes));

  test('a pair left unconnected is dialled while waiting, and the wait ends when all see all', async () => {
    const [a, b, c] = nodes as [ChorusNode, ChorusNode, ChorusNode];
    await b.libp2p.dial(a.libp2p.getMultiaddrs()[0]!);
    await c.libp2p.dial(a.libp2p.getMultiaddrs()[0]!);
    const topic = 'bench/mesh-test';
    for (const n of nodes) n.pubsub.join(topic, { raw: true });
    await waitForTopicMesh(nodes, topic, 2, { redialMs: 0, stallMs: 20_000 });
    assert.deepEqual(topicPeers(nodes, topic), [2, 2, 2]);
    assert.ok(c.libp2p.getConnections(b.libp2p.peerId).length > 0, 'b and c are connected');
    assert.equal(await connectPairs(nodes), 0, 'nothing left to dial');
  });

  test('a mesh that stops forming fails with the nodes that fall short, not a hang', async () => {
    const topic = 'bench/only-one';
    nodes[0]!.pubsub.join(topic, { raw: true });
    const err = await waitForTopicMesh(nodes, topic, 1, { stallMs: 300, redialMs: 100 }).catch((e: unknown) => e);
    assert.ok(err instanceof TimeoutError);
    assert.match(err.message, /the mesh stopped forming: 1 of 3 nodes see fewer than 1 peers on bench\/only-one/);
    nodes[0]!.pubsub.leave(topic);
  });
});

describe('bench mesh: admission and stalled streams', () => {
  let nodes: ChorusNode[] = [];
  const topic = 'bench/stall-test';
  before(async () => {
    nodes = await Promise.all([startNode(), startNode(), startNode()]);
  });
  after(() => stopAll(nodes));

  test('connectPairs returns only once every pair is admitted at both ends', async () => {
    assert.equal(await connectPairs(nodes), 3);
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        assert.ok(admittedPair(nodes[i]!, nodes[j]!), `nodes ${i} and ${j} proved their licenses to each other`);
      }
    }
  });

  test('a pair whose GossipSub stream failed is hung up and redialled, and the mesh completes', async () => {
    const [a, b] = nodes as [ChorusNode, ChorusNode, ChorusNode];
    for (const n of nodes) n.pubsub.join(topic, { raw: true });
    await waitForTopicMesh(nodes, topic, 2, { stallMs: 20_000 });
    // a's outbound GossipSub stream to b fails; GossipSub does not open another on this connection
    const conn = a.libp2p.getConnections(b.libp2p.peerId)[0]!;
    const stream = conn.streams.find((s) => s.direction === 'outbound' && s.protocol?.startsWith('/meshsub/'));
    assert.ok(stream, 'a has an outbound GossipSub stream to b');
    stream.abort(new Error('test: the stream failed'));
    await until('a to lose its stream to b', () => !a.pubsub.reachableSubscriberIds(topic).includes(b.peerId));
    assert.deepEqual(stalledPairs(nodes, topic), ['0:1']);
    const redials = await waitForTopicMesh(nodes, topic, 2, { redialMs: 100, stalledMs: 300, stallMs: 10_000 });
    assert.equal(redials, 1, 'the stalled pair was dialled again');
    assert.notEqual(a.libp2p.getConnections(b.libp2p.peerId)[0]?.id, conn.id, 'on a new connection');
    assert.deepEqual(topicPeers(nodes, topic), [2, 2, 2]);
    assert.deepEqual(stalledPairs(nodes, topic), []);
  });
});
