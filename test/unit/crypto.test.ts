// Tests for src/core/crypto: role policy readers, the persisted role keyring (mode, rotation, reopen),
// age envelopes (each reader decrypts, non-recipients and corruption are told apart, a mismatched key
// is named), Shamir custody, RFC 8785 canonical JSON, Ed25519 key import and derived dev role keys.
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { combine } from 'shamir-secret-sharing';
import { ChorusError, UsageError } from '../../src/core/errors.ts';
import { DEFAULT_ROLE_POLICY, canRead, readersOf, validatePolicy } from '../../src/core/crypto/policy.ts';
import type { RolePolicy } from '../../src/core/crypto/policy.ts';
import { RoleKeyring } from '../../src/core/crypto/keyring.ts';
import {
  NotARecipientError,
  decryptAsRole,
  decryptWithIdentities,
  encryptForRoles,
} from '../../src/core/crypto/envelope.ts';
import { encryptAgeFile } from '../../src/core/crypto/age-writer.ts';
import { NativeX25519Recipient } from '../../src/core/crypto/x25519.ts';
import { canonicalJson } from '../../src/core/canonical.ts';
import { derivedRoleKey } from '../../src/core/crypto/derived-keys.ts';
import {
  ed25519PrivateKey,
  ed25519PublicKey,
  keyString,
  parseKeyString,
  rawPublicKey,
  rawSeed,
} from '../../src/core/crypto/ed25519.ts';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { combineShares, parseShare, splitSecret } from '../../src/core/crypto/shamir.ts';
import { runCli } from '../helpers/run.ts';

const ROLES = ['admin', 'architect', 'developer', 'observer'];
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'chorus-crypto-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function fullKeyring(t: { after: (fn: () => Promise<void>) => void }): Promise<RoleKeyring> {
  const keyring = await RoleKeyring.open(join(await tempDir(t), 'keys', 'roles.json'));
  for (const role of ROLES) await keyring.ensureRole(role);
  return keyring;
}

