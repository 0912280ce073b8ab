// Version hints are hearsay with limits: bounded in number (the least recently raised go first),
// expiring, parsed strictly from the network, and taken peer to peer only from an admitted sender (whose
// connection proved who it is); still signed for receivers of earlier releases.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { signerFor, verifyByAuthor } from '../../src/core/p2p/signer.ts';
import {
  encodeSignedHint,
  HINT_RECORD_MAX,
  hintRoutes,
  parseHint,
  readHintNote,
  VersionHints,
} from '../../src/core/decisions/hints.ts';

test('hints are bounded: a flood of subjects keeps at most `max`, dropping the least recently raised', () => {
  const hints = new VersionHints({ max: 100 });
  hints.note('kept', 3);
  for (let i = 0; i < 20_000; i++) {
    hints.note(`flood-${i}`, 1e9);
    if (i % 50 === 0) hints.note('kept', 3 + i); // raised again: stays among the newest
  }
  assert.equal(hints.size, 100);
  assert.equal(hints.get('flood-0'), undefined);
  assert.equal(hints.get('flood-19999'), 1e9);
  assert.equal(hints.get('kept'), 3 + 19_950);
});

test('hints expire: a hint not raised again within the TTL is forgotten', () => {
  let now = 1_000;
  const hints = new VersionHints({ ttlMs: 60_000, now: () => now });
  assert.equal(hints.note('s', 7), true);
  assert.equal(hints.note('s', 5), false, 'an older version is no news');
  now += 59_000;
  assert.equal(hints.get('s'), 7);
  now += 2_000;
  assert.equal(hints.get('s'), undefined);
  assert.deepEqual(hints.subjects(), []);
  assert.equal(hints.note('s', 2), true, 'after expiry any version is news again');
});

test('hints from the network: only {subject, version ≥ 1 (safe integer)} passes', () => {
  assert.deepEqual(parseHint({ subject: 'a:b@c:d/x', version: 2, hash: 'h' }), { subject: 'a:b@c:d/x', version: 2 });
  for (const bad of [
    null,
    'x',
    { subject: 'a', version: 0 },
    { subject: 'a', version: 1.5 },
    { subject: 'a', version: Number.MAX_VALUE },
    { subject: '', version: 1 },
    { subject: 'a'.repeat(2000), version: 1 },
    { version: 1 },
  ]) {
    assert.equal(parseHint(bad), undefined, JSON.stringify(bad));
  }
});

test('a hint sent peer to peer is taken only from an admitted sender, with sane fields; signed for earlier releases', async () => {
  const node = signerFor(await generateKeyPair('Ed25519'));
  const hint = { subject: 'a:b@c:d/x', version: 3, hash: 'ab'.repeat(32) };
  const bytes = encodeSignedHint(hint, node.sign);
  const admitted = (a: string) => a === node.author;
  assert.deepEqual(readHintNote(node.author, bytes, admitted), hint);
  // a sender not (or no longer) admitted: nothing is taken, whatever the bytes say
  assert.equal(
    readHintNote(node.author, bytes, () => false),
    undefined,
  );
  // what an earlier release checks: the sender's signature over a domain tag and exactly these fields
  const sent = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  const signed = new TextEncoder().encode(`chorus/decision-hint/1\n${hint.subject}\n${hint.version}\n${hint.hash}`);
  assert.equal(verifyByAuthor(node.author, signed, Buffer.from(sent.signature as string, 'base64')), true);
  // fields that are not a sane hint
  for (const change of [{ version: 0 }, { version: 1.5 }, { subject: '' }, { hash: 7 }, { hash: 'h'.repeat(129) }]) {
    const bad = new TextEncoder().encode(JSON.stringify({ ...sent, ...change }));
    assert.equal(readHintNote(node.author, bad, admitted), undefined, JSON.stringify(change));
  }
  for (const junk of ['', 'not json', '{}', 'null', '[]'])
    assert.equal(readHintNote(node.author, new TextEncoder().encode(junk), admitted), undefined, junk);
});

test('a hint note carries a small record (outside the hint signature) and leaves a large one out', async () => {
  const node = signerFor(await generateKeyPair('Ed25519'));
  const admitted = () => true;
  const hint = { subject: 'a:b@c:d/x', version: 3, hash: 'ab'.repeat(32) };
  const record = new TextEncoder().encode(JSON.stringify({ subject: hint.subject, payload: 'é'.repeat(100) }));
  const taken = readHintNote(node.author, encodeSignedHint(hint, node.sign, record), admitted);
  assert.deepEqual(taken, { ...hint, record });
  const large = new Uint8Array(HINT_RECORD_MAX + 1).fill(0x61);
  assert.deepEqual(readHintNote(node.author, encodeSignedHint(hint, node.sign, large), admitted), hint);
  // a record added by someone else on the way is over the limit: the hint alone is taken
  const sent = JSON.parse(new TextDecoder().decode(encodeSignedHint(hint, node.sign))) as Record<string, unknown>;
  const padded = new TextEncoder().encode(JSON.stringify({ ...sent, record: 'a'.repeat(HINT_RECORD_MAX + 1) }));
  assert.deepEqual(readHintNote(node.author, padded, admitted), hint);
});

test('a write’s hint: a note to each connected peer that did not store it; the hints topic too when a known member is not connected', () => {
  const full = hintRoutes({
    self: 'w',
    holders: ['a', 'b', 'c'],
    connected: ['a', 'b', 'c', 'd', 'e'],
    members: ['w', 'a', 'b', 'c', 'd', 'e'],
  });
  assert.deepEqual(full, { notes: ['d', 'e'], gossip: false }, 'everyone connected: notes only');
  // a sparse cluster: f is a member (a voter or an observer heard from) this node has no connection to
  const sparse = hintRoutes({
    self: 'w',
    holders: ['a', 'b', 'c'],
    connected: ['a', 'b', 'c', 'd'],
    members: ['w', 'a', 'b', 'c', 'd', 'f'],
  });
  assert.deepEqual(sparse, { notes: ['d'], gossip: true });
  // a holder that is not connected (it stored the write through another path) needs nothing
  const holderAway = hintRoutes({
    self: 'w',
    holders: ['a', 'b', 'c'],
    connected: ['a', 'b', 'd'],
    members: ['a', 'b', 'c', 'd'],
  });
  assert.deepEqual(holderAway, { notes: ['d'], gossip: false });
  // every connected peer stored it, but a member elsewhere did not: the topic still carries it
  assert.deepEqual(hintRoutes({ self: 'w', holders: ['a'], connected: ['a'], members: ['a', 'z'] }), {
    notes: [],
    gossip: true,
  });
  // a connected peer that stopped answering (passed over by writes and reads) hears it on the topic, not by a note
  const passedOver = hintRoutes({
    self: 'w',
    holders: ['a', 'b', 'c'],
    connected: ['a', 'b', 'c', 'd', 'e'],
    members: ['w', 'a', 'b', 'c', 'd', 'e'],
    passedOver: (peer) => peer === 'e',
  });
  assert.deepEqual(passedOver, { notes: ['d'], gossip: true });
  // a passed-over holder changes nothing: it is not told either way
  assert.deepEqual(
    hintRoutes({ self: 'w', holders: ['a'], connected: ['a', 'd'], members: ['a', 'd'], passedOver: (p) => p === 'a' }),
    { notes: ['d'], gossip: false },
  );
});
