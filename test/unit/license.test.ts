// Licenses: every kind of bad license refused with its own message; parser fuzzing; authority keys.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { generateAuthority, issueLicense, loadAuthority, writeLicense } from '../../src/core/license/authority.ts';
import {
  LicenseError,
  parseLicense,
  serializeLicense,
  verifyLicense,
  type LicenseDocument,
} from '../../src/core/license/document.ts';

const dir = mkdtempSync(join(tmpdir(), 'chorus-license-'));
const authority = generateAuthority(join(dir, 'authority.key'));
const other = generateAuthority(join(dir, 'other.key'));
const DAY = 86_400_000;

function issue(over: Partial<Parameters<typeof issueLicense>[1]> = {}): LicenseDocument {
  return issueLicense(authority, {
    licensee: 'Acme',
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