function isCode(code: string): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof ChorusError, `expected ChorusError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return true;
  };
}

// ---------------------------------------------------------------- policy

test('policy: readers of each default role', () => {
  assert.deepEqual(readersOf(['admin']), ['admin']);
  assert.deepEqual(readersOf(['architect']), ['admin', 'architect']);
  assert.deepEqual(readersOf(['developer']), ['admin', 'architect', 'developer']);
  assert.deepEqual(readersOf(['observer']), ['admin', 'architect', 'observer']);
  assert.deepEqual(readersOf(['developer', 'observer', 'developer']), ['admin', 'architect', 'developer', 'observer']);
});

test('policy: canRead follows the table; unknown roles read nothing', () => {
  for (const target of ROLES) assert.equal(canRead('admin', target), true);
  assert.equal(canRead('architect', 'developer'), true);
  assert.equal(canRead('architect', 'admin'), false);
  assert.equal(canRead('developer', 'developer'), true);
  assert.equal(canRead('developer', 'architect'), false);
  assert.equal(canRead('observer', 'developer'), false);
  assert.equal(canRead('intruder', 'developer'), false);
  assert.equal(canRead('toString', 'developer'), false);
});

test('policy: readersOf rejects unknown and empty audiences; custom policies validate', () => {
  assert.throws(
    () => readersOf(['develper']),
    (err) => err instanceof UsageError && /develper/.test(err.message),
  );
  assert.throws(() => readersOf([]), UsageError);
  assert.throws(() => readersOf(['*']), UsageError);
  validatePolicy(DEFAULT_ROLE_POLICY);
  const custom: RolePolicy = { lead: ['lead', 'qa'], qa: ['qa'] };
  validatePolicy(custom);
  assert.deepEqual(readersOf(['qa'], custom), ['lead', 'qa']);
  assert.throws(() => validatePolicy({ lead: ['ghost'] }), UsageError);
  assert.throws(() => validatePolicy({ 'Bad Role': [] }), UsageError);
  assert.ok(Object.isFrozen(DEFAULT_ROLE_POLICY) && Object.isFrozen(DEFAULT_ROLE_POLICY.admin));
});

// ---------------------------------------------------------------- keyring

test('keyring: persists 0600, reopens, rotates keeping old versions; recipients use current', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'nested', 'roles.json');
  const keyring = await RoleKeyring.open(file);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.deepEqual(keyring.exportPublic(), {});

  const v1 = await keyring.ensureRole('developer');
  assert.equal(v1.version, 1);
  assert.match(v1.identity, /^AGE-SECRET-KEY-1[0-9A-Z]+$/);
  assert.match(v1.recipient, /^age1[0-9a-z]+$/);
  assert.deepEqual(await keyring.ensureRole('developer'), v1, 'ensureRole is idempotent');
  await keyring.ensureRole('observer');

  const v2 = await keyring.rotate('developer');
  assert.equal(v2.version, 2);
  assert.notEqual(v2.identity, v1.identity);
  assert.deepEqual(keyring.current('developer'), v2);
  assert.deepEqual(keyring.all('developer'), [v1, v2]);
  assert.deepEqual(keyring.identitiesFor('developer'), [v2.identity, v1.identity]);
  assert.deepEqual(keyring.recipients(['developer', 'observer']), [
    v2.recipient,
    keyring.current('observer')?.recipient,
  ]);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.deepEqual(
    (await readdir(join(dir, 'nested'))).filter((f) => f !== 'roles.json'),
    [],
    'no temp files left behind',
  );

  const reopened = await RoleKeyring.open(file);
  assert.deepEqual(reopened.all('developer'), [v1, v2]);
  assert.deepEqual(reopened.exportPublic(), {
    developer: v2.recipient,
    observer: keyring.current('observer')?.recipient,
  });
  const publicJson = JSON.stringify(reopened.exportPublic());
  assert.ok(!publicJson.includes('AGE-SECRET-KEY'), 'exportPublic carries no secret keys');
});

test('keyring: missing roles, rotate of unknown role, returned keys are copies', async (t) => {
  const keyring = await RoleKeyring.open(join(await tempDir(t), 'roles.json'));
  await keyring.ensureRole('developer');
  assert.throws(
    () => keyring.recipients(['developer', 'architect']),
    (err) => err instanceof UsageError && err.message.includes('"architect"'),
  );
  await assert.rejects(keyring.rotate('architect'), UsageError);
  await assert.rejects(keyring.ensureRole('Not A Role'), UsageError);
  assert.equal(keyring.current('architect'), undefined);
  assert.deepEqual(keyring.all('architect'), []);
  assert.deepEqual(keyring.identitiesFor('architect'), []);
  const key = keyring.current('developer');
  assert.ok(key);
  key.version = 99;
  assert.equal(keyring.current('developer')?.version, 1);
});

test('keyring: concurrent rotations are serialized into distinct versions', async (t) => {
  const file = join(await tempDir(t), 'roles.json');
  const keyring = await RoleKeyring.open(file);
  await keyring.ensureRole('developer');
  const rotated = await Promise.all([1, 2, 3, 4].map(() => keyring.rotate('developer')));
  assert.deepEqual(rotated.map((k) => k.version).sort(), [2, 3, 4, 5]);
  assert.equal((await RoleKeyring.open(file)).all('developer').length, 5);
});

test('keyring: importRole is idempotent, checks the key pair, refuses conflicts', async (t) => {
  const adminSide = await fullKeyring(t);
  await adminSide.rotate('developer');
  const nodeSide = await RoleKeyring.open(join(await tempDir(t), 'roles.json'));
  for (const key of adminSide.all('developer')) await nodeSide.importRole(key);
  for (const key of adminSide.all('developer')) await nodeSide.importRole(key);
  assert.deepEqual(nodeSide.all('developer'), adminSide.all('developer'));
  assert.deepEqual(nodeSide.roleNames(), ['developer']);

  const dev = adminSide.current('developer');
  const obs = adminSide.current('observer');
  assert.ok(dev && obs);
  await assert.rejects(nodeSide.importRole({ ...dev, recipient: obs.recipient }), isCode('INVALID_KEY'));
  await assert.rejects(
    nodeSide.importRole({ ...dev, identity: obs.identity, recipient: obs.recipient }),
    isCode('KEY_CONFLICT'),
  );
  await assert.rejects(nodeSide.importRole({ ...dev, identity: 'AGE-SECRET-KEY-1NOPE' }), (err) => {
    assert.ok(err instanceof UsageError);
    assert.ok(!err.message.includes('AGE-SECRET-KEY-1NOPE'), 'never echoes a secret key');
    return true;
  });
});

test('keyring: a damaged file is an error, never silently replaced', async (t) => {
  const file = join(await tempDir(t), 'roles.json');
  await writeFile(file, '{"format":"chorus-keyring-v1","roles":{"developer":[{"role":"developer"}]}}');
  await assert.rejects(RoleKeyring.open(file), isCode('KEYRING_CORRUPT'));
  await writeFile(file, 'not json');
  await assert.rejects(RoleKeyring.open(file), isCode('KEYRING_CORRUPT'));
  assert.equal(await readFile(file, 'utf8'), 'not json');
});

// ---------------------------------------------------------------- envelopes

test('envelope: every reader of a developer decision decrypts the exact plaintext; observer cannot', async (t) => {
  const keyring = await fullKeyring(t);
  const plaintext = enc('decision: adopt age for role envelopes ✓');
  const readers = readersOf(['developer']);
  assert.deepEqual(readers, ['admin', 'architect', 'developer']);
  const ciphertext = await encryptForRoles(plaintext, keyring.recipients(readers));
  assert.ok(ciphertext.length > plaintext.length);
  assert.equal(new TextDecoder().decode(ciphertext.subarray(0, 21)), 'age-encryption.org/v1', 'binary age format');
  const text = Buffer.from(ciphertext).toString('latin1');
  const header = text.slice(0, text.indexOf('\n--- '));
  assert.equal(header.match(/^-> X25519 /gm)?.length, 3, 'one stanza per recipient');

  for (const role of readers) {
    assert.deepEqual(await decryptWithIdentities(ciphertext, keyring.identitiesFor(role)), plaintext, role);
  }
  await assert.rejects(decryptWithIdentities(ciphertext, keyring.identitiesFor('observer')), (err) => {
    assert.ok(err instanceof NotARecipientError);
    assert.equal(err.code, 'NOT_A_RECIPIENT');
    assert.equal(err.kind, 'error');
    assert.equal(err.stanzas, 3);
    assert.match(err.message, /not a recipient/);
    return true;
  });
  await assert.rejects(decryptWithIdentities(ciphertext, []), NotARecipientError);
});

test('envelope: tampering and truncation give CIPHERTEXT_CORRUPT, distinct from NOT_A_RECIPIENT', async (t) => {
  const keyring = await fullKeyring(t);
  const plaintext = randomBytes(1024);
  const ciphertext = await encryptForRoles(plaintext, keyring.recipients(['developer', 'architect', 'admin']));
  const dev = keyring.identitiesFor('developer');
  const obs = keyring.identitiesFor('observer');

  const flipped = (i: number): Uint8Array => {
    const copy = Uint8Array.from(ciphertext);
    copy[i] = (copy[i] as number) ^ 0x01;
    return copy;
  };
  // payload byte (past header and nonce), last byte (final chunk tag), truncations, garbage
  await assert.rejects(decryptWithIdentities(flipped(ciphertext.length - 200), dev), isCode('CIPHERTEXT_CORRUPT'));
  await assert.rejects(decryptWithIdentities(flipped(ciphertext.length - 1), dev), isCode('CIPHERTEXT_CORRUPT'));
  await assert.rejects(
    decryptWithIdentities(ciphertext.subarray(0, ciphertext.length - 17), dev),
    isCode('CIPHERTEXT_CORRUPT'),
  );
  await assert.rejects(decryptWithIdentities(ciphertext.subarray(0, 40), dev), isCode('CIPHERTEXT_CORRUPT'));
  await assert.rejects(decryptWithIdentities(randomBytes(300), dev), isCode('CIPHERTEXT_CORRUPT'));
  await assert.rejects(decryptWithIdentities(new Uint8Array(0), obs), isCode('CIPHERTEXT_CORRUPT'));
  // the header MAC covers the stanzas: changing the MAC line is corruption for a real recipient
  const macAt = Buffer.from(ciphertext).toString('latin1').indexOf('\n--- ') + 6;
  await assert.rejects(decryptWithIdentities(flipped(macAt), dev), isCode('CIPHERTEXT_CORRUPT'));
  // the untouched ciphertext still works, and corruption is reported before not-a-recipient only when unparseable
  assert.deepEqual(await decryptWithIdentities(ciphertext, dev), new Uint8Array(plaintext));
  await assert.rejects(decryptWithIdentities(flipped(ciphertext.length - 1), obs), NotARecipientError);
});

test('envelope: payloads of 0, 64 KiB, 64 KiB + 1 and 200 KiB open exactly (STREAM chunks), and chunks cannot be cut or moved', async () => {
  const { Decrypter, generateIdentity, identityToRecipient } = await import('age-encryption');
  const identity = await generateIdentity();
  const recipient = await identityToRecipient(identity);
  const library = new Decrypter();
  library.addIdentity(identity);
  for (const size of [0, 1, 65536, 65537, 200 * 1024]) {
    const plaintext = randomBytes(size);
    const ciphertext = await encryptForRoles(plaintext, [recipient]);
    assert.deepEqual(await decryptWithIdentities(ciphertext, [identity]), new Uint8Array(plaintext), `${size} B`);
    assert.deepEqual(await library.decrypt(ciphertext), new Uint8Array(plaintext), `${size} B, by age-encryption`);
  }
  // three chunks: 64 KiB, 64 KiB, 1 B (each with its 16-byte tag)
  const ciphertext = await encryptForRoles(randomBytes(2 * 65536 + 1), [recipient]);
  const chunk = 65536 + 16;
  const tail = ciphertext.length - (2 * chunk + 17);
  const cut = ciphertext.subarray(0, tail + chunk); // the first chunk alone: not flagged as the last
  const swapped = Buffer.concat([
    ciphertext.subarray(0, tail),
    ciphertext.subarray(tail + chunk, tail + 2 * chunk),
    ciphertext.subarray(tail, tail + chunk),
    ciphertext.subarray(tail + 2 * chunk),
  ]);
  const extended = Buffer.concat([ciphertext, randomBytes(32)]);
  for (const [what, bad] of Object.entries({ cut, swapped, extended })) {
    await assert.rejects(decryptWithIdentities(bad, [identity]), isCode('CIPHERTEXT_CORRUPT'), what);
  }
});

test('envelope: the native reader parses headers as age-encryption does — other stanzas, long bodies, malformations', async () => {
  const { Decrypter, Encrypter, Stanza, generateIdentity, identityToRecipient } = await import('age-encryption');
  const identity = await generateIdentity();
  const plaintext = enc('read natively');
  // a file whose header also holds stanzas of another kind, with bodies of 0, 48 (an empty last line) and 100 bytes
  const encrypter = new Encrypter();
  for (const size of [0, 48, 100])
    encrypter.addRecipient({ wrapFileKey: () => [new Stanza(['other.example/x', 'a'], randomBytes(size))] });
  encrypter.addRecipient(await identityToRecipient(identity));
  const file = await encrypter.encrypt(plaintext);
  assert.deepEqual(await decryptWithIdentities(file, [identity]), plaintext);
  await assert.rejects(decryptWithIdentities(file, [await generateIdentity()]), (err: unknown) => {
    assert.ok(err instanceof NotARecipientError);
    assert.equal(err.stanzas, 4);
    return true;
  });
  const library = new Decrypter();
  library.addIdentity(identity);
  const text = Buffer.from(file).toString('latin1');
  const edit = (from: string | RegExp, to: string) => Buffer.from(text.replace(from, to), 'latin1');
  const macLine = /\n--- [^\n]+\n/.exec(text)?.[0] ?? '';
  const malformed = {
    'another version line': edit('age-encryption.org/v1', 'age-encryption.org/v2'),
    'a non-ASCII byte in a stanza line': edit('other.example/x', 'other.ex\u00e9mple/x'),
    'an empty argument': edit('other.example/x a', 'other.example/x  a'),
    'base64 with padding in a body': edit(/\n([A-Za-z0-9+/]{43})\n---/, '\n$1=\n---'),
    'no MAC line': edit(macLine, '\n'),
    "a MAC that is not the header's": edit(macLine, `\n--- ${'A'.repeat(43)}\n`),
  };
  for (const [what, bad] of Object.entries(malformed)) {
    assert.notDeepEqual(bad, Buffer.from(file), `${what}: the edit applies`);
    await assert.rejects(decryptWithIdentities(bad, [identity]), isCode('CIPHERTEXT_CORRUPT'), what);
    await assert.rejects(library.decrypt(bad), Error, `${what}: age-encryption refuses it too`);
  }
});

test('envelope: the native writer writes what age-encryption reads — other stanzas, bodies of 0, 48 and 100 bytes', async () => {
  const { Decrypter, Stanza, generateIdentity, identityToRecipient } = await import('age-encryption');
  const identity = await generateIdentity();
  const plaintext = enc('written natively');
  // a 48-byte body needs an empty line after it, or a reader takes the next stanza's line for its body
  const others = [0, 48, 100].map((size) => ({
    wrapFileKey: () => [new Stanza(['other.example/x', 'a'], randomBytes(size))],
  }));
  const file = encryptAgeFile(plaintext, [...others, new NativeX25519Recipient(await identityToRecipient(identity))]);
  const library = new Decrypter();
  library.addIdentity(identity);
  assert.deepEqual(await library.decrypt(file), plaintext);
  assert.deepEqual(await decryptWithIdentities(file, [identity]), plaintext);
  const head = Buffer.from(file).toString('latin1').split('\n---')[0]!;
  assert.equal(head.split('\n').filter((line) => line === '').length, 2, 'the empty line after 0 and 48 bytes');
  // a different file key and nonce each time
  const again = encryptAgeFile(plaintext, [new NativeX25519Recipient(await identityToRecipient(identity))]);
  const once = encryptAgeFile(plaintext, [new NativeX25519Recipient(await identityToRecipient(identity))]);
  assert.notDeepEqual(again.subarray(-plaintext.length - 32), once.subarray(-plaintext.length - 32));
});

test('envelope: invalid recipients and identities are usage errors', async () => {
  await assert.rejects(encryptForRoles(enc('x'), []), isCode('NO_RECIPIENTS'));
  await assert.rejects(encryptForRoles(enc('x'), ['age1notakey']), UsageError);
  await assert.rejects(decryptWithIdentities(enc('x'), ['not-an-identity']), isCode('INVALID_IDENTITY'));
});

test('envelope: after rotation old ciphertext opens with the old identity, new with the new', async (t) => {
  const keyring = await fullKeyring(t);
  const oldText = enc('before rotation');
  const newText = enc('after rotation');
  const oldCipher = await encryptForRoles(oldText, keyring.recipients(['developer']));
  const v1 = keyring.current('developer');
  const v2 = await keyring.rotate('developer');
  assert.ok(v1);
  const newCipher = await encryptForRoles(newText, keyring.recipients(['developer']));

  const [newest, oldest] = keyring.identitiesFor('developer') as [string, string];
  assert.equal(newest, v2.identity);
  assert.equal(oldest, v1.identity);
  assert.deepEqual(await decryptWithIdentities(oldCipher, [oldest]), oldText);
  assert.deepEqual(await decryptWithIdentities(newCipher, [newest]), newText);
  await assert.rejects(decryptWithIdentities(oldCipher, [newest]), NotARecipientError);
  await assert.rejects(decryptWithIdentities(newCipher, [oldest]), NotARecipientError);
  // the full list handles both
  assert.deepEqual(await decryptWithIdentities(oldCipher, keyring.identitiesFor('developer')), oldText);
  assert.deepEqual(await decryptWithIdentities(newCipher, keyring.identitiesFor('developer')), newText);
});

test('envelope: encrypt+decrypt of 1 KiB to 3 recipients (figure, not asserted)', async (t) => {
  const keyring = await fullKeyring(t);
  const recipients = keyring.recipients(['admin', 'architect', 'developer']);
  const identities = keyring.identitiesFor('developer');
  const payload = randomBytes(1024);
  for (let i = 0; i < 20; i++) await decryptWithIdentities(await encryptForRoles(payload, recipients), identities);
  const n = 200;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await decryptWithIdentities(await encryptForRoles(payload, recipients), identities);
  const us = Number(process.hrtime.bigint() - start) / 1000 / n;
  console.log(`crypto: encrypt+decrypt 1 KiB to 3 recipients: ${us.toFixed(0)} µs/op (n=${n})`);
});

test('envelope: sealing and opening a decision does not load Node’s fetch stack (undici)', () => {
  // In a fresh process: this test runner (and the interop test below) may load it for its own reasons.
  const envelope = pathToFileURL(join(import.meta.dirname, '../../src/core/crypto/envelope.ts')).href;
  const script = `
    import { generateIdentity, identityToRecipient } from 'age-encryption';
    import { decryptWithIdentities, encryptForRoles } from ${JSON.stringify(envelope)};
    const identity = await generateIdentity();
    const plaintext = new TextEncoder().encode('a decision');
    const opened = await decryptWithIdentities(await encryptForRoles(plaintext, [await identityToRecipient(identity)]), [identity]);
    console.log(JSON.stringify({
      opened: new TextDecoder().decode(opened),
      undici: process.moduleLoadList.filter((m) => m.includes('undici')),
    }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: join(import.meta.dirname, '../..'),
    encoding: 'utf8',
  });
  assert.deepEqual(JSON.parse(out), { opened: 'a decision', undici: [] });
});

