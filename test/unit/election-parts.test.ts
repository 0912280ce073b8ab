// The election's small parts: durable state (atomic file, survives a reload, rejects garbage), the
// score (components, weights, clamping) and the record gate's decisions.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { isElectionRequest, isElectionResponse } from '../../src/core/election/raft.ts';
import { RecordGate, signRecord } from '../../src/core/election/records.ts';
import { DEFAULT_WEIGHTS, scoreOf } from '../../src/core/election/score.ts';
import { FileElectionStorage } from '../../src/core/election/state.ts';
import { signerFor, verifyByAuthor } from '../../src/core/p2p/signer.ts';
import { Redactor } from '../../src/core/shhh/redactor.ts';

test('election state is replaced atomically and read back after a "restart"', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-election-'));
  const a = new FileElectionStorage(dir);
  assert.deepEqual(a.load(), { currentTerm: 0, votedFor: null, voters: null, led: 0 });
  a.save({ currentTerm: 7, votedFor: 'peer-x', voters: { members: ['a', 'b', 'c'], source: 'expect:3' }, led: 2 });
  const b = new FileElectionStorage(dir);
  assert.deepEqual(b.load(), {
    currentTerm: 7,
    votedFor: 'peer-x',
    voters: { members: ['a', 'b', 'c'], source: 'expect:3' },
    led: 2,
  });
  assert.deepEqual(readdirSync(dir), ['election.json'], 'no temporary file left behind');
  writeFileSync(join(dir, 'election.json'), '{"currentTerm":-1}');
  assert.throws(() => b.load(), /not a valid election state/);
});

test('score: five weighted components in [0, 1]', () => {
  const full = scoreOf({
    uptimeMs: 10 * 3_600_000,
    capabilities: 9,
    freeMemRatio: 1,
    loadPerCpu: 0,
    reachable: 1,
    termsLed: 50,
  });
  assert.deepEqual(full, { uptime: 1, capabilities: 1, resources: 1, network: 1, experience: 1, total: 1 });
  const fresh = scoreOf({
    uptimeMs: 0,
    capabilities: 0,
    freeMemRatio: 0.5,
    loadPerCpu: 3,
    reachable: 0.5,
    termsLed: 0,
  });
  assert.equal(fresh.uptime, 0);
  assert.equal(fresh.resources, 0.25);
  assert.equal(
    fresh.total,
    Math.round(((0.25 * DEFAULT_WEIGHTS.resources + 0.5 * DEFAULT_WEIGHTS.network) / 1) * 1000) / 1000,
  );
  const onlyNetwork = scoreOf(
    { uptimeMs: 0, capabilities: 0, freeMemRatio: 0, loadPerCpu: 1, reachable: 0.8, termsLed: 0 },
    { uptime: 0, capabilities: 0, resources: 0, network: 1, experience: 0 },
  );
  assert.equal(onlyNetwork.total, 0.8);
});

test('record gate: signature, leader of the term, stale terms, replays, unknown leaders', async () => {
  const [k1, k2] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')]);
  const leader = signerFor(k1);
  const other = signerFor(k2);
  const known = new Map<number, string>([[3, leader.author]]);
  const knowledge = {
    leaderOf: (t: number) => known.get(t),
    get highestKnownLeaderTerm() {
      return Math.max(...known.keys());
    },
  };
  const gate = new RecordGate(knowledge, verifyByAuthor);
  const rec = (signer: typeof leader, term: number, seq: number, claimed = signer.author) =>
    signRecord(signer, { kind: 'slurp-context', term, leader: claimed, seq, issuedAt: 'now', payload: { seq } });
  assert.equal(gate.check(rec(leader, 3, 1)).ok, true);
  assert.deepEqual(gate.check(rec(leader, 3, 1)), { ok: false, reason: 'replay' });
  assert.deepEqual(gate.check(rec(other, 3, 2)), { ok: false, reason: 'not-leader' });
  assert.deepEqual(gate.check(rec(other, 3, 2, leader.author)), { ok: false, reason: 'signature' });
  assert.deepEqual(gate.check(rec(leader, 4, 1)), { ok: false, reason: 'unknown-leader' });
  known.set(4, other.author);
  assert.deepEqual(gate.check(rec(leader, 3, 5)), { ok: false, reason: 'stale-term' });
  assert.equal(gate.check(rec(other, 4, 1)).ok, true);
  const tampered = rec(other, 4, 2);
  tampered.body = tampered.body.replace('"seq":2', '"seq":3');
  assert.deepEqual(gate.check(tampered), { ok: false, reason: 'signature' });
  assert.deepEqual(gate.check({ body: '{', sig: '' }), { ok: false, reason: 'malformed' });
});

test('a leader’s SHHH policy replaces the configured extra rules and survives a SIGHUP reload of them', () => {
  const rule = (name: string, pattern: string) => ({
    name,
    pattern,
    flags: '',
    severity: 'high' as const,
    tags: [],
    action: 'redact' as const,
  });
  const r = new Redactor({ rules: [rule('cfg', 'CFG-[0-9]+')] });
  const scrub = (t: string) => r.redactText(t).text;
  assert.equal(scrub('CFG-1 POL-2'), '[REDACTED:cfg] POL-2');
  r.setPolicyRules([rule('pol', 'POL-[0-9]+')]);
  assert.equal(scrub('CFG-1 POL-2'), 'CFG-1 [REDACTED:pol]');
  r.setRules([rule('cfg2', 'CFG-[0-9]+')]); // a reload while the policy is in force
  assert.equal(scrub('CFG-1 POL-2'), 'CFG-1 [REDACTED:pol]');
  r.setPolicyRules(undefined);
  assert.equal(scrub('CFG-1 POL-2'), '[REDACTED:cfg2] POL-2');
  assert.match(scrub('key AKIAIOSFODNN7EXAMPLE'), /REDACTED/, 'built-in rules stay');
});

test('requests and answers from the network are shape-checked', () => {
  assert.equal(isElectionRequest({ type: 'vote', term: 3, candidate: 'a', voters: 'a,b,c', last: [2, 1] }), true);
  assert.equal(isElectionRequest({ type: 'vote', term: '3', candidate: 'a', voters: 'a,b,c' }), false);
  assert.equal(isElectionRequest({ type: 'vote', term: -1, candidate: 'a', voters: 'a' }), false);
  assert.equal(isElectionRequest({ type: 'heartbeat', term: 1, leader: 'a', voters: ['a', 7], since: 0 }), false);
  assert.equal(isElectionRequest({ type: 'heartbeat', term: 1, leader: 'a', voters: ['a'], since: 0 }), true);
  assert.equal(isElectionRequest({ type: 'prevote', term: 1, candidate: 'a', voters: 'a', last: [1] }), false);
  assert.equal(isElectionRequest({ type: 'bogus' }), false);
  assert.equal(isElectionRequest(null), false);
  assert.equal(isElectionResponse({ term: 1, ok: true }), true);
  assert.equal(isElectionResponse({ term: 1, ok: 'yes' }), false);
});
