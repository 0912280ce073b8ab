// Tests for src/core/p2p/gossip-forwards.ts. On real GossipSub hosts over loopback: where every node is connected to
// the publisher, the relayed copies of a 1 KiB message (all duplicates) are not sent; a node that is not connected to
// the publisher still gets every message, exactly once, through a relay; so do small messages; the parts of GossipSub
// the held relays rely on behave as they assume. On a stand-in for GossipSub, with mocked timers: which peers a
// relay is held for, when, and for how long.
import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, mock, test } from 'node:test';
import type { GossipsubMessage } from '@libp2p/gossipsub';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { forwardAfterIDontWant, HOLD_MS } from '../../src/core/p2p/gossip-forwards.ts';
import { plainHost, plainHosts, type PlainHost } from '../helpers/cluster.ts';
import { until } from '../helpers/poll.ts';

const TOPIC = 'CHORUS/test/forwards/v1';

/** Counts each host's deliveries by message, and the message copies all hosts sent (published and relayed). */
function watch(hosts: PlainHost[]): { delivered: Map<string, number>[]; copiesSent: () => number } {
  let copies = 0;
  const delivered = hosts.map((h) => {
    const seen = new Map<string, number>();
    h.host.services.pubsub.addEventListener('gossipsub:message', (evt: CustomEvent<GossipsubMessage>) => {
      const text = new TextDecoder().decode(evt.detail.msg.data).slice(0, 12);
      seen.set(text, (seen.get(text) ?? 0) + 1);
    });
    // GossipSub's one way out to a peer: an RPC carrying messages is a copy sent
    const gossip = h.host.services.pubsub as unknown as { sendRpc(id: string, rpc: { messages?: unknown[] }): boolean };
    const sendRpc = gossip.sendRpc.bind(gossip);
    gossip.sendRpc = (id, rpc) => {
      const sent = sendRpc(id, rpc);
      if (sent) copies += rpc.messages?.length ?? 0;
      return sent;
    };
    return seen;
  });
  return { delivered, copiesSent: () => copies };
}

const payload = (i: number, size: number): Uint8Array =>
  new TextEncoder().encode(`msg-${String(i).padStart(8, '0')}`.padEnd(size, 'x'));

async function dial(a: PlainHost, b: PlainHost): Promise<void> {
  await a.host.dial(b.host.getMultiaddrs()[0]!);
}

/** A line of `count` hosts: each connected to its neighbours only (any other connection is refused). */
async function line(count: number): Promise<PlainHost[]> {
  const keys = await Promise.all(Array.from({ length: count }, () => generateKeyPair('Ed25519')));
  const ids = keys.map((k) => peerIdFromPrivateKey(k).toString());
  const hosts = await Promise.all(
    keys.map((privateKey, i) => {
      const neighbours = new Set([ids[i - 1], ids[i + 1]]);
      return plainHost({ licensed: false, privateKey, denyPeer: (peer) => !neighbours.has(peer) });
    }),
  );
  for (let i = 0; i + 1 < count; i++) await dial(hosts[i]!, hosts[i + 1]!);
  return hosts;
}

/** The host's GossipSub mesh peers of the topic (the implementation's `mesh` map; the interface hides it). */
const meshOf = (h: PlainHost): string[] => [
  ...((h.host.services.pubsub as unknown as { mesh: Map<string, Set<string>> }).mesh.get(TOPIC) ?? []),
];

/** `count` hosts, each connected to every other, all subscribed, once every mesh holds all the others. */
async function fullMesh(count: number, started: PlainHost[]): Promise<PlainHost[]> {
  const hosts = await plainHosts(count);
  started.push(...hosts);
  for (let i = 0; i < hosts.length; i++) for (let j = i + 1; j < hosts.length; j++) await dial(hosts[i]!, hosts[j]!);
  for (const h of hosts) h.host.services.pubsub.subscribe(TOPIC);
  await until('full meshes', () => hosts.every((h) => meshOf(h).length === hosts.length - 1));
  return hosts;
}

