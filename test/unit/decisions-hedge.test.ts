// Hedged replica reads in the decision store: a read of a version already heard of asks the closest
// replica alone, the others only when it answers with an older version, cannot answer, or is slower
// than usual. Replicas are fakes (the store's `direct` option), so the asks can be counted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { Record as DhtRecord } from '@libp2p/kad-dht';
import { MemoryDatastore } from 'datastore-core';
import type { RoleKeyring } from '../../src/core/crypto/keyring.ts';
import type { RolePolicy } from '../../src/core/crypto/policy.ts';
import { versionKey } from '../../src/core/decisions/record.ts';
import { DecisionStore } from '../../src/core/decisions/store.ts';
import type { DirectReplicas } from '../../src/core/dht/direct.ts';
import { UnresponsivePeers } from '../../src/core/dht/unresponsive.ts';
import { recordDatastoreKey } from '../../src/core/dht/kad.ts';
import { silentLogger } from '../../src/core/log.ts';
import type { ChorusLibp2p } from '../../src/core/p2p/host.ts';
import { signerFor, verifyByAuthor } from '../../src/core/p2p/signer.ts';
import { parseAddress, subjectKey } from '../../src/core/ucxl/address.ts';
import { signedRecordBytes } from '../helpers/records.ts';

const address = parseAddress('ucxl://alice:architect@proj:task/*^/adr/1.md');
const subject = subjectKey(address);

type Answer = { value?: Uint8Array } | undefined;

/** A store whose three remote replicas answer through `answer` (peer → its answer, or a promise of one). */
async function storeWith(answer: (peer: string, signal: AbortSignal) => Promise<Answer>, heard = true) {
  const signer = signerFor(await generateKeyPair('Ed25519'));
  const versions = new Map([1, 2].map((v) => [v, signedRecordBytes(signer, subject, v)]));
  const asked: string[] = [];
  const direct = {
    replicaSet: () => ['A', 'B', 'C'],
    liveReplicaSet: () => ['A', 'B', 'C'],
    unresponsive: new UnresponsivePeers(),
    getFrom: (peer: string, _key: Uint8Array, signal: AbortSignal) => {
      asked.push(peer);
      return answer(peer, signal);
    },
  } as unknown as DirectReplicas;
  const datastore = new MemoryDatastore();
  const store = new DecisionStore({
    libp2p: { peerId: { toString: () => 'self' } } as unknown as ChorusLibp2p,
    datastore,
    keyring: {} as RoleKeyring,
    policy: {} as RolePolicy,
    role: 'architect',
    signer,
    validation: { verify: verifyByAuthor, isAdmitted: () => true },
    replication: 3,
    logger: silentLogger,
    direct,
  });
  if (heard) store.noteVersion(subject, 2); // an announcement of version 2 was heard
  return { store, asked, signer, datastore, version: (v: number) => ({ value: versions.get(v) }) };
}

/** Never answers: ends (as a failed ask) only when the read is done with it. */
const silent = (signal: AbortSignal): Promise<Answer> =>
  new Promise((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true }));

test('a read of a version heard of asks only the closest replica when it answers with that version', async () => {
  const { store, asked, version } = await storeWith(async () => version(2));
  const meta = await store.resolve(address);
  assert.equal(meta.version, 2);
  assert.deepEqual(asked, ['A']);
});

test('an older answer from the closest replica makes the read ask the others at once', async () => {
  const { store, asked, version } = await storeWith(async (peer) => version(peer === 'A' ? 1 : 2));
  const meta = await store.resolve(address);
  assert.equal(meta.version, 2);
  assert.deepEqual(asked, ['A', 'B', 'C']);
});

test('a closest replica that does not answer in time is hedged: the next replicas answer the read', async () => {
  const { store, asked, version } = await storeWith(async (peer, signal) =>
    peer === 'A' ? silent(signal) : version(2),
  );
  const meta = await store.resolve(address);
  assert.equal(meta.version, 2);
  assert.deepEqual(asked, ['A', 'B', 'C']);
});

test('a read with no version heard of asks every replica at once', async () => {
  const { store, asked, version } = await storeWith(async () => version(2), false);
  const meta = await store.resolve(address);
  assert.equal(meta.version, 2);
  assert.deepEqual(asked, ['A', 'B', 'C']);
});

test('a peer’s note that carried its written record: the next read is answered without asking a replica', async () => {
  const { store, asked, version } = await storeWith(async () => version(2), false);
  const bytes = version(2).value as Uint8Array;
  const hash = (JSON.parse(new TextDecoder().decode(bytes)) as { hash: string }).hash;
  store.noteRecord({ subject, version: 2, hash }, bytes);
  assert.equal(store.knownVersion(subject), 2);
  assert.equal((await store.resolve(address)).version, 2);
  assert.deepEqual(asked, [], 'no replica was asked');
});

test('a noted record that is not what the signed hint names, or does not verify, is not used', async () => {
  const { signer, version } = await storeWith(async () => undefined, false);
  const bytes = version(2).value as Uint8Array;
  const hashOf = (b: Uint8Array) => (JSON.parse(new TextDecoder().decode(b)) as { hash: string }).hash;
  const hash = hashOf(bytes);
  const forged = new TextEncoder().encode(new TextDecoder().decode(bytes).replace('"size":10', '"size":11'));
  const elsewhere = signedRecordBytes(signer, `${subject}x`, 2);
  const cases = {
    'another hash': [{ subject, version: 2, hash: 'cd'.repeat(32) }, bytes],
    'another version': [{ subject, version: 3, hash }, bytes],
    'another subject': [{ subject, version: 2, hash: hashOf(elsewhere) }, elsewhere],
    'a changed record (its signature fails)': [{ subject, version: 2, hash }, forged],
  } as const;
  for (const [what, [hint, noted]] of Object.entries(cases)) {
    const { store, asked } = await storeWith(async () => version(2), false);
    store.noteRecord(hint, noted);
    assert.equal(store.knownVersion(subject), hint.version, `${what}: the hint is still heard`);
    assert.equal((await store.resolve(address)).version, 2);
    assert.ok(asked.length > 0, `${what}: the read asked the replicas`);
  }
});

test('a replica of the version heard of (its immutable key, not the latest one) answers the read itself', async () => {
  const { store, asked, datastore, version } = await storeWith(async () => version(2), false);
  const key = versionKey(subject, 2);
  await datastore.put(recordDatastoreKey(key), new DhtRecord(key, version(2).value!, new Date()).serialize());
  store.noteVersion(subject, 2); // the write's put of version 2 reached this node
  assert.equal((await store.resolve(address)).version, 2);
  assert.deepEqual(asked, [], 'no replica was asked');
  store.noteVersion(subject, 3); // a newer version: the held copy of 2 is not enough
  await store.resolve(address).catch(() => undefined);
  assert.deepEqual(asked, ['A', 'B', 'C']);
});
