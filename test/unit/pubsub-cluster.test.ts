// Multi-node pubsub behaviour on real libp2p nodes over loopback TCP, in one process.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { silentLogger } from '../../src/core/log.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { publishOnce } from '../../src/core/node/oneshot.ts';
import { NoSubscribersError, NotConfirmedError } from '../../src/core/pubsub/errors.ts';
import { defaultTopicFor, encodeEnvelope, MESSAGE_TYPES } from '../../src/core/pubsub/messages.ts';
import type { ReceivedMessage } from '../../src/core/pubsub/pubsub.ts';
import { TOPICS } from '../../src/core/pubsub/topics.ts';
import { SecretDeniedError } from '../../src/core/shhh/redactor.ts';
import { plainHost, startCluster, startNode, stopAll, testConfig, waitForMesh } from '../helpers/cluster.ts';
import { freePort } from '../helpers/daemon.ts';
import { nextEvent, until } from '../helpers/events.ts';
import { until as pollUntil } from '../helpers/poll.ts';

describe('a 5-node cluster', () => {
  let nodes: ChorusNode[] = [];
  const roles = ['developer', 'architect', 'observer', 'developer', 'architect'];

  before(async () => {
    nodes = await startCluster(5, { roles, hopLimit: 2 });
    await waitForMesh(nodes, TOPICS.metaDiscussion);
    await waitForMesh(nodes, TOPICS.contextFeedback);
  });
  after(() => stopAll(nodes));

  test('every message type arrives exactly once at every other node, from the signing author', async () => {
    const [publisher, ...others] = nodes as [ChorusNode, ...ChorusNode[]];
    const seen = others.map(() => new Map<string, number>());
    const sent = new Set<string>();
    const allIn = Promise.all(
      others.map(
        (n, i) =>
          new Promise<void>((resolve) => {
            const onMessage = (m: ReceivedMessage): void => {
              if (m.from !== publisher.peerId || !m.envelope?.data.probe) return;
              assert.equal(m.envelope.from, m.from, 'envelope sender is the signer');
              const map = seen[i] as Map<string, number>;
              map.set(m.envelope.type, (map.get(m.envelope.type) ?? 0) + 1);
              if (map.size === MESSAGE_TYPES.length) {
                n.pubsub.off('message', onMessage);
                resolve();
              }
            };
            n.pubsub.on('message', onMessage);
          }),
      ),
    );
    for (const type of MESSAGE_TYPES) {
      const receipt = await publisher.pubsub.publish(type, { probe: true, type });
      assert.equal(receipt.topic, defaultTopicFor(type));
      sent.add(type);
    }
    await allIn;
    for (const map of seen) {
      assert.equal(map.size, 31);
      for (const [type, count] of map) assert.equal(count, 1, `${type} delivered once`);
    }
    assert.equal(sent.size, 31);
  });

  test('own messages are not delivered to the publisher', async () => {
    const [a, b] = nodes as [ChorusNode, ChorusNode];
    let own = 0;
    const onOwn = (m: ReceivedMessage): void => {
      if (m.envelope?.data.own_probe) own++;
    };
    a.pubsub.on('message', onOwn);
    const atB = nextEvent<ReceivedMessage>(b.pubsub, 'message', (m) => Boolean(m.envelope?.data.own_probe));
    await a.pubsub.publish('StatusUpdate', { own_probe: true });
    await atB;
    a.pubsub.off('message', onOwn);
    assert.equal(own, 0);
  });

  test('to_roles: architects get it, the other roles skip it', async () => {
    const [publisher, ...others] = nodes as [ChorusNode, ...ChorusNode[]];
    const receipt = publisher.pubsub.publish('WorkAllocation', { to_architects: true }, { toRoles: ['architect'] });
    const outcomes = await Promise.all(
      others.map((n) =>
        Promise.race([
          nextEvent<ReceivedMessage>(n.pubsub, 'message', (m) => Boolean(m.envelope?.data.to_architects)).then(
            () => 'delivered',
          ),
          nextEvent<{ toRoles: string[] }>(n.pubsub, 'skipped', (s) => s.toRoles.includes('architect')).then(
            () => 'skipped',
          ),
        ]),
      ),
    );
    await receipt;
    assert.deepEqual(
      outcomes,
      roles.slice(1).map((r) => (r === 'architect' ? 'delivered' : 'skipped')),
    );
  });

  test('hop_count: within the limit is delivered, past it is dropped, relay stops at the limit', async () => {
    const [a, b, c] = nodes as [ChorusNode, ChorusNode, ChorusNode];
    const over = nextEvent<{ reason: string }>(b.pubsub, 'dropped', (d) => /hop_count 3 over limit 2/.test(d.reason));
    await a.pubsub.publish('MetaDiscussion', { hops: 'three' }, { hopCount: 3 });
    await over;
    const atLimit = nextEvent<ReceivedMessage>(b.pubsub, 'message', (m) => m.envelope?.data.hops === 'one');
    await a.pubsub.publish('MetaDiscussion', { hops: 'one' }, { hopCount: 1 });
    const m = await atLimit;
    const relayed = nextEvent<ReceivedMessage>(
      c.pubsub,
      'message',
      (x) => x.envelope?.data.hops === 'one' && x.from === b.peerId,
    );
    await b.pubsub.relay(m); // hop 2: still allowed
    const second = await relayed;
    assert.equal(second.envelope?.hop_count, 2);
    await assert.rejects(c.pubsub.relay(second), /hop limit 2 reached/);
  });

  test('a signed message whose envelope names another sender is rejected (forged)', async () => {
    const target = nodes[0] as ChorusNode;
    const attacker = await startNode({ agent: { role: 'developer' } });
    try {
      await attacker.libp2p.dial(target.libp2p.getMultiaddrs()[0]!);
      await waitForMesh([attacker], TOPICS.coordination, 1);
      const forged = encodeEnvelope({
        type: 'TaskClaim',
        from: target.peerId, // claims to be someone else
        timestamp: new Date().toISOString(),
        data: { forged: true },
      });
      const dropped = nextEvent<{ reason: string; from?: string }>(
        target.pubsub,
        'dropped',
        (d) => d.from === attacker.peerId,
      );
      await attacker.libp2p.services.pubsub.publish(TOPICS.coordination, forged);
      assert.match((await dropped).reason, /sender does not match the signature/);
    } finally {
      await attacker.stop();
    }
  });

  test('an unsigned message is rejected, never delivered', async () => {
    // this receiver handles each peer's RPCs strictly in order, so a later RPC from the same peer
    // proves the earlier one was fully processed
    const target = await startNode({}, { awaitRpcHandler: true, awaitRpcMessageHandler: true });
    // a licensed peer (so it stays connected) that sends unsigned messages
    const plain = await plainHost({ licensed: true, gossip: { globalSignaturePolicy: 'StrictNoSign' } });
    const host = plain.host;
    let delivered = 0;
    const onMessage = (m: ReceivedMessage): void => {
      if (m.envelope?.data.unsigned) delivered++;
    };
    target.pubsub.on('message', onMessage);
    try {
      const attacker = host.services.pubsub;
      const gossip = target.libp2p.services.pubsub;
      attacker.subscribe(TOPICS.coordination);
      await host.dial(target.libp2p.getMultiaddrs()[0]!);
      await until(attacker, 'subscription-change', () =>
        attacker.getSubscribers(TOPICS.coordination).some((p) => p.equals(target.libp2p.peerId)),
      );
      await attacker.publish(
        TOPICS.coordination,
        encodeEnvelope({
          type: 'TaskClaim',
          from: 'nobody',
          timestamp: new Date().toISOString(),
          data: { unsigned: true },
        }),
      );
      const fence = 'chorus-test/fence';
      const fenced = until(gossip, 'subscription-change', () =>
        gossip.getSubscribers(fence).some((p) => p.equals(host.peerId)),
      );
      attacker.subscribe(fence);
      await fenced;
      assert.equal(delivered, 0);
    } finally {
      target.pubsub.off('message', onMessage);
      await plain.stop();
      await target.stop();
    }
  });

  test('raw topics carry payloads without the envelope; join is idempotent; static topics stay', async () => {
    const [a, b] = nodes as [ChorusNode, ChorusNode];
    const room = 'CHORUS/meta/issue/42';
    b.pubsub.join(room);
    b.pubsub.join(room);
    assert.equal(b.pubsub.topics().filter((t) => t.topic === room).length, 1);
    const got = nextEvent<ReceivedMessage>(b.pubsub, 'message', (m) => m.topic === room);
    await a.pubsub.publishRaw(room, { hmmm: 'schema', n: 1 });
    const m = await got;
    assert.equal(m.raw, true);
    assert.deepEqual(m.payload, { hmmm: 'schema', n: 1 });
    assert.equal(m.envelope, undefined);
    b.pubsub.leave(room);
    b.pubsub.leave(room);
    assert.throws(() => b.pubsub.leave(TOPICS.coordination), /static topic/);
  });

  test('SHHH redacts secrets before they leave the node', async () => {
    const [a, b] = nodes as [ChorusNode, ChorusNode];
    const secret = 'ghp_' + 'Z9'.repeat(18);
    const got = nextEvent<ReceivedMessage>(b.pubsub, 'message', (m) => Boolean(m.envelope?.data.shhh_probe));
    const receipt = await a.pubsub.publish('TaskProgress', { shhh_probe: true, note: `token ${secret} in text` });
    assert.equal(receipt.redactions, 1);
    const m = await got;
    assert.ok(!JSON.stringify(m).includes(secret));
    assert.match(String(m.envelope?.data.note), /\[REDACTED:github-token\]/);
    const audit = a.eventLog.tail(20).find((e) => e.type === 'shhh_redaction');
    assert.ok(audit, 'an audit record is in the event log');
    assert.ok(!JSON.stringify(a.eventLog.tail(50)).includes(secret), 'the secret never reaches the log');
  });

  test('one-shot publish --join gets delivery confirmed by 2 peers', async () => {
    const result = await publishOnce({
      config: testConfig(),
      logger: silentLogger,
      join: [(nodes[0] as ChorusNode).addresses()[0]!, (nodes[1] as ChorusNode).addresses()[0]!],
      request: { type: 'TaskAnnouncement', data: { oneshot: true } },
      confirm: 2,
      timeoutMs: 10_000,
      signal: new AbortController().signal,
    });
    assert.ok(result.confirmedBy.length >= 2);
    for (const peer of result.confirmedBy) assert.ok(nodes.some((n) => n.peerId === peer));
  });

  test('one-shot publish --join to a cluster of another authority says it failed admission, and why', async () => {
    const otherAuthority = join(mkdtempSync(join(tmpdir(), 'chorus-other-authority-')), 'dev-authority.key');
    const started = performance.now();
    await assert.rejects(
      publishOnce({
        config: testConfig({ license: { dev: true, devAuthority: otherAuthority } }),
        logger: silentLogger,
        join: [(nodes[0] as ChorusNode).addresses()[0]!],
        request: { type: 'TaskAnnouncement', data: { oneshot: true } },
        confirm: 1,
        timeoutMs: 5000,
        signal: new AbortController().signal,
      }),
      (err: unknown) => {
        assert.ok(err instanceof NotConfirmedError);
        assert.match(err.message, /--join peer \S+ failed admission \(.+\)/);
        assert.doesNotMatch(err.message, /aborted due to timeout/);
        return true;
      },
    );
    assert.ok(performance.now() - started < 5000, 'it ends when admission fails, not at the deadline');
  });

  test('capability broadcasts fill the peer directory', async () => {
    const a = nodes[0] as ChorusNode;
    const architect = nodes[1] as ChorusNode;
    const heard = nextEvent<ReceivedMessage>(
      a.pubsub,
      'message',
      (m) => m.envelope?.type === 'CapabilityBcast' && m.from === architect.peerId,
    );
    await architect.presence.setCapabilities(['design-review']);
    await heard;
    const entry = a.presence.peer(architect.peerId);
    assert.equal(entry?.role, 'architect');
    assert.deepEqual(entry?.capabilities, ['design-review']);
    const peers = await a.peers();
    assert.equal(peers.filter((p) => p.connected).length >= 4, true);
    assert.ok(peers.find((p) => p.peerId === architect.peerId)?.latencyMs !== undefined);
  });
});