describe('GossipSub forwards wait for IDONTWANT', () => {
  const started: PlainHost[] = [];
  after(() => Promise.all(started.map((h) => h.stop())));

  test('a cluster where all are connected gets every 1 KiB message once, without relayed copies', async () => {
    // every mesh formed (D = 4: each node relays to 3 peers other than the one it got a message from)
    const hosts = await fullMesh(5, started);
    const { delivered, copiesSent } = watch(hosts);
    const count = 40;
    const publisher = hosts[0]!.host.services.pubsub;
    for (let i = 0; i < count; i++) await publisher.publish(TOPIC, payload(i, 1024));
    await until('every delivery', () => delivered.slice(1).every((d) => d.size === count));
    for (const d of delivered.slice(1))
      assert.ok(
        [...d.values()].every((n) => n === 1),
        'each message once',
      );
    // flood publish: 4 copies a message; before, each of the 4 receivers also relayed it to its 3 other mesh peers
    // (16 a message); now a receiver's relay waits for its peers' IDONTWANT and skips them all
    assert.ok(copiesSent() < 6 * count, `${copiesSent()} copies sent for ${count} messages to 4 subscribers`);
  });

  test('a node not connected to the publisher gets every message once through a relay, large and small', async () => {
    // a line: A - B - C - D; only A publishes
    const hosts = await line(4);
    started.push(...hosts);
    for (const h of hosts) h.host.services.pubsub.subscribe(TOPIC);
    await until('meshes along the line', () =>
      hosts.every((h, i) => meshOf(h).length === (i === 0 || i === hosts.length - 1 ? 1 : 2)),
    );
    const { delivered } = watch(hosts);
    const count = 30;
    const publisher = hosts[0]!.host.services.pubsub;
    for (let i = 0; i < count; i++) await publisher.publish(TOPIC, payload(i, i % 2 === 0 ? 1024 : 100));
    await until('every delivery along the line', () => delivered.slice(1).every((d) => d.size === count));
    for (const d of delivered.slice(1))
      assert.ok(
        [...d.values()].every((n) => n === 1),
        'each message once',
      );
  });
});

describe('GossipSub internals the held relays rely on', () => {
  const started: PlainHost[] = [];
  after(() => Promise.all(started.map((h) => h.stop())));

  interface Internals {
    mesh: Map<string, Set<string>>;
    idontwants: Map<string, Map<string, number>>;
    handleIdontwant(peer: string, idontwant: { messageIDs: Uint8Array[] }[]): void;
    topics: Map<string, Set<string>>;
    mcache: { msgs: Map<string, { message: unknown }> };
    sendRpc(peer: string, rpc: { subscriptions: never[]; messages: unknown[] }): boolean;
    forwardMessage(id: string, raw: unknown, source?: string, exclude?: { has(peer: string): boolean }): void;
  }
  const internals = (h: PlainHost): Internals => h.host.services.pubsub as unknown as Internals;

  test('IDONTWANTs land in `idontwants` by message id; a forward goes only where its filter admits', async () => {
    const hosts = await fullMesh(4, started);
    const [a, b, c, d] = hosts.map((h) => h.host.peerId.toString());
    const { delivered } = watch(hosts);
    const msgIds: string[] = [];
    hosts[1]!.host.services.pubsub.addEventListener('gossipsub:message', (evt: CustomEvent<GossipsubMessage>) =>
      msgIds.push(evt.detail.msgId),
    );
    await hosts[0]!.host.services.pubsub.publish(TOPIC, payload(1, 1024));
    await until('every delivery', () => delivered.slice(1).every((m) => m.size === 1));
    // b hears the IDONTWANTs of c and d (they got the message from a too), under GossipSub's message id
    const id = msgIds[0]!;
    await until("c's and d's IDONTWANT at b", () =>
      [c!, d!].every((peer) => internals(hosts[1]!).idontwants.get(peer)?.has(id) === true),
    );
    // a relay from b to c only: the filter's `has` is all GossipSub's forward asks of an exclude set
    const sent: string[] = [];
    const gossip = internals(hosts[1]!);
    const sendRpc = gossip.sendRpc.bind(gossip);
    gossip.sendRpc = (peer, rpc) => {
      sent.push(peer);
      return sendRpc(peer, rpc);
    };
    const raw = { topic: TOPIC, data: payload(2, 1024), from: hosts[0]!.host.peerId.toMultihash().bytes };
    // the library's own forward (the instance's is chorus' wrapper, which relays two turns later)
    const own = Object.getPrototypeOf(gossip) as Internals;
    own.forwardMessage.call(gossip, 'not-said', raw, undefined, { has: (p) => p !== c });
    assert.deepEqual(sent, [c]);
    assert.ok(![a, b, d].some((p) => sent.includes(p!)));
  });

  test('1,000 IDONTWANTs in a heartbeat: all kept from a mesh peer, 512 from any other', async () => {
    const [h, meshPeer] = await fullMesh(2, started);
    const ids = Array.from({ length: 1000 }, (_, i) => new TextEncoder().encode(`message-${i}`));
    const split = [{ messageIDs: ids.slice(0, 300) }, { messageIDs: ids.slice(300) }];
    internals(h!).handleIdontwant(meshPeer!.host.peerId.toString(), split);
    assert.equal(internals(h!).idontwants.get(meshPeer!.host.peerId.toString())?.size, 1000);
    internals(h!).handleIdontwant('12D3KooWNotInTheMesh', split);
    internals(h!).handleIdontwant('12D3KooWNotInTheMesh', [{ messageIDs: [new Uint8Array([1])] }]);
    assert.equal(internals(h!).idontwants.get('12D3KooWNotInTheMesh')?.size, 512);
  });

  test('a held copy is an RPC of one message that GossipSub sends to a subscribed peer outside the mesh', async () => {
    const [a, b] = await fullMesh(2, started);
    const msgIds: string[] = [];
    b!.host.services.pubsub.addEventListener('gossipsub:message', (evt: CustomEvent<GossipsubMessage>) =>
      msgIds.push(evt.detail.msgId),
    );
    await a!.host.services.pubsub.publish(TOPIC, payload(1, 1024));
    await until('the delivery at b', () => msgIds.length === 1);
    // c joins b only, after the message: nobody relays it to c
    const c = await plainHost({ licensed: false });
    started.push(c);
    await dial(c, b!);
    const atC: string[] = [];
    c.host.services.pubsub.addEventListener('gossipsub:message', (evt: CustomEvent<GossipsubMessage>) =>
      atC.push(evt.detail.msgId),
    );
    c.host.services.pubsub.subscribe(TOPIC);
    const cId = c.host.peerId.toString();
    const gossip = internals(b!);
    await until('c subscribed, as b sees it', () => gossip.topics.get(TOPIC)?.has(cId) === true);
    const raw = gossip.mcache.msgs.get(msgIds[0]!)!.message;
    assert.equal(gossip.sendRpc(cId, { subscriptions: [], messages: [raw] }), true);
    await until('the copy at c', () => atC.length === 1);
    assert.equal(atC[0], msgIds[0]);
  });
});

