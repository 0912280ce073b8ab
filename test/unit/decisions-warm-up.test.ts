// The decision paths' warm-up (src/core/decisions/warm-up.ts): a throwaway record sealed, signed, checked in full and
// opened again, in memory only. It makes the round trip with a node's own keys; a signature that does not verify
// and a secret key that does not open the record fail it (the check and the decryption are real); without a secret
// key of its role, or with a role the policy does not name, the check still runs; nothing is stored. A node runs it
// once at start and holds nothing of it afterwards.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { MemoryDatastore } from 'datastore-core';
import { RoleKeyring } from '../../src/core/crypto/keyring.ts';
import { DEFAULT_ROLE_POLICY } from '../../src/core/crypto/policy.ts';
import { latestKey } from '../../src/core/decisions/record.ts';
import { warmDecisionPaths, type WarmUpParts } from '../../src/core/decisions/warm-up.ts';
import { signerFor, verifyByAuthor } from '../../src/core/p2p/signer.ts';
import { parseAddress, subjectKey } from '../../src/core/ucxl/address.ts';
import { startCluster, stopAll } from '../helpers/cluster.ts';

const WARM_UP_SUBJECT = subjectKey(parseAddress('ucxl://chorus:warm-up@chorus:warm-up/*^/warm-up'));

async function parts(t: { after: (fn: () => Promise<void>) => void }): Promise<WarmUpParts & { ds: MemoryDatastore }> {
  const dir = await mkdtemp(join(tmpdir(), 'chorus-warm-up-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const keyring = await RoleKeyring.open(join(dir, 'roles.json'));
  for (const role of ['admin', 'architect', 'developer']) await keyring.ensureRole(role);
  const ds = new MemoryDatastore();
  const signer = signerFor(await generateKeyPair('Ed25519'));
  return { keyring, policy: DEFAULT_ROLE_POLICY, role: 'developer', signer, verify: verifyByAuthor, datastore: ds, ds };
}

async function held(ds: MemoryDatastore): Promise<number> {
  let n = 0;
  for await (const _ of ds.query({})) n++;
  return n;
}

test('the throwaway record makes the round trip with the node’s own keys, and nothing is stored', async (t) => {
  const p = await parts(t);
  assert.equal(await warmDecisionPaths(p), true);
  assert.equal(await held(p.ds), 0);
});

test('a signature that does not verify, or a secret key that does not open the record, fails the warm-up', async (t) => {
  const p = await parts(t);
  const other = signerFor(await generateKeyPair('Ed25519'));
  await assert.rejects(
    warmDecisionPaths({ ...p, signer: { ...p.signer, sign: other.sign } }),
    /signature does not verify/,
  );
  const foreign = await parts(t); // a keyring of another cluster: its developer key opens nothing sealed here
  const keyring = {
    recipients: (r: string[]) => p.keyring.recipients(r),
    holdsSecret: () => true,
    identitiesFor: (role: string) => foreign.keyring.identitiesFor(role),
  };
  await assert.rejects(
    warmDecisionPaths({ ...p, keyring: keyring as unknown as RoleKeyring }),
    (err: Error & { code?: string }) => err.code === 'NOT_A_RECIPIENT',
  );
});

test('without a secret key of its role, or with a role the policy does not name, the record is still checked', async (t) => {
  const p = await parts(t);
  let verified = 0;
  const verify: WarmUpParts['verify'] = (...args) => (verified++, p.verify(...args));
  const publicOnly = { recipients: (r: string[]) => p.keyring.recipients(r), holdsSecret: () => false };
  assert.equal(await warmDecisionPaths({ ...p, verify, keyring: publicOnly as unknown as RoleKeyring }), false);
  assert.equal(verified, 1, 'checked, not opened');
  assert.equal(await warmDecisionPaths({ ...p, verify, role: 'auditor' }), false);
  assert.equal(verified, 2, 'checked, with the content unsealed');
  assert.equal(await held(p.ds), 0);
});

test('a node warms its decision paths up once at start, and holds nothing of the throwaway record', async () => {
  const [node] = await startCluster(1);
  try {
    assert.ok(node);
    assert.ok(node.decisions.warmedUp, 'the warm-up ran at start');
    assert.equal(await node.decisions.warmedUp, true);
    assert.equal(node.decisions.warmUp(), node.decisions.warmedUp, 'once per store');
    assert.equal(await node.decisions.localRecord(latestKey(WARM_UP_SUBJECT)), undefined);
    assert.equal(node.decisions.knownVersion(WARM_UP_SUBJECT), undefined, 'no version heard of');
    assert.equal(node.decisions.plaintexts.size, 0, 'no plaintext kept');
  } finally {
    await stopAll(node ? [node] : []);
  }
});
