// Replica sets (src/core/dht/replica-sets.ts): the closest peers to a key among this node and kad-dht's routing
// table, kept while the table holds the same peers and worked out anew once it adds or removes one.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { createHash } from 'node:crypto';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PeerId } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { ReplicaSets } from '../../src/core/dht/replica-sets.ts';

const sha = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();
const kadId = (p: PeerId): Buffer => sha(p.toMultihash().bytes);
/** The `count` closest of `peers` to `key`, worked out the slow way. */
function closest(key: Uint8Array, peers: PeerId[], count: number): string[] {
  const target = sha(key);
  const distance = (p: PeerId): bigint =>
    BigInt(`0x${Buffer.from(kadId(p).map((b, i) => b ^ (target[i] ?? 0))).toString('hex')}`);
  return [...peers]
    .sort((a, b) => (distance(a) < distance(b) ? -1 : 1))
    .slice(0, count)
    .map(String);
}

/** A routing table as kad-dht's: closestPeers over its peers, a size, peer:add / peer:remove events. */
class FakeTable extends EventTarget {
  peers: PeerId[] = [];
  asked = 0;
  listening = 0;
  override addEventListener(...args: Parameters<EventTarget['addEventListener']>): void {
    this.listening++;
    super.addEventListener(...args);
  }
  override removeEventListener(...args: Parameters<EventTarget['removeEventListener']>): void {
    this.listening--;
    super.removeEventListener(...args);
  }
  get size(): number {
    return this.peers.length;
  }
  closestPeers(id: Uint8Array, o?: { count?: number }): PeerId[] {
    this.asked++;
    const distance = (p: PeerId): bigint =>
      BigInt(`0x${Buffer.from(kadId(p).map((b, i) => b ^ (id[i] ?? 0))).toString('hex')}`);
    return [...this.peers].sort((a, b) => (distance(a) < distance(b) ? -1 : 1)).slice(0, o?.count ?? 20);
  }
}

let self: PeerId;
let peers: PeerId[];
const keys = Array.from({ length: 12 }, (_, i) => new TextEncoder().encode(`/ucxl/key-${i}`));

before(async () => {
  self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
  peers = await Promise.all(
    Array.from({ length: 8 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))),
  );
});

test('a replica set is the closest peers among this node and the table, and is kept while the table holds the same peers', () => {
  const table = new FakeTable();
  table.peers = peers.slice(0, 5);
  const sets = new ReplicaSets(() => table, self.toString());
  for (const key of keys) assert.deepEqual(sets.of(key, 3), closest(key, [self, ...table.peers], 3));
  const asked = table.asked;
  for (const key of keys) {
    const set = sets.of(key, 3);
    assert.deepEqual(set, closest(key, [self, ...table.peers], 3));
    set.pop(); // a caller's changes to the set it was given stay its own
  }
  assert.equal(table.asked, asked, 'the same key and width again: the table is not walked again');
  assert.deepEqual(sets.of(keys[0]!, 3), closest(keys[0]!, [self, ...table.peers], 3));
  assert.deepEqual(sets.of(keys[0]!, 6), closest(keys[0]!, [self, ...table.peers], 6), 'another width: its own set');
  sets.stop();
});

