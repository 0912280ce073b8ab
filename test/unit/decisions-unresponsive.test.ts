// A replica that stops answering (a hung process, a host gone without a word) costs one request's deadline, not
// every write's: the writer passes it over for a while and asks the next-closest peer in its place. Before, each
// write whose replica set held it waited 3 s on it, and each update of a subject it held failed after 10 s ("stored
// on 1 of 3"): the fresh read waited on it, then on kad-dht's walk, which asked it too.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { latestKey } from '../../src/core/decisions/record.ts';
import type { DirectReplicas } from '../../src/core/dht/direct.ts';
import { UnresponsivePeers } from '../../src/core/dht/unresponsive.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { parseAddress } from '../../src/core/ucxl/address.ts';
import { closestOf } from '../helpers/closest.ts';
import { startCluster, stopAll } from '../helpers/cluster.ts';
import { until } from '../helpers/poll.ts';

const text = (s: string) => new TextEncoder().encode(s);

/** A node's one-hop replicas (a component the node's facade does not expose). */
const replicasOf = (node: ChorusNode): DirectReplicas =>
  (node as unknown as { c: { replicas: DirectReplicas } }).c.replicas;

describe('a replica that stops answering', () => {
  let nodes: ChorusNode[] = [];
  before(async () => {
    nodes = await startCluster(5);
  });
  after(() => stopAll(nodes));

  test('is waited on once, then passed over: writes and updates reach the next-closest peers', async () => {
    const hung = nodes[4] as ChorusNode;
    const peers = nodes.map((n) => n.peerId);
    const setOf = (s: string) => closestOf(latestKey(s), peers, 3);
    // a subject the hung node holds, written first by one of the two nodes outside its replicas and updated by the
    // other (which then holds no copy); a second one held by the hung node and not by that writer
    const candidates = Array.from({ length: 4000 }, (_, i) => `dana:developer@chorus:hung/s-${i}`);
    const first = candidates.find((s) => setOf(s).includes(hung.peerId)) as string;
    const [writer, other] = nodes.filter((n) => !setOf(first).includes(n.peerId)) as [ChorusNode, ChorusNode];
    const second = candidates.find(
      (s) => s !== first && setOf(s).includes(hung.peerId) && !setOf(s).includes(writer.peerId),
    );
    assert.ok(second, 'a second subject held by the hung node');
    // every node's routing table holds every peer: the replica sets the test chose are the ones each node uses (a
    // node whose table missed a peer would store version 1 elsewhere, on the writer too)
    await until('every node knows every peer', () =>
      nodes.every((n) => replicasOf(n).replicaSet(latestKey('any'), 5).length === 5),
    );
    const address = (s: string) => parseAddress(`ucxl://${s.replace('/s-', '/*^/s-')}`);
    // version 1 by another node: the writer holds no copy, so its update must read the replicas' newest version
    await other.decisions.put(address(first), text('version 1'));
    assert.equal(await writer.decisions.localRecord(latestKey(first)), undefined);

    // the hung node takes requests and never answers them (its connections stay open, as a stopped process's do)
    let asked = 0;
    const hungReplicas = replicasOf(hung) as unknown as {
      answer: (req: { op: string }, from: string) => Promise<unknown>;
    };
    hungReplicas.answer = (req, from) => {
      // the writer's reads and writes (its notes of new versions go to every peer, in the background)
      if (from === writer.peerId && req.op !== 'note') asked++;
      return new Promise(() => {});
    };
    try {
      const update = await writer.decisions.put(address(first), text('version 2'));
      assert.equal(update.version, 2);
      assert.ok(update.holders >= 3, `holders: ${update.holders}`);
      assert.ok(!update.holderPeers.includes(hung.peerId));
      assert.ok(asked >= 1, 'the hung node was asked first');
      assert.equal(replicasOf(writer).unresponsive.passedOver(hung.peerId), true);

      const askedBefore = asked;
      const created = await writer.decisions.put(address(second), text('a new subject'));
      const again = await writer.decisions.put(address(first), text('version 3'));
      assert.deepEqual([created.version, again.version], [1, 3]);
      assert.ok(created.holders >= 3 && again.holders >= 3);
      assert.equal(asked, askedBefore, 'passed over: not asked again, not waited on');
    } finally {
      delete (hungReplicas as { answer?: unknown }).answer; // the class's own again
    }
    // an answer shows it runs again: it is asked again from then on
    await replicasOf(writer).getFrom(hung.peerId, latestKey(first), AbortSignal.timeout(5000));
    assert.equal(replicasOf(writer).unresponsive.passedOver(hung.peerId), false);
  });
});

test('a peer is passed over 10 s after it fails, twice as long after each further outage, until it answers', () => {
  let now = 1_000_000;
  const peers = new UnresponsivePeers(() => now);
  assert.equal(peers.passedOver('p'), false);
  assert.equal(peers.failed('p'), 10_000, 'an outage begins: passed over for 10 s');
  assert.equal(peers.failed('p'), undefined, 'a request that was out at the same time: the same outage');
  assert.equal(peers.passedOver('p'), true);
  now += 9_999;
  assert.equal(peers.passedOver('p'), true);
  now += 1;
  assert.equal(peers.passedOver('p'), false, 'then asked again');
  peers.asking('p');
  assert.equal(peers.passedOver('p'), true, 'by one request: the others wait for its outcome');
  assert.equal(peers.failed('p'), 20_000, 'it failed: a second outage');
  now += 19_999;
  assert.equal(peers.passedOver('p'), true, 'a second outage: 20 s');
  now += 1;
  peers.asking('p');
  peers.abandoned('p'); // its caller no longer needed it: the next request asks again
  assert.equal(peers.passedOver('p'), false);
  for (let i = 0; i < 10; i++) {
    peers.asking('p');
    peers.failed('p');
    now += 120_000;
  }
  now -= 1;
  assert.equal(peers.passedOver('p'), true, 'at most 2 minutes');
  now += 1;
  assert.equal(peers.passedOver('p'), false);
  peers.failed('p');
  peers.answered('p');
  assert.equal(peers.passedOver('p'), false, 'an answer clears it');
  peers.failed('p');
  now += 10_000;
  assert.equal(peers.passedOver('p'), false, 'and its outages start over');
  for (let i = 0; i < 4097; i++) peers.failed(`q${i}`);
  assert.equal(peers.size, 4096, 'bounded');
  assert.equal(peers.passedOver('q0'), false, 'the oldest went first');
  assert.equal(peers.passedOver('q4096'), true);
});
