// Licenses and node certificates: every kind of bad license or certificate refused with its own
// message; parser fuzzing; authority and licensee keys.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { sign } from 'node:crypto';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { signedBytes } from '../../src/core/canonical.ts';
import { generateKeyFile } from '../../src/core/crypto/ed25519.ts';
import { generateAuthority, issueLicense, loadAuthority, writeLicense } from '../../src/core/license/authority.ts';
import {
  issueCertificate,
  parseCredential,
  serializeCertificate,
  toCertificate,
  verifyCertificate,
  type NodeCertificate,
} from '../../src/core/license/certificate.ts';
import {
  LicenseError,
  parseLicense,
  serializeLicense,
  signingBytes,
  verifyLicense,
  type LicenseDocument,
} from '../../src/core/license/document.ts';

const dir = mkdtempSync(join(tmpdir(), 'chorus-license-'));
const authority = generateAuthority(join(dir, 'authority.key'));
const other = generateAuthority(join(dir, 'other.key'));
const licensee = generateKeyFile(join(dir, 'licensee.key'));
const DAY = 86_400_000;
const peerA = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
const peerB = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();

function issue(over: Partial<Parameters<typeof issueLicense>[1]> = {}): LicenseDocument {
  return issueLicense(authority, {
    licensee: 'Acme',
    licenseeKey: licensee.publicKey,
    clusterId: 'prod',
    maxNodes: 3,
    expiresAt: new Date(Date.now() + 30 * DAY),
    ...over,
  });
}

function refusal(input: string | LicenseDocument, opts: { authorities?: string[]; clusterId?: string } = {}) {
  try {
    const doc = typeof input === 'string' ? parseLicense(input) : input;
    verifyLicense(doc, { authorities: opts.authorities ?? [authority.publicKey], clusterId: opts.clusterId ?? 'prod' });
  } catch (err) {
    assert.ok(err instanceof LicenseError, `a LicenseError, not ${String(err)}`);
    return { reason: err.reason, message: err.message };
  }
  return undefined;
}

test('an issued license verifies, round-trips through its file, and the key file is 0600', () => {
  const doc = issue({ features: ['slurp'] });
  const file = join(dir, 'ok.json');
  writeLicense(file, doc);
  const lic = verifyLicense(parseLicense(readFileSync(file)), {
    authorities: [authority.publicKey],
    clusterId: 'prod',
  });
  assert.equal(lic.licensee, 'Acme');
  assert.deepEqual(lic.features, ['slurp']);
  assert.equal(statSync(join(dir, 'authority.key')).mode & 0o777, 0o600);
  assert.equal(loadAuthority(join(dir, 'authority.key')).publicKey, authority.publicKey);
  assert.throws(() => generateAuthority(join(dir, 'authority.key')), /already exists/);
});

test('each bad license is refused with its own reason and message', () => {
  const good = issue();
  const tampered: LicenseDocument = { ...good, license: { ...good.license, maxNodes: 1000 } };
  const foreign = issueLicense(other, {
    licensee: 'Acme',
    licenseeKey: licensee.publicKey,
    clusterId: 'prod',
    maxNodes: 3,
    expiresAt: new Date(Date.now() + DAY),
  });
  const expired = issue({ notBefore: new Date(Date.now() - 10 * DAY), expiresAt: new Date(Date.now() - DAY) });
  const future = issue({ notBefore: new Date(Date.now() + DAY), expiresAt: new Date(Date.now() + 10 * DAY) });
  const cases: [string, string | LicenseDocument, string][] = [
    ['not JSON', '{"format": "chorus-license/1",', 'malformed'],
    ['missing field', JSON.stringify({ ...good, license: { ...good.license, clusterId: undefined } }), 'malformed'],
    ['wrong format', JSON.stringify({ ...good, format: 'chorus-license/9' }), 'malformed'],
    ['a bearer license of before', JSON.stringify({ ...good, format: 'chorus-license/1' }), 'malformed'],
    ['no licensee key', JSON.stringify({ ...good, license: { ...good.license, licenseeKey: undefined } }), 'malformed'],
    ['bad signature encoding', JSON.stringify({ ...good, signature: 'x' }), 'malformed'],
    ['altered field', tampered, 'bad_signature'],
    ['untrusted authority', foreign, 'untrusted_authority'],
    ['expired', expired, 'expired'],
    ['not yet valid', future, 'not_yet_valid'],
    ['wrong cluster', good, 'wrong_cluster'],
  ];
  const messages = new Set<string>();
  for (const [name, input, reason] of cases) {
    const r = refusal(input, name === 'wrong cluster' ? { clusterId: 'staging' } : {});
    assert.ok(r, `${name} is refused`);
    assert.equal(r.reason, reason, name);
    assert.doesNotMatch(r.message, /\n/, 'one line');
    messages.add(r.message);
  }
  assert.equal(messages.size, cases.length, 'every case has its own message');
  assert.equal(refusal(good), undefined, 'the untouched license is fine');
});

