// The benchmarks' mesh forming: pairs dialled once, the wait re-dials what is missing and fails with
// a clear message when the mesh stops forming.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connectPairs, topicPeers, waitForTopicMesh } from '../../src/bench/mesh.ts';
import { TimeoutError } from '../../src/core/errors.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { startNode, stopAll } from '../helpers/cluster.ts';

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