// ---------------------------------------------------------------- shamir

function combinations<T>(items: T[], k: number): T[][] {
  if (k === 0) return [[]];
  return items.flatMap((item, i) => combinations(items.slice(i + 1), k - 1).map((rest) => [item, ...rest]));
}

test('shamir: share format carries prefix, threshold, index and checksum', async () => {
  const shares = await splitSecret('AGE-SECRET-KEY-1EXAMPLE');
  assert.equal(shares.length, 5);
  shares.forEach((share, i) => {
    assert.match(share, /^chorus-share-v1:3:\d+:[A-Za-z0-9_-]+:[0-9a-f]{8}$/);
    assert.equal(parseShare(share).index, i + 1);
    assert.equal(parseShare(share).threshold, 3);
  });
  assert.equal(new Set(shares).size, 5);
});

test('shamir: every 3 of 5 shares recover the secret (all 10 combinations), in any order', async () => {
  const secret = 'AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ';
  const shares = await splitSecret(secret, 5, 3);
  const subsets = combinations(shares, 3);
  assert.equal(subsets.length, 10);
  for (const subset of subsets) {
    assert.equal(new TextDecoder().decode(await combineShares(subset)), secret);
    assert.equal(new TextDecoder().decode(await combineShares([...subset].reverse())), secret);
  }
  for (const subset of combinations(shares, 4))
    assert.equal(new TextDecoder().decode(await combineShares(subset)), secret);
  assert.equal(new TextDecoder().decode(await combineShares(shares)), secret);
});

