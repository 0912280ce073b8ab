// A replica that stops answering (a hung process, a host gone without a word) costs one request's deadline, not
// every write's: the writer passes it over until it answers again, asks the next-closest peer in its place, and asks
// the peer itself in the background whether it answers again (10 s after, then twice as long). Before, each
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
import { startCluster, startWithConfig, stopAll } from '../helpers/cluster.ts';
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

    // the writer asks a peer it passes over again 300 ms after it failed (10 s in a node), then 600 ms, ...
    const writerReplicas = replicasOf(writer) as unknown as { unresponsive: UnresponsivePeers; probe(p: string): void };
    writerReplicas.unresponsive = new UnresponsivePeers(Date.now, (peer) => writerReplicas.probe(peer), 300);

    // the hung node takes requests and never answers them (its connections stay open, as a stopped process's do)
    let asked = 0;
    let probes = 0;
    const hungReplicas = replicasOf(hung) as unknown as {
      answer: (req: { op: string; key: string }, from: string) => Promise<unknown>;
    };
    const probeKey = Buffer.from('/chorus-probe').toString('base64');
    hungReplicas.answer = (req, from) => {
      // the writer's reads and writes (its notes of new versions go to every peer, in the background), and apart
      // from them the writer's background asks whether it answers again
      if (from === writer.peerId && req.op === 'get' && req.key === probeKey) probes++;
      else if (from === writer.peerId && req.op !== 'note') asked++;
      return new Promise(() => {});
    };
    let askedBefore: number | undefined;
    try {
      const update = await writer.decisions.put(address(first), text('version 2'));
      assert.equal(update.version, 2);
      assert.ok(update.holders >= 3, `holders: ${update.holders}`);
      assert.ok(!update.holderPeers.includes(hung.peerId));
      assert.ok(asked >= 1, 'the hung node was asked first');
      assert.equal(replicasOf(writer).unresponsive.passedOver(hung.peerId), true);
      // `chorus peers` says so (the peer is connected and answers pings: only its DHT requests go unanswered)
      const seen = (await writer.peers()).find((p) => p.peerId === hung.peerId);
      assert.deepEqual([seen?.connected, seen?.passedOver], [true, true]);
      // its connection is open (a hung process): it stays in the routing table, where it may answer again
      assert.ok(replicasOf(writer).replicaSet(latestKey('any'), 5).includes(hung.peerId));

      askedBefore = asked;
      const created = await writer.decisions.put(address(second), text('a new subject'));
      const again = await writer.decisions.put(address(first), text('version 3'));
      assert.deepEqual([created.version, again.version], [1, 3]);
      assert.ok(created.holders >= 3 && again.holders >= 3);
      // its while over, the writer asks it in the background; the writes meanwhile still pass it over
      await until('the writer asks the hung node again', () => probes >= 1);
      const during = await writer.decisions.put(address(second), text('while it is asked'));
      assert.ok(during.holders >= 3 && !during.holderPeers.includes(hung.peerId));
      assert.equal(asked, askedBefore, 'passed over: not asked again by a write or read, not waited on');
      assert.equal(replicasOf(writer).unresponsive.passedOver(hung.peerId), true, 'that ask got no answer yet');
    } finally {
      delete (hungReplicas as { answer?: unknown }).answer; // the class's own again
    }
    // it runs again: the next background ask gets an answer, and writes and reads ask it from then on
    await until(
      'the hung node answers the writer again',
      () => !replicasOf(writer).unresponsive.passedOver(hung.peerId),
      { timeoutMs: 30_000 }, // the ask out when it was restored waits out its 3 s, then the next while
    );
    assert.equal(asked, askedBefore, 'without a write or read waiting on it');
    assert.equal((await writer.peers()).find((p) => p.peerId === hung.peerId)?.passedOver, undefined);
  });
});

