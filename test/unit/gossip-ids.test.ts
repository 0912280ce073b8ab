// GossipSub's message-id strings (messageIdString in src/core/p2p/host.ts): exactly the library's default
// (uint8arrays' unpadded base64) for ids of every length and alignment, and what the hosts are configured with.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { toString } from 'uint8arrays/to-string';
import { gossipOptions, messageIdString } from '../../src/core/p2p/host.ts';

test('a message id string is the library default, for every length and byte offset', () => {
  for (let length = 0; length <= 96; length++) {
    const whole = randomBytes(length + 3);
    for (const offset of [0, 1, 3]) {
      const id = new Uint8Array(whole.buffer, whole.byteOffset + offset, length);
      assert.equal(messageIdString(id), toString(id, 'base64'), `length ${length}, offset ${offset}`);
    }
  }
  // the ids of signed messages: a protobuf public key and an 8-byte sequence number
  const edges = [new Uint8Array(46), new Uint8Array(46).fill(255), Uint8Array.from({ length: 46 }, (_, i) => i * 5)];
  for (const id of edges) assert.equal(messageIdString(id), toString(id, 'base64'));
});

test('hosts key GossipSub caches with it', () => {
  assert.equal(gossipOptions().msgIdToStrFn, messageIdString);
});