test('shamir: too few, duplicated, mismatched and corrupted shares are usage errors', async () => {
  const shares = await splitSecret(randomBytes(32), 5, 3);
  const [a, b, c] = shares as [string, string, string];
  await assert.rejects(
    combineShares([a, b]),
    (err) => err instanceof UsageError && err.message === 'need 3 shares, got 2',
  );
  await assert.rejects(combineShares([]), UsageError);
  await assert.rejects(combineShares([a, b, a]), isCode('DUPLICATE_SHARE'));

  // one mistyped character anywhere fails the checksum
  const typo = (s: string, at: number): string => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
  for (const at of [20, 25, c.length - 20, c.length - 3]) {
    await assert.rejects(combineShares([a, b, typo(c, at)]), isCode('SHARE_CHECKSUM'));
  }
  await assert.rejects(combineShares([a, b, 'hello']), isCode('BAD_SHARE'));
  await assert.rejects(combineShares([a, b, c.split(':').slice(0, 4).join(':')]), isCode('BAD_SHARE'));

  // a different threshold, and a share from another split of the same shape
  const other = await splitSecret(randomBytes(32), 5, 2);
  await assert.rejects(combineShares([a, b, other[2] as string]), isCode('SHARE_MISMATCH'));
  const sibling = await splitSecret(randomBytes(32), 5, 3);
  await assert.rejects(combineShares([a, b, sibling[3] as string]), isCode('SHARE_MISMATCH'));
  await assert.rejects(combineShares([a, b, sibling[2] as string]), isCode('SHARE_MISMATCH'));
});