describe('a lone node', () => {
  test('past its start-up grace, a node with no connection nor dial fails a publish at once, however long the wait', async () => {
    const node = await startNode({ pubsub: { meshWaitMs: 200 } });
    try {
      await pollUntil('the lone node expects no peer', () => !node.pubsub.mayMeetPeers());
      node.pubsub.setMeshWait(600_000); // waiting it out would hang the test
      await assert.rejects(node.pubsub.publish('TaskClaim', { x: 1 }), (err: unknown) => {
        assert.ok(err instanceof NoSubscribersError);
        assert.equal(
          err.message,
          'no peer is subscribed to CHORUS/coordination/v1: this node is connected to no peer and is not dialling one',
        );
        return true;
      });
    } finally {
      await node.stop();
    }
  });

  test('a node still dialling its bootstrap peer waits out the bounded wait for subscribers', async () => {
    const nobody = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
    const bootstrap = [`/ip4/127.0.0.1/tcp/${await freePort()}/p2p/${nobody}`];
    const node = await startNode({ pubsub: { meshWaitMs: 100 }, p2p: { bootstrap } });
    try {
      node.pubsub.setMeshWait(400); // longer than the start-up grace (100 ms): only the dialling keeps it waiting
      await assert.rejects(node.pubsub.publish('TaskClaim', { x: 1 }), (err: unknown) => {
        assert.ok(err instanceof NoSubscribersError);
        assert.equal(err.message, 'no peer is subscribed to CHORUS/coordination/v1 (waited 400 ms for the mesh)');
        return true;
      });
    } finally {
      await node.stop();
    }
  });

  test('a publisher waits for a subscriber that joins late', async () => {
    const [a, b] = await startCluster(2);
    try {
      const topic = 'CHORUS/projects/late/coordination/v1';
      const publishing = (a as ChorusNode).pubsub.publish('ProjectUpdate', { late: true }, { topic });
      const got = nextEvent<ReceivedMessage>((b as ChorusNode).pubsub, 'message', (m) => m.topic === topic);
      (b as ChorusNode).pubsub.join(topic);
      await publishing;
      assert.equal((await got).envelope?.data.late, true);
    } finally {
      await stopAll([a as ChorusNode, b as ChorusNode]);
    }
  });

  test('a deny rule refuses the publish without sending anything', async () => {
    const node = await startNode({
      pubsub: { meshWaitMs: 100 },
      shhh: { rules: [{ name: 'project-codename', pattern: 'BLUEBIRD-\\d+', action: 'deny' }] },
    });
    try {
      await assert.rejects(node.pubsub.publish('TaskClaim', { note: 'BLUEBIRD-7 launch' }), (err: unknown) => {
        assert.ok(err instanceof SecretDeniedError);
        assert.ok(!err.message.includes('BLUEBIRD-7'));
        return true;
      });
    } finally {
      await node.stop();
    }
  });
});
