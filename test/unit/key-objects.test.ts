// Tests for src/core/p2p/key-objects.ts: libp2p's Ed25519 keys, once their key objects are cached, sign and verify
// exactly as @libp2p/crypto did — the same signatures, the same verdicts, the same errors — for every key.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateKeyPair, privateKeyFromRaw, publicKeyFromRaw } from '@libp2p/crypto/keys';
import { cacheEd25519KeyObjects } from '../../src/core/p2p/key-objects.ts';

/** Bytes in pieces, as libp2p's Uint8ArrayList (whose subarray() copies them out whole). */
const list = (...parts: Uint8Array[]): Uint8Array =>
  ({ subarray: () => Buffer.concat(parts) }) as unknown as Uint8Array;

const message = new TextEncoder().encode('{"type":"TaskProgress","data":{"n":1}}');

describe('cached Ed25519 key objects', () => {
  it('signs and verifies as @libp2p/crypto does, for every key and every message', async () => {
    const [a, b] = [await generateKeyPair('Ed25519'), await generateKeyPair('Ed25519')];
    const before = { a: await a.sign(message), b: await b.sign(message) };
    cacheEd25519KeyObjects();
    cacheEd25519KeyObjects(); // idempotent
    // Ed25519 is deterministic: the same key and message give the same signature as the library's own code
    assert.deepEqual(await a.sign(message), before.a);
    assert.deepEqual(await b.sign(message), before.b);
    assert.deepEqual(await a.sign(list(message.subarray(0, 5), message.subarray(5))), before.a);
    // a fresh key object of the same author (as GossipSub makes one per message) uses the cached key
    const aPublic = publicKeyFromRaw(a.publicKey.raw);
    assert.equal(await aPublic.verify(message, before.a), true);
    assert.equal(await aPublic.verify(list(message), before.a), true);
    // another author's signature, another message, a flipped bit: refused
    assert.equal(await aPublic.verify(message, before.b), false);
    assert.equal(await publicKeyFromRaw(b.publicKey.raw).verify(message, before.a), false);
    assert.equal(await aPublic.verify(message.subarray(1), before.a), false);
    const flipped = Uint8Array.from(before.a);
    flipped[10] = (flipped[10] ?? 0) ^ 1;
    assert.equal(await aPublic.verify(message, flipped), false);
    // a private key rebuilt from its bytes signs the same
    assert.deepEqual(await privateKeyFromRaw(b.raw).sign(message), before.b);
  });

  it('keeps the library errors for a malformed signature and an aborted call', async () => {
    cacheEd25519KeyObjects();
    const key = await generateKeyPair('Ed25519');
    await assert.rejects(async () => key.publicKey.verify(message, new Uint8Array(63)), /64 bytes/);
    await assert.rejects(
      async () => key.publicKey.verify(message, 'x'.repeat(64) as unknown as Uint8Array),
      /Uint8Array/,
    );
    await assert.rejects(
      async () => key.sign(message, { signal: AbortSignal.abort() }),
      (err: Error) => err.name === 'AbortError',
    );
  });
});