test('shamir: split argument validation', async () => {
  await assert.rejects(splitSecret('s', 5, 1), UsageError);
  await assert.rejects(splitSecret('s', 2, 3), UsageError);
  await assert.rejects(splitSecret('s', 256, 3), UsageError);
  await assert.rejects(splitSecret('s', 5, 2.5), UsageError);
  await assert.rejects(splitSecret('', 5, 3), UsageError);
  assert.equal((await splitSecret('s', 255, 255)).length, 255);
  assert.equal((await splitSecret('s', 2, 2)).length, 2);
});

test('shamir: any 2 of a 3-of-5 split reveal nothing usable', async () => {
  const secret = randomBytes(32);
  const shares = await splitSecret(secret, 5, 3);
  for (const pair of combinations(shares, 2)) {
    // bypass combineShares' count check: interpolate the two raw shares with the library directly
    const raw = await combine(pair.map((s) => parseShare(s).bytes));
    const guess = raw.subarray(0, secret.length);
    assert.notDeepEqual(Buffer.from(guess), secret);
    // each byte of the guess is uniformly random: about 1 in 256 agree with the secret by chance
    const agreeing = guess.filter((byte, i) => byte === secret[i]).length;
    assert.ok(agreeing <= 8, `${agreeing} of 32 bytes agree`);
  }
});