test('fuzz: random input never crashes the parser and is never accepted', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.json(), fc.uint8Array({ maxLength: 512 })), (input) => {
      const r = refusal(typeof input === 'string' ? input : Buffer.from(input).toString('latin1'));
      assert.ok(r, 'refused');
    }),
    { numRuns: 500 },
  );
});

test('fuzz: truncated or mutated licenses are refused unless the mutation left the content identical', () => {
  const good = issue();
  const text = serializeLicense(good);
  fc.assert(
    fc.property(fc.nat(text.length - 1), fc.integer({ min: 32, max: 126 }), fc.boolean(), (at, code, truncate) => {
      const input = truncate ? text.slice(0, at) : text.slice(0, at) + String.fromCharCode(code) + text.slice(at + 1);
      const r = refusal(input);
      if (r === undefined) {
        // accepted: only possible when the mutation hit insignificant whitespace
        assert.deepEqual(parseLicense(input), good);
      }
    }),
    { numRuns: 1000 },
  );
});

test('a license file over the size limit is refused before parsing', () => {
  const file = join(dir, 'big.json');
  writeFileSync(file, `{"pad":"${'x'.repeat(20_000)}"}`);
  assert.match(refusal(readFileSync(file, 'utf8'))?.message ?? '', /over 16384 bytes/);
});

test('the signed bytes are the RFC 8785 form of the license, so outside tools can check a signature', () => {
  const doc = issue({ features: ['b', 'a'] });
  const text = signingBytes(doc.license).toString('utf8');
  const [domain, json] = [text.slice(0, text.indexOf('\n')), text.slice(text.indexOf('\n') + 1)];
  assert.equal(domain, 'chorus-license/2');
  // keys in code-unit order, no whitespace, arrays as given
  assert.equal(
    json,
    JSON.stringify(Object.fromEntries(Object.entries(doc.license).sort(([a], [b]) => (a < b ? -1 : 1)))),
  );
  assert.deepEqual(signingBytes(doc.license), signedBytes('chorus-license/2', { ...doc.license }));
});

function certify(doc = issue(), peer = peerA, opts: Parameters<typeof issueCertificate>[3] = {}): NodeCertificate {
  return issueCertificate(doc, licensee.privateKey, peer, opts);
}

function certRefusal(cert: unknown, peer?: string): { reason: string; message: string } | undefined {
  try {
    verifyCertificate(toCertificate(cert), { authorities: [authority.publicKey], clusterId: 'prod', peer });
  } catch (err) {
    assert.ok(err instanceof LicenseError, `a LicenseError, not ${String(err)}`);
    return { reason: err.reason, message: err.message };
  }
  return undefined;
}