describe('held relays', () => {
  const TOPIC_T = 't';
  const SOURCE = 'source';
  const AUTHOR = new Uint8Array([1, 2, 3]);
  const OTHER_AUTHOR = new Uint8Array([9, 9, 9]);

  /** A stand-in for GossipSub: a forward to mesh peers less the source, the excluded and those that said IDONTWANT. */
  function standIn(mesh: string[]) {
    const relays: { id: string; peers: string[] }[] = [];
    const idOf = new WeakMap<object, string>();
    const idontwants = new Map<string, Map<string, number>>();
    const gossip = {
      started: true,
      opts: { idontwantMinDataSize: 512 },
      mesh: new Map([[TOPIC_T, new Set(mesh)]]),
      topics: new Map([[TOPIC_T, new Set(mesh)]]),
      idontwants,
      /** the held copies: one message to one peer */
      sendRpc(peer: string, rpc: { messages: object[] }): boolean {
        relays.push({ id: idOf.get(rpc.messages[0]!)!, peers: [peer] });
        return true;
      },
      isStarted(): boolean {
        return this.started;
      },
      forwardMessage(
        id: string,
        raw: { topic: string; data?: Uint8Array; from?: Uint8Array },
        source?: string,
        exclude?: { has(p: string): boolean },
      ) {
        const peers = [...(this.mesh.get(raw.topic) ?? [])].filter(
          (p) => p !== source && exclude?.has(p) !== true && idontwants.get(p)?.has(id) !== true,
        );
        relays.push({ id, peers });
      },
    };
    forwardAfterIDontWant(gossip);
    const saysIDontWant = (peer: string, id: string): void => {
      const ids = idontwants.get(peer) ?? new Map<string, number>();
      ids.set(id, 0);
      idontwants.set(peer, ids);
    };
    /** Validates a message (GossipSub calls forwardMessage) and waits out the two turns before the relay. */
    const receive = async (id: string, from = AUTHOR, size = 1024): Promise<void> => {
      const raw = { topic: TOPIC_T, data: new Uint8Array(size), from };
      idOf.set(raw, id);
      gossip.forwardMessage(id, raw, SOURCE);
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    };
    return { gossip, relays, saysIDontWant, receive, sentTo: (id: string) => relays.filter((r) => r.id === id) };
  }

  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  test('a peer that said IDONTWANT before a relay is held for the author: no copy if it says so in time', async () => {
    const s = standIn(['b', 'c', 'd']);
    s.saysIDontWant('c', 'm1');
    await s.receive('m1');
    assert.deepEqual(s.sentTo('m1'), [{ id: 'm1', peers: ['b', 'd'] }]);
    await s.receive('m2');
    assert.deepEqual(s.sentTo('m2'), [{ id: 'm2', peers: ['b', 'd'] }], 'c is held');
    s.saysIDontWant('c', 'm2');
    mock.timers.tick(HOLD_MS);
    assert.deepEqual(s.sentTo('m2'), [{ id: 'm2', peers: ['b', 'd'] }], 'c said IDONTWANT within the hold');
  });

  test('a held peer without IDONTWANT when the hold ends gets the copy; two in a row release it', async () => {
    const s = standIn(['b', 'c']);
    s.saysIDontWant('c', 'm1');
    await s.receive('m1');
    await s.receive('m2');
    mock.timers.tick(HOLD_MS - 1);
    assert.deepEqual(s.sentTo('m2'), [{ id: 'm2', peers: ['b'] }]);
    mock.timers.tick(1);
    assert.deepEqual(s.sentTo('m2'), [
      { id: 'm2', peers: ['b'] },
      { id: 'm2', peers: ['c'] },
    ]);
    await s.receive('m3');
    assert.deepEqual(s.sentTo('m3'), [{ id: 'm3', peers: ['b'] }], 'still held after one late IDONTWANT');
    mock.timers.tick(HOLD_MS);
    await s.receive('m4');
    assert.deepEqual(s.sentTo('m4'), [{ id: 'm4', peers: ['b', 'c'] }], 'released after two');
    mock.timers.tick(HOLD_MS);
    assert.equal(s.sentTo('m4').length, 1, 'nothing held');
  });

  test('an IDONTWANT within the hold neither releases nor keeps a peer; one before a relay resets', async () => {
    const s = standIn(['c']);
    s.saysIDontWant('c', 'm1');
    await s.receive('m1');
    await s.receive('m2');
    mock.timers.tick(HOLD_MS); // late (1)
    await s.receive('m3');
    s.saysIDontWant('c', 'm3');
    mock.timers.tick(HOLD_MS); // in time: perhaps another node's held copy; the count stays at 1
    await s.receive('m4');
    mock.timers.tick(HOLD_MS); // late (2): released
    await s.receive('m5');
    assert.deepEqual(s.sentTo('m5'), [{ id: 'm5', peers: ['c'] }], 'released');
    s.saysIDontWant('c', 'm6');
    await s.receive('m6'); // before the relay: held again, the count at 0
    await s.receive('m7');
    mock.timers.tick(HOLD_MS); // late (1)
    await s.receive('m8');
    assert.deepEqual(s.sentTo('m8'), [{ id: 'm8', peers: [] }], 'held');
  });

  test('a held peer out of the mesh during the hold gets its copy while it subscribes, not after', async () => {
    const s = standIn(['b', 'c']);
    s.saysIDontWant('c', 'm1');
    await s.receive('m1');
    await s.receive('m2');
    s.gossip.mesh.get(TOPIC_T)!.delete('c'); // pruned, still subscribed
    mock.timers.tick(HOLD_MS);
    assert.deepEqual(s.sentTo('m2'), [
      { id: 'm2', peers: ['b'] },
      { id: 'm2', peers: ['c'] },
    ]);
    s.gossip.mesh.get(TOPIC_T)!.add('c');
    s.saysIDontWant('c', 'm3');
    await s.receive('m3');
    await s.receive('m4');
    s.gossip.topics.get(TOPIC_T)!.delete('c'); // unsubscribed
    mock.timers.tick(HOLD_MS);
    assert.deepEqual(s.sentTo('m4'), [{ id: 'm4', peers: ['b'] }]);
  });

  test('a peer that never says IDONTWANT first (it needs this relay) is never held', async () => {
    const s = standIn(['b', 'c']);
    for (let i = 0; i < 5; i++) {
      await s.receive(`m${i}`);
      s.saysIDontWant('c', `m${i}`); // after the relay: it got the message from this node
    }
    for (let i = 0; i < 5; i++) assert.deepEqual(s.sentTo(`m${i}`), [{ id: `m${i}`, peers: ['b', 'c'] }]);
  });

  test('a peer is held per author', async () => {
    const s = standIn(['b', 'c']);
    s.saysIDontWant('c', 'm1');
    await s.receive('m1');
    await s.receive('z1', OTHER_AUTHOR);
    assert.deepEqual(s.sentTo('z1'), [{ id: 'z1', peers: ['b', 'c'] }]);
    await s.receive('m2');
    assert.deepEqual(s.sentTo('m2'), [{ id: 'm2', peers: ['b'] }]);
  });

  test('a stopped GossipSub sends no held part; small messages are relayed at once, never held', async () => {
    const s = standIn(['b', 'c']);
    s.saysIDontWant('c', 'm1');
    await s.receive('m1');
    await s.receive('m2');
    s.gossip.started = false;
    mock.timers.tick(HOLD_MS);
    assert.equal(s.sentTo('m2').length, 1);
    s.gossip.started = true;
    s.gossip.forwardMessage('small', { topic: TOPIC_T, data: new Uint8Array(100), from: AUTHOR }, SOURCE);
    assert.deepEqual(s.sentTo('small'), [{ id: 'small', peers: ['b', 'c'] }], 'in the same turn, c included');
  });
});