test('shamir: property: for random secrets and thresholds every threshold-subset recovers', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 1, maxLength: 64 }),
      fc.integer({ min: 2, max: 6 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 2, max: n }))),
      async (secret, [n, k]) => {
        const shares = await splitSecret(secret, n, k);
        for (const subset of combinations(shares, k)) {
          assert.deepEqual(await combineShares(subset), secret);
        }
        if (k > 2) await assert.rejects(combineShares(shares.slice(0, k - 1)), UsageError);
      },
    ),
    { numRuns: 60 },
  );
});

test('native X25519 stanzas interoperate with age-encryption’s own in both directions', async () => {
  const { Decrypter, Encrypter, generateIdentity, identityToRecipient } = await import('age-encryption');
  const { NativeX25519Identity, NativeX25519Recipient } = await import('../../src/core/crypto/x25519.ts');
  const identity = await generateIdentity();
  const recipient = await identityToRecipient(identity);
  const message = new TextEncoder().encode('interop');
  const byLibrary = new Encrypter();
  byLibrary.addRecipient(recipient);
  const nativeReader = new Decrypter();
  nativeReader.addIdentity(new NativeX25519Identity(identity));
  assert.deepEqual(await nativeReader.decrypt(await byLibrary.encrypt(message)), message);
  const byNative = new Encrypter();
  byNative.addRecipient(new NativeX25519Recipient(recipient));
  const libraryReader = new Decrypter();
  libraryReader.addIdentity(identity);
  assert.deepEqual(await libraryReader.decrypt(await byNative.encrypt(message)), message);
  const other = new Decrypter();
  other.addIdentity(new NativeX25519Identity(await generateIdentity()));
  await assert.rejects(other.decrypt(await byNative.encrypt(message)));
});

