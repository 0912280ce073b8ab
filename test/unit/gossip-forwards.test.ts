// Tests for src/core/p2p/gossip-forwards.ts on real GossipSub hosts over loopback: where every node is connected to
// the publisher, the relayed copies of a 1 KiB message (all duplicates) are not sent; a node that is not connected to
// the publisher still gets every message, exactly once, through a relay; so do small messages.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { GossipsubMessage } from '@libp2p/gossipsub';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
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

describe('GossipSub forwards wait for IDONTWANT', () => {
  const started: PlainHost[] = [];
  after(() => Promise.all(started.map((h) => h.stop())));

  test('a cluster where all are connected gets every 1 KiB message once, without relayed copies', async () => {
    const hosts = await plainHosts(5);
    started.push(...hosts);
    for (let i = 0; i < hosts.length; i++) for (let j = i + 1; j < hosts.length; j++) await dial(hosts[i]!, hosts[j]!);
    for (const h of hosts) h.host.services.pubsub.subscribe(TOPIC);
    // every mesh formed (D = 4: each node relays to 3 peers other than the one it got a message from)
    await until('full meshes', () => hosts.every((h) => meshOf(h).length === hosts.length - 1));
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