test('a peer the table adds or removes changes the sets at once: on its event, or when its size changed before it', () => {
  const table = new FakeTable();
  table.peers = peers.slice(0, 4);
  const sets = new ReplicaSets(() => table, self.toString());
  const check = (why: string): void => {
    for (const key of keys) assert.deepEqual(sets.of(key, 3), closest(key, [self, ...table.peers], 3), why);
  };
  check('four peers');
  // added, told at once
  table.peers.push(peers[4]!, peers[5]!);
  table.dispatchEvent(new CustomEvent('peer:add', { detail: peers[5] }));
  check('two peers added');
  // added, not told yet (kad-dht dispatches after a peer-store update): the size changed
  table.peers.push(peers[6]!);
  check('a peer added before its event');
  // one replaced by another (an eviction): the size is the same, the events tell
  table.peers = [...table.peers.filter((p) => p !== peers[0]), peers[7]!];
  table.dispatchEvent(new CustomEvent('peer:remove', { detail: peers[0] }));
  table.dispatchEvent(new CustomEvent('peer:add', { detail: peers[7] }));
  check('one peer replaced by another');
  assert.equal(table.listening, 2, 'peer:add and peer:remove');
  sets.stop();
  assert.equal(table.listening, 0, 'stopped: no longer listening');
  // a late ask (a write still under way) is answered right, worked out anew, and does not listen again
  const asked = table.asked;
  for (const key of keys) assert.deepEqual(sets.of(key, 3), closest(key, [self, ...table.peers], 3), 'after stop');
  sets.of(keys[0]!, 3);
  assert.equal(table.asked, asked + keys.length + 1);
  assert.equal(table.listening, 0);
  // started again (a node's DHT restarted in its process): sets are kept again
  sets.start();
  for (const key of keys) assert.deepEqual(sets.of(key, 3), closest(key, [self, ...table.peers], 3), 'started again');
  const walked = table.asked;
  for (const key of keys) sets.of(key, 3);
  assert.equal(table.asked, walked, 'kept again after start');
  assert.equal(table.listening, 2);
});

test('a table whose changes cannot be heard is walked for every set', () => {
  const table = { peers: peers.slice(0, 5), asked: 0, closestPeers: FakeTable.prototype.closestPeers };
  const sets = new ReplicaSets(() => table, self.toString());
  for (const key of keys) sets.of(key, 3);
  for (const key of keys) assert.deepEqual(sets.of(key, 3), closest(key, [self, ...table.peers], 3));
  assert.equal(table.asked, keys.length * 2);
  // and a node without a table yet is its own only replica
  assert.deepEqual(new ReplicaSets(() => undefined, self.toString()).of(keys[0]!, 3), [self.toString()]);
});

test('peers that came and went leave no id behind: the ids are forgotten with the sets', async () => {
  const table = new FakeTable();
  table.peers = peers.slice(0, 4);
  const sets = new ReplicaSets(() => table, self.toString());
  for (let i = 0; i < 30; i++) {
    // churn: one peer leaves the table, a new one joins it
    const gone = table.peers.shift()!;
    const joined = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
    table.peers.push(joined);
    table.dispatchEvent(new CustomEvent('peer:remove', { detail: gone }));
    table.dispatchEvent(new CustomEvent('peer:add', { detail: joined }));
    for (const key of keys) assert.deepEqual(sets.of(key, 3), closest(key, [self, ...table.peers], 3));
  }
  assert.ok(sets.idsKept <= table.peers.length + 1, `${sets.idsKept} ids kept for a table of ${table.peers.length}`);
});

test('without a table whose changes can be heard, the ids kept are bounded', async () => {
  const table = { peers: peers.slice(0, 3), asked: 0, closestPeers: FakeTable.prototype.closestPeers };
  const sets = new ReplicaSets(() => table, self.toString());
  // peers that left the table, asked for by where their records were (`also`): 4,200 of them
  const departed = await Promise.all(
    Array.from({ length: 4200 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()),
  );
  const all = [self, ...table.peers].map(String).concat(departed);
  const target = sha(keys[0]!);
  const distance = (p: string): bigint =>
    BigInt(
      `0x${Buffer.from(sha(peerIdFromString(p).toMultihash().bytes).map((b, i) => b ^ (target[i] ?? 0))).toString('hex')}`,
    );
  const expected = [...all].sort((a, b) => (distance(a) < distance(b) ? -1 : 1)).slice(0, 3);
  assert.deepEqual(sets.of(keys[0]!, 3, departed), expected);
  assert.ok(sets.idsKept <= 4096, `${sets.idsKept} ids kept`);
});