test('native X25519 identity: the stanza it opened last is tried first, and any other place still opens', async () => {
  const { Encrypter, generateIdentity, identityToRecipient } = await import('age-encryption');
  const { NativeX25519Identity, NativeX25519Recipient } = await import('../../src/core/crypto/x25519.ts');
  const mine = await generateIdentity();
  const others = await Promise.all([generateIdentity(), generateIdentity()]);
  const recipients = await Promise.all([...others, mine].map((i) => identityToRecipient(i)));
  const fileFor = async (order: string[]) => {
    const e = new Encrypter();
    for (const r of order) e.addRecipient(new NativeX25519Recipient(r));
    return e.encrypt(new TextEncoder().encode(order.join()));
  };
  const { Decrypter } = await import('age-encryption');
  const identity = new NativeX25519Identity(mine);
  const open = async (file: Uint8Array) => {
    const d = new Decrypter();
    d.addIdentity(identity);
    return new TextDecoder().decode(await d.decrypt(file));
  };
  const last = [recipients[0]!, recipients[1]!, recipients[2]!];
  const first = [recipients[2]!, recipients[0]!, recipients[1]!];
  assert.equal(await open(await fileFor(last)), last.join()); // ours at index 2: remembered
  assert.equal(await open(await fileFor(first)), first.join()); // now at index 0: found anyway
  assert.equal(await open(await fileFor(last)), last.join());
  const stranger = new Encrypter();
  stranger.addRecipient(new NativeX25519Recipient(recipients[0]!));
  stranger.addRecipient(new NativeX25519Recipient(recipients[1]!));
  const d = new Decrypter();
  d.addIdentity(identity);
  await assert.rejects(d.decrypt(await stranger.encrypt(new Uint8Array(4))));
});

test('keyring: a scoped keyring writes to every role but reads only its own', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'chorus-scoped-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const full = await RoleKeyring.open(join(dir, 'full.json'));
  for (const role of Object.keys(DEFAULT_ROLE_POLICY)) await full.ensureRole(role);
  const file = join(dir, 'developer.json');
  await writeFile(file, full.scopedTo(['developer']), { mode: 0o600 });
  const scoped = await RoleKeyring.open(file);
  assert.deepEqual(scoped.roleNames(), full.roleNames(), 'every role is there, for encryption');
  assert.equal(scoped.holdsSecret('developer'), true);
  for (const role of ['admin', 'architect', 'observer']) {
    assert.equal(scoped.holdsSecret(role), false, role);
    assert.deepEqual(scoped.identitiesFor(role), [], role);
  }
  assert.doesNotMatch(await readFile(file, 'utf8'), new RegExp(full.current('admin')!.identity), 'no admin secret');
  // the scoped node encrypts an architect-only decision it cannot read itself; the full keyring can
  const secret = new TextEncoder().encode('architecture only');
  const ciphertext = await encryptForRoles(secret, scoped.recipients(readersOf(['architect'], DEFAULT_ROLE_POLICY)));
  await assert.rejects(decryptWithIdentities(ciphertext, scoped.identitiesFor('developer')), NotARecipientError);
  assert.deepEqual(await decryptWithIdentities(ciphertext, full.identitiesFor('architect')), secret);
  const mine = await encryptForRoles(secret, scoped.recipients(readersOf(['developer'], DEFAULT_ROLE_POLICY)));
  assert.deepEqual(await decryptWithIdentities(mine, scoped.identitiesFor('developer')), secret);
  assert.throws(() => scoped.scopedTo(['admin']), /does not hold the secret key of: admin/);
});

test('keys export: writes a 0600 keyring scoped to the given roles; never overwrites', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'chorus-export-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const full = await RoleKeyring.open(join(dir, 'keyring.json'));
  for (const role of Object.keys(DEFAULT_ROLE_POLICY)) await full.ensureRole(role);
  const out = join(dir, 'observer-node.json');
  const r = await runCli(['--data-dir', dir, 'keys', 'export', '--role', 'observer', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /secret keys of observer/);
  assert.equal((await stat(out)).mode & 0o777, 0o600);
  const scoped = await RoleKeyring.open(out);
  assert.deepEqual(
    scoped.roleNames().filter((role) => scoped.holdsSecret(role)),
    ['observer'],
  );
  const again = await runCli(['--data-dir', dir, 'keys', 'export', '--role', 'observer', '--out', out]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already exists/);
});

// ---------------------------------------------------------------- a role key that does not match

