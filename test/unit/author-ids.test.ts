// Tests for src/core/pubsub/author-ids.ts: an author's text peer ID, base58-encoded once per author.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PeerId } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { authorId } from '../../src/core/pubsub/author-ids.ts';

test('authorId gives each author its own peer ID string and encodes a returning author only once', async () => {
  const a = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
  const b = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
  let encodings = 0;
  // as GossipSub hands them over: a new PeerId object for every message of the same author
  const fresh = (id: PeerId): PeerId => {
    const copy = peerIdFromString(id.toString());
    return Object.assign(Object.create(copy) as PeerId, {
      toString: () => {
        encodings++;
        return copy.toString();
      },
    });
  };
  assert.equal(authorId(fresh(a)), a.toString());
  assert.equal(authorId(fresh(b)), b.toString());
  assert.equal(encodings, 2);
  for (let i = 0; i < 5; i++) assert.equal(authorId(fresh(a)), a.toString());
  assert.equal(authorId(fresh(b)), b.toString());
  assert.equal(encodings, 2, 'returning authors come from the cache');
});
