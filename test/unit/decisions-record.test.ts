// decodeRecord with a node's cache of verified records: the same bytes skip the signature check (only
// once verified), different bytes — a single flipped byte — are checked in full, admission is asked
// every time, and the cache stays bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import {
  decodeRecord,
  encodeOwnRecord,
  signDecision,
  VerifiedRecords,
  type ValidationContext,
} from '../../src/core/decisions/record.ts';
import { signerFor, verifyByAuthor } from '../../src/core/p2p/signer.ts';
import { signedRecordBytes } from '../helpers/records.ts';

async function sampleRecord(version = 1): Promise<{ bytes: Uint8Array; author: string }> {
  const signer = signerFor(await generateKeyPair('Ed25519'));
  return { bytes: signedRecordBytes(signer, 'alice:architect@proj:task/adr/1.md', version), author: signer.author };
}

function context(admitted: Set<string>): ValidationContext & { verifications: number } {
  const ctx = {
    verifications: 0,
    verified: new VerifiedRecords(4),
    verify: (author: string, data: Uint8Array, sig: Uint8Array) => {
      ctx.verifications++;
      return verifyByAuthor(author, data, sig);
    },
    isAdmitted: (author: string) => admitted.has(author),
  };
  return ctx;
}

test('the same bytes are verified once; a flipped byte is checked in full and refused', async () => {
  const { bytes, author } = await sampleRecord();
  const ctx = context(new Set([author]));
  const first = decodeRecord(bytes, ctx);
  const again = decodeRecord(Uint8Array.from(bytes), ctx); // equal bytes, another buffer
  assert.equal(ctx.verifications, 1);
  assert.deepEqual(again, first);
  const forged = Uint8Array.from(bytes);
  const at = Buffer.from(forged).indexOf(Buffer.from('ciphertext').toString('base64').slice(0, 4));
  assert.ok(at > 0);
  forged[at] = 'Z'.charCodeAt(0); // the payload field: still valid JSON and base64, no longer what was signed
  assert.throws(() => decodeRecord(forged, ctx), /hash does not match/);
});

test('admission is checked on every read, also for verified bytes', async () => {
  const { bytes, author } = await sampleRecord();
  const admitted = new Set([author]);
  const ctx = context(admitted);
  decodeRecord(bytes, ctx);
  admitted.delete(author); // the author's license was revoked
  assert.throws(() => decodeRecord(bytes, ctx), /not an admitted node/);
});

test('the cache keeps at most its bound, least recently used out first', async () => {
  const records = await Promise.all([1, 2, 3, 4, 5].map((v) => sampleRecord(v)));
  const ctx = context(new Set(records.map((r) => r.author)));
  for (const r of records) decodeRecord(r.bytes, ctx);
  assert.equal(ctx.verified?.size, 4);
  assert.equal(ctx.verifications, 5);
  decodeRecord(records[4]!.bytes, ctx); // newest: still known
  assert.equal(ctx.verifications, 5);
  decodeRecord(records[0]!.bytes, ctx); // oldest: evicted, checked again
  assert.equal(ctx.verifications, 6);
});

test("a record this node signed is taken by its own validation unverified, admission still asked; others' copies are checked", async () => {
  const signer = signerFor(await generateKeyPair('Ed25519'));
  const record = signDecision(
    {
      v: 1,
      subject: 'alice:architect@proj:task/adr/2.md',
      version: 1,
      author: signer.author,
      authorRole: 'architect',
      timestamp: new Date().toISOString(),
      contentType: 'text/plain',
      prevHash: '',
      roles: ['architect'],
      payload: '',
      size: 0,
    },
    signer.sign,
  );
  const admitted = new Set([signer.author]);
  const own = context(admitted);
  const bytes = encodeOwnRecord(record, own);
  assert.deepEqual(decodeRecord(bytes, own), record);
  assert.equal(own.verifications, 0, 'its own signature is not re-verified');
  admitted.clear();
  assert.throws(() => decodeRecord(bytes, own), /not an admitted node/);
  admitted.add(signer.author);
  const peer = context(admitted); // another node: its own cache
  assert.deepEqual(decodeRecord(bytes, peer), record);
  assert.equal(peer.verifications, 1);
});