test('envelope: a role that may read a decision but holds another key is told so; a scoped keyring too', async (t) => {
  const writer = await fullKeyring(t);
  const elsewhere = await fullKeyring(t); // the same roles, keys from another cluster
  const readers = readersOf(['developer']);
  const ciphertext = await encryptForRoles(enc('x'), writer.recipients(readers));
  const as = (keyring: RoleKeyring, role: string) =>
    decryptAsRole(ciphertext, { role, identities: keyring.identitiesFor(role), readers });
  assert.deepEqual(await as(writer, 'developer'), enc('x'));
  await assert.rejects(as(elsewhere, 'developer'), (err) => {
    assert.ok(err instanceof NotARecipientError);
    assert.equal(err.code, 'NOT_A_RECIPIENT');
    assert.match(
      err.message,
      /^this node's developer key does not match the writer's — keyring from another cluster\?/,
    );
    return true;
  });
  // observers may not read it: the plain message, whatever keys they hold
  await assert.rejects(as(elsewhere, 'observer'), /cannot decrypt this decision \(not a recipient\)/);
  await assert.rejects(
    decryptAsRole(ciphertext, { role: 'developer', identities: [], readers }),
    /holds no secret developer key \(only the public one\)/,
  );
});

// ---------------------------------------------------------------- canonical JSON (RFC 8785)

test('canonical JSON is RFC 8785: code-unit key order, ECMAScript numbers, no whitespace; refuses what JSON cannot hold', () => {
  // RFC 8785 §3.2.3 sorts by UTF-16 code units: "\u20ac" (€) before "\ud83d\ude00" (😀), "\r" first
  assert.equal(
    canonicalJson({
      '€': 'Euro Sign',
      '\r': 'Carriage Return',
      ﬂ: 'ligature',
      '😀': 'Smiley',
      '1': 'One',
      '\u0080': 'Control',
    }),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","€":"Euro Sign","😀":"Smiley","ﬂ":"ligature"}',
  );
  assert.equal(
    canonicalJson({ b: [1e30, 4.5e-7, -0, 1.0, 100], a: { d: null, c: true } }),
    '{"a":{"c":true,"d":null},"b":[1e+30,4.5e-7,0,1,100]}',
  );
  assert.throws(() => canonicalJson(undefined), TypeError);
  assert.throws(() => canonicalJson({ n: Number.NaN }), TypeError);
  assert.throws(() => canonicalJson({ s: '\ud800' }), TypeError);
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const once = canonicalJson(v);
      assert.equal(canonicalJson(JSON.parse(once)), once, 'a fixed point');
    }),
    { numRuns: 300 },
  );
});

// ---------------------------------------------------------------- Ed25519 keys

test('ed25519: keys import through JWK, round-trip as ed25519:<base64url>, and malformed strings are refused', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = rawPublicKey(publicKey);
  assert.equal(raw.length, 32);
  const again = ed25519PrivateKey(rawSeed(privateKey), raw);
  const sig = sign(null, enc('m'), again);
  assert.ok(verify(null, enc('m'), ed25519PublicKey(raw), sig));
  assert.ok(verify(null, enc('m'), parseKeyString(keyString(publicKey))!, sig));
  assert.equal(keyString(raw), keyString(privateKey));
  // a seed with the wrong public half is refused by node:crypto itself
  assert.throws(() => ed25519PrivateKey(rawSeed(privateKey), randomBytes(32)));
  const text = keyString(raw);
  for (const bad of ['', 'ed25519:', `x${text}`, text.slice(0, -1), `${text}A`, text.replace('ed25519:', 'ed448:')]) {
    assert.equal(parseKeyString(bad), undefined, bad);
  }
  assert.equal(parseKeyString('ed25519:' + 'A'.repeat(42) + 'B'), undefined, 'non-canonical low bits');
});

// ---------------------------------------------------------------- derived dev role keys

test('derived role keys: the same secret gives the same keypair on every node; another secret, another one', async (t) => {
  const secret = randomBytes(32);
  const a = await derivedRoleKey(secret, 'dev-x', 'developer');
  const b = await derivedRoleKey(Buffer.from(secret), 'dev-x', 'developer');
  assert.equal(a.identity, b.identity);
  assert.match(a.identity, /^AGE-SECRET-KEY-1[0-9A-Z]+$/);
  assert.notEqual((await derivedRoleKey(secret, 'dev-x', 'observer')).identity, a.identity);
  assert.notEqual((await derivedRoleKey(randomBytes(32), 'dev-x', 'developer')).identity, a.identity);
  // they are ordinary age keys: a keyring takes them, and what one node encrypts the other decrypts
  const one = await RoleKeyring.open(join(await tempDir(t), 'one.json'));
  const two = await RoleKeyring.open(join(await tempDir(t), 'two.json'));
  const derive = (role: string) => derivedRoleKey(secret, 'dev-x', role);
  assert.deepEqual(await one.ensureRoles(ROLES, derive), { generated: [], derived: ROLES });
  await two.ensureRoles(ROLES, derive);
  assert.deepEqual(await one.ensureRoles(ROLES, derive), { generated: [], derived: [] }, 'only missing roles');
  const ct = await encryptForRoles(enc('dev'), one.recipients(['developer']));
  assert.deepEqual(await decryptWithIdentities(ct, two.identitiesFor('developer')), enc('dev'));
});
