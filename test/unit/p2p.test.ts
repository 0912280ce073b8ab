// Identity persistence, bootstrap join, enforced connection limits and a 20-node loopback cluster.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { loadOrCreateIdentity } from '../../src/core/p2p/identity.ts';
import { parseBootstrap } from '../../src/core/p2p/join.ts';
import { signerFor, verifyByAuthor } from '../../src/core/p2p/signer.ts';
import type { ReceivedMessage } from '../../src/core/pubsub/pubsub.ts';
import { TOPICS } from '../../src/core/pubsub/topics.ts';
import { startNode, stopAll, testConfig, waitForMesh } from '../helpers/cluster.ts';
import { until } from '../helpers/poll.ts';

test('the identity is created once (0600), reused, and a damaged file is refused, not replaced', async () => {
  const { dataDir } = testConfig();
  const first = await loadOrCreateIdentity(dataDir);
  assert.equal(first.created, true);
  assert.equal(statSync(first.file).mode & 0o777, 0o600);
  const again = await loadOrCreateIdentity(dataDir);
  assert.equal(again.created, false);
  assert.ok(again.peerId.equals(first.peerId));
  writeFileSync(first.file, 'garbage');
  await assert.rejects(loadOrCreateIdentity(dataDir), /identity file .* is damaged/);
  assert.equal(readFileSync(first.file, 'utf8'), 'garbage', 'the damaged file is left for the operator');
});

test('signatures verify by the author peer id, and fail for another author or altered data', async () => {
  const a = signerFor((await loadOrCreateIdentity(testConfig().dataDir)).privateKey);
  const b = signerFor((await loadOrCreateIdentity(testConfig().dataDir)).privateKey);
  const data = new TextEncoder().encode('chorus');
  const sig = a.sign(data);
  assert.equal(verifyByAuthor(a.author, data, sig), true);
  assert.equal(verifyByAuthor(b.author, data, sig), false);
  assert.equal(verifyByAuthor(a.author, new TextEncoder().encode('chorus!'), sig), false);
  assert.equal(verifyByAuthor('not-a-peer-id', data, sig), false);
});

test('bootstrap addresses must be multiaddrs naming their peer', () => {
  assert.throws(() => parseBootstrap(['not-an-addr']), /invalid bootstrap multiaddr "not-an-addr"/);
  assert.throws(() => parseBootstrap(['/ip4/127.0.0.1/tcp/9000']), /must end with \/p2p\/<peer-id>/);
});

test('max peers per IP is enforced on inbound connections', async () => {
  const guarded = await startNode({ p2p: { maxPeersPerIp: 2 } });
  const dialers = [await startNode(), await startNode(), await startNode()];
  try {
    const addr = guarded.libp2p.getMultiaddrs()[0]!;
    await dialers[0]!.libp2p.dial(addr);
    await dialers[1]!.libp2p.dial(addr);
    await assert.rejects(dialers[2]!.libp2p.dial(addr));
    assert.equal(guarded.libp2p.getConnections().length, 2);
  } finally {
    await stopAll([guarded, ...dialers]);
  }
});

test('20 nodes on loopback join through one bootstrap peer, which reaches all of them', async () => {
  const seed = await startNode();
  const bootstrap = [seed.addresses()[0]!];
  const nodes: ChorusNode[] = [seed];
  try {
    for (let i = 1; i < 20; i++) nodes.push(await startNode({ p2p: { bootstrap, joinStaggerMs: 200 } }));
    await waitForMesh([seed], TOPICS.coordination, 19);
    // each node has heard the seed's SUBSCRIBE, so the seed's outbound stream to it is open
    await waitForMesh(nodes.slice(1), TOPICS.coordination, 1);
    const received = Promise.all(
      nodes.slice(1).map(
        (n) =>
          new Promise<void>((resolve) => {
            const on = (m: ReceivedMessage): void => {
              if (m.envelope?.data.fleet !== true) return;
              n.pubsub.off('message', on);
              resolve();
            };
            n.pubsub.on('message', on);
          }),
      ),
    );
    const receipt = await seed.pubsub.publish('TaskAnnouncement', { fleet: true });
    assert.equal(receipt.recipients, 19);
    await received;
    assert.equal(seed.libp2p.getPeers().length, 19);
  } finally {
    await stopAll(nodes);
  }
});

test('nodes that joined through one seed find each other through the DHT (no star topology)', async () => {
  const seed = await startNode();
  const bootstrap = [seed.addresses()[0]!];
  const others: ChorusNode[] = [];
  try {
    for (let i = 0; i < 4; i++) others.push(await startNode({ p2p: { bootstrap } }));
    // the DHT's self-lookups dial the closest peers; poll the connection count with a deadline
    await until(
      '4 peers per node',
      () => {
        const peers = others.map((n) => n.libp2p.getPeers().length);
        if (peers.every((p) => p >= 4)) return true;
        throw new Error(`peers per node: ${peers}`);
      },
      { timeoutMs: 20_000 },
    );
    await seed.stop();
    // without the seed the others still form one mesh and deliver to each other
    await waitForMesh(others, TOPICS.coordination, 3);
  } finally {
    await stopAll([seed, ...others]);
  }
});
