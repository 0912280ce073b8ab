// COOEE hellos: a peer joining the coordination topic learns who every node is from a direct hello
// (not a cluster-wide broadcast), the nodes learn who it is, and a hello from a peer that is not
// admitted never reaches the directory.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../src/core/log.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { PresenceHello } from '../../src/core/pubsub/hello.ts';
import { Presence } from '../../src/core/pubsub/presence.ts';
import { Redactor } from '../../src/core/shhh/redactor.ts';
import type { ChorusPubSub } from '../../src/core/pubsub/pubsub.ts';
import { plainHosts, startCluster, startNode, stopAll, waitForMesh, type PlainHost } from '../helpers/cluster.ts';
import { nextEvent } from '../helpers/events.ts';

describe('hellos between nodes', () => {
  let nodes: ChorusNode[] = [];
  let newcomer: ChorusNode | undefined;

  before(async () => {
    nodes = await startCluster(2, {
      roles: ['architect', 'developer'],
      config: (i) => ({ agent: { capabilities: [['design-review'], ['testing']][i] } }),
    });
  });
  after(() => stopAll(newcomer ? [...nodes, newcomer] : nodes));

  test('a newcomer learns every node from its hello, and every node learns the newcomer', async () => {
    const [a, b] = nodes as [ChorusNode, ChorusNode];
    const c = await startNode({ agent: { role: 'observer', capabilities: ['ops'] } });
    newcomer = c;
    const heardFrom = new Set<string>();
    const logged = new Set<string>();
    const stopObserving = c.recorder.observe((kind, data) => {
      const d = data as { via?: string; direction?: string; from?: string };
      if (kind === 'capability_broadcast' && d.via === 'hello' && d.direction === 'in' && d.from) logged.add(d.from);
    });
    const bothHeard = new Promise<void>((resolve) => {
      c.hello.on('heard', ({ from }) => {
        heardFrom.add(from);
        if (heardFrom.has(a.peerId) && heardFrom.has(b.peerId)) resolve();
      });
    });
    const aHeardC = nextEvent<{ from: string }>(a.hello, 'heard', (e) => e.from === c.peerId);
    const bHeardC = nextEvent<{ from: string }>(b.hello, 'heard', (e) => e.from === c.peerId);
    await c.libp2p.dial(a.libp2p.getMultiaddrs()[0]!);
    await c.libp2p.dial(b.libp2p.getMultiaddrs()[0]!);
    await Promise.all([bothHeard, aHeardC, bHeardC]);
    stopObserving();

    assert.deepEqual(
      { role: c.presence.peer(a.peerId)?.role, capabilities: c.presence.peer(a.peerId)?.capabilities },
      { role: 'architect', capabilities: ['design-review'] },
    );
    assert.deepEqual(c.presence.peer(b.peerId)?.capabilities, ['testing']);
    assert.equal(c.presence.peer(b.peerId)?.status, 'ready');
    assert.deepEqual(a.presence.peer(c.peerId)?.capabilities, ['ops']);
    assert.equal(b.presence.peer(c.peerId)?.role, 'observer');
    // every hello heard is in the newcomer's event log
    assert.ok(logged.has(a.peerId) && logged.has(b.peerId));
    await waitForMesh([a, b, c]);
  });
});

describe('a hello from a peer that is not admitted', () => {
  let hosts: PlainHost[] = [];

  before(async () => {
    hosts = await plainHosts(3);
  });
  after(() => Promise.all(hosts.map((h) => h.stop())));

  test('is ignored; an admitted peer is heard', async () => {
    const [listener, admitted, intruder] = hosts as [PlainHost, PlainHost, PlainHost];
    const helloOf = (
      h: PlainHost,
      role: string,
      capabilities: string[],
    ): { hello: PresenceHello; presence: Presence } => {
      const pubsub = { selfId: h.host.peerId.toString(), on: () => {}, off: () => {} } as unknown as ChorusPubSub;
      const presence = new Presence({
        pubsub,
        logger: silentLogger,
        intervalMs: 60_000,
        capabilities,
        expertise: [],
        maxTasks: 1,
        role,
      });
      const hello = new PresenceHello({
        libp2p: h.host,
        presence,
        logger: silentLogger,
        admit: (peer) => peer !== intruder.host.peerId.toString(),
      });
      return { hello, presence };
    };
    const { hello: receiving, presence: directory } = helloOf(listener, 'developer', []);
    await receiving.start();
    await admitted.host.dial(listener.host.getMultiaddrs()[0]!);
    await intruder.host.dial(listener.host.getMultiaddrs()[0]!);

    const ignored = nextEvent<{ from: string }>(
      receiving,
      'ignored',
      (e) => e.from === intruder.host.peerId.toString(),
    );
    assert.equal(await helloOf(intruder, 'architect', ['root']).hello.greet(listener.host.peerId.toString()), true);
    await ignored;
    const heard = nextEvent<{ from: string }>(receiving, 'heard');
    assert.equal(await helloOf(admitted, 'architect', ['review']).hello.greet(listener.host.peerId.toString()), true);
    assert.equal((await heard).from, admitted.host.peerId.toString());

    assert.equal(directory.peer(intruder.host.peerId.toString()), undefined);
    assert.deepEqual(directory.peer(admitted.host.peerId.toString())?.capabilities, ['review']);
    await receiving.stop();
  });
});

describe('a hello carrying a secret', () => {
  let hosts: PlainHost[] = [];
  before(async () => {
    hosts = await plainHosts(2);
  });
  after(() => Promise.all(hosts.map((h) => h.stop())));

  test('goes through SHHH: the peer sees the marker, the sender records the finding, never the secret', async () => {
    const [listener, sender] = hosts as [PlainHost, PlainHost];
    const secret = 'ghp_yI0fDAVvfx29y1MvDQQcnwePUiS5y7gKo4s2';
    const pubsubOf = (h: PlainHost): ChorusPubSub =>
      ({ selfId: h.host.peerId.toString(), on: () => {}, off: () => {} }) as unknown as ChorusPubSub;
    const presenceOf = (h: PlainHost, capabilities: string[]): Presence =>
      new Presence({
        pubsub: pubsubOf(h),
        logger: silentLogger,
        intervalMs: 60_000,
        capabilities,
        expertise: [],
        maxTasks: 1,
        role: 'developer',
      });
    const directory = presenceOf(listener, []);
    const receiving = new PresenceHello({
      libp2p: listener.host,
      presence: directory,
      logger: silentLogger,
      admit: () => true,
    });
    await receiving.start();
    const recorded: { kind: string; data: unknown }[] = [];
    const sending = new PresenceHello({
      libp2p: sender.host,
      presence: presenceOf(sender, ['review', `deploy with ${secret}`]),
      logger: silentLogger,
      redactor: new Redactor(),
      admit: () => true,
      record: (kind, data) => recorded.push({ kind, data }),
    });
    await sender.host.dial(listener.host.getMultiaddrs()[0]!);
    const heard = nextEvent<{ from: string }>(receiving, 'heard');
    assert.equal(await sending.greet(listener.host.peerId.toString()), true);
    await heard;
    const capabilities = directory.peer(sender.host.peerId.toString())?.capabilities ?? [];
    assert.equal(capabilities[0], 'review');
    assert.match(capabilities[1] ?? '', /^deploy with \[REDACTED:[a-z0-9_.-]+\]$/i);
    const audit = recorded.filter((r) => r.kind === 'shhh_redaction');
    assert.equal(audit.length, 1);
    assert.ok(!JSON.stringify(recorded).includes(secret), 'the secret is in no record');
    await receiving.stop();
  });
});