test('a node certificate verifies for its own peer only, and round-trips through its file', () => {
  const cert = certify();
  const back = parseCredential(serializeCertificate(cert));
  assert.equal(back.kind, 'certificate');
  const v = verifyCertificate(back.kind === 'certificate' ? back.cert : cert, {
    authorities: [authority.publicKey],
    clusterId: 'prod',
    peer: peerA,
  });
  assert.equal(v.node.peer, peerA);
  assert.equal(v.license.licensee, 'Acme');
  assert.equal(certRefusal(cert, peerB)?.reason, 'wrong_peer');
  assert.equal(parseCredential(serializeLicense(issue())).kind, 'license');
});

test('only the licensee key the license names can certify a node', () => {
  const stranger = generateKeyFile(join(dir, 'stranger.key'));
  assert.throws(
    () => issueCertificate(issue(), stranger.privateKey, peerA),
    /this licensee key .* is not the one license .* was issued to/,
  );
  assert.throws(() => issueCertificate(issue(), licensee.privateKey, 'not-a-peer'), /not an Ed25519 peer ID/);
});

test('each bad node certificate is refused with its own reason and message', () => {
  const doc = issue({ notBefore: new Date(Date.now() - 10 * DAY) });
  const good = certify(doc);
  const stranger = generateKeyFile(join(dir, 'stranger2.key'));
  // signed by a key that is not the licensee's: the old attack, a license re-signed by whoever holds it
  const forged = {
    ...good,
    signature: sign(null, signedBytes('chorus-node-cert/1', good.node), stranger.privateKey).toString('base64url'),
  };
  const otherLicense = certify(issue());
  const cases: [string, unknown, string, string?][] = [
    ['not an object', 'x', 'malformed'],
    ['no license inside', { ...good, license: undefined }, 'malformed'],
    [
      'a tampered license inside',
      { ...good, license: { ...doc, license: { ...doc.license, maxNodes: 9 } } },
      'bad_signature',
    ],
    ['signed by another key', forged, 'bad_signature'],
    ['peer changed after signing', { ...good, node: { ...good.node, peer: peerB } }, 'bad_signature'],
    ['moved onto another license', { ...otherLicense, license: doc }, 'bad_signature'],
    [
      'expired',
      certify(doc, peerA, { notBefore: new Date(Date.now() - 2 * DAY), expiresAt: new Date(Date.now() - DAY) }),
      'expired',
    ],
    ['not yet valid', certify(doc, peerA, { notBefore: new Date(Date.now() + DAY) }), 'not_yet_valid'],
    ['for another peer', good, 'wrong_peer', peerB],
  ];
  const messages = new Set<string>();
  for (const [name, cert, reason, peer] of cases) {
    const r = certRefusal(cert, peer ?? peerA);
    assert.ok(r, `${name} is refused`);
    assert.equal(r.reason, reason, `${name}: ${r.message}`);
    assert.doesNotMatch(r.message, /\n/, 'one line');
    messages.add(r.message);
  }
  assert.ok(messages.size >= cases.length - 2, 'the messages say what is wrong');
  assert.equal(certRefusal(good, peerA), undefined, 'the untouched certificate is fine');
  // a certificate never outlives its license
  const short = issue({ expiresAt: new Date(Date.now() + DAY) });
  assert.equal(
    certify(short, peerA, { expiresAt: new Date(Date.now() + 30 * DAY) }).node.expiresAt,
    short.license.expiresAt,
  );
});

test('fuzz: mutated node certificates are refused unless the content is unchanged', () => {
  const good = certify();
  const text = serializeCertificate(good);
  fc.assert(
    fc.property(fc.nat(text.length - 1), fc.integer({ min: 32, max: 126 }), (at, code) => {
      const input = text.slice(0, at) + String.fromCharCode(code) + text.slice(at + 1);
      let json: unknown;
      try {
        json = JSON.parse(input);
      } catch {
        return;
      }
      if (certRefusal(json, peerA) === undefined) assert.deepEqual(toCertificate(json), good);
    }),
    { numRuns: 1000 },
  );
});