describe('a replica that went away', () => {
  let nodes: ChorusNode[] = [];
  before(async () => {
    nodes = await startCluster(5);
  });
  after(() => stopAll(nodes));

  test('leaves the routing table of a node it did not answer, and is back in it once it connects again', async () => {
    const [writer, , , , gone] = nodes as [ChorusNode, ChorusNode, ChorusNode, ChorusNode, ChorusNode];
    const peers = nodes.map((n) => n.peerId);
    const subjects = Array.from({ length: 4000 }, (_, i) => `dana:developer@chorus:gone/s-${i}`)
      .filter((s) => closestOf(latestKey(s), peers, 3).includes(gone.peerId))
      .slice(0, 7);
    const subject = subjects.pop() as string;
    const address = (s: string) => parseAddress(`ucxl://${s.replace('/s-', '/*^/s-')}`);
    const everyone = (n: ChorusNode) => replicasOf(n).replicaSet(latestKey('any'), 5);
    await until('every node knows every peer', () => nodes.every((n) => everyone(n).length === 5));
    // decisions it holds, written before it goes
    for (const s of subjects)
      assert.ok((await writer.decisions.put(address(s), text('before'))).holderPeers.includes(gone.peerId));
    // the writer's clock of outages, moved on by the test (its background asks do nothing: the test asks)
    let skew = 0;
    const writerReplicas = replicasOf(writer) as unknown as {
      unresponsive: UnresponsivePeers;
      probe(p: string): Promise<void>;
    };
    writerReplicas.unresponsive = new UnresponsivePeers(
      () => Date.now() + skew,
      () => {},
      60_000,
    );
    // its process ends: its connections close, and kad-dht keeps it in the routing tables
    const config = gone.config;
    await gone.stop();
    assert.ok(everyone(writer).includes(gone.peerId), 'kad-dht keeps a peer that disconnected');

    // a write whose replica set holds it: its request fails, and the peer is passed over; one outage is not enough
    // to leave (a node that restarts comes back within it)
    const written = await writer.decisions.put(address(subject), text('written while it is gone'));
    assert.ok(written.holders >= 3 && !written.holderPeers.includes(gone.peerId), `holders: ${written.holders}`);
    assert.equal(writerReplicas.unresponsive.outagesOf(gone.peerId), 1);
    assert.ok(everyone(writer).includes(gone.peerId), 'still in the routing table after its first outage');
    // the while is over, and the background ask gets no answer either: with no connection, it leaves
    skew = 3_600_000;
    await writerReplicas.probe(gone.peerId);
    assert.equal(writerReplicas.unresponsive.outagesOf(gone.peerId), 2);
    await until('the writer takes it out of its routing table', () => !everyone(writer).includes(gone.peerId));
    // the replica sets name the next-closest peer in its place: where records belong, not only whom a write asks
    const set = replicasOf(writer).replicaSet(latestKey(subject), 3);
    const without = (s: string) =>
      closestOf(
        latestKey(s),
        peers.filter((p) => p !== gone.peerId),
        3,
      );
    assert.deepEqual(set, without(subject));
    // and what it held reaches the peer that took its place: its holders re-put every record it was a replica of,
    // also those their pass reaches after the table let it go
    const holds = (s: string, peer: string) =>
      (nodes.find((n) => n.peerId === peer) as ChorusNode).decisions.localRecord(latestKey(s));
    await until('every record it held is on the peers of its new replica set', async () => {
      for (const s of subjects) for (const p of without(s)) if (!(await holds(s, p))) return false;
      return true;
    });

    // it starts again with the same identity and connects: kad-dht adds it back, and it is asked again
    const back = await startWithConfig(config);
    nodes[4] = back;
    assert.equal(back.peerId, gone.peerId);
    await back.libp2p.dial(writer.libp2p.getMultiaddrs()[0]!);
    await until('it is back in the routing table of the writer', () => everyone(writer).includes(back.peerId));
    assert.equal(replicasOf(writer).unresponsive.passedOver(back.peerId), false);
  });
});

test('a peer is passed over from its failure until it answers; asked again in the background 10 s after, then twice as long', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let now = 1_000_000;
  const probed: string[] = [];
  const peers = new UnresponsivePeers(
    () => now,
    (peer) => probed.push(peer),
  );
  const wait = (ms: number): void => {
    now += ms;
    t.mock.timers.tick(ms);
  };
  assert.equal(peers.passedOver('p'), false);
  assert.equal(peers.failed('p'), 10_000, 'an outage begins: asked again in 10 s');
  assert.equal(peers.failed('p'), undefined, 'a request that was out at the same time: the same outage');
  assert.equal(peers.passedOver('p'), true);
  wait(9_999);
  assert.deepEqual(probed, []);
  wait(1);
  assert.deepEqual(probed, ['p'], 'asked again, in the background');
  assert.equal(peers.passedOver('p'), true, 'still passed over: no write or read waits for that answer');
  assert.equal(peers.failed('p'), 20_000, 'it failed: a second outage, twice as long');
  wait(20_000);
  assert.deepEqual(probed, ['p', 'p']);
  for (let i = 0; i < 10; i++) {
    peers.failed('p');
    wait(120_000);
  }
  assert.equal(probed.length, 12, 'one ask per outage');
  assert.equal(peers.failed('p'), 120_000, 'at most 2 minutes');
  peers.answered('p');
  assert.equal(peers.passedOver('p'), false, 'an answer clears it');
  wait(120_000);
  assert.equal(probed.length, 12, 'and nobody asks it again');
  assert.equal(peers.failed('p'), 10_000, 'its outages start over');
  // the timer runs on its own clock: once it fired, the ask's silence is a new outage even if the wall clock lags
  t.mock.timers.tick(10_000);
  assert.equal(probed.length, 13);
  assert.equal(peers.failed('p'), 20_000, 'a second outage, though Date.now() had not moved');
  peers.stop();
  wait(20_000);
  assert.equal(probed.length, 13, 'stopped: nobody is asked');
  assert.equal(peers.failed('r'), 10_000);
  wait(10_000);
  assert.equal(probed.length, 13);
  peers.start();
  peers.answered('r');
  assert.equal(peers.failed('r'), 10_000);
  wait(10_000);
  assert.deepEqual(probed.slice(13), ['r'], 'started again: asked again');
  for (let i = 0; i < 4097; i++) peers.failed(`q${i}`);
  assert.equal(peers.size, 4096, 'bounded');
  assert.equal(peers.passedOver('q0'), false, 'the oldest went first');
  assert.equal(peers.passedOver('q4096'), true);
});
