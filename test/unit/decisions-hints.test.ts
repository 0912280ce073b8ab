// Version hints are hearsay with limits: bounded in number (the least recently raised go first),
// expiring, and parsed strictly from the network.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHint, VersionHints } from '../../src/core/decisions/hints.ts';

test('hints are bounded: a flood of subjects keeps at most `max`, dropping the least recently raised', () => {
  const hints = new VersionHints({ max: 100 });
  hints.note('kept', 3);
  for (let i = 0; i < 20_000; i++) {
    hints.note(`flood-${i}`, 1e9);
    if (i % 50 === 0) hints.note('kept', 3 + i); // raised again: stays among the newest
  }
  assert.equal(hints.size, 100);
  assert.equal(hints.get('flood-0'), undefined);
  assert.equal(hints.get('flood-19999'), 1e9);
  assert.equal(hints.get('kept'), 3 + 19_950);
});

test('hints expire: a hint not raised again within the TTL is forgotten', () => {
  let now = 1_000;
  const hints = new VersionHints({ ttlMs: 60_000, now: () => now });
  assert.equal(hints.note('s', 7), true);
  assert.equal(hints.note('s', 5), false, 'an older version is no news');
  now += 59_000;
  assert.equal(hints.get('s'), 7);
  now += 2_000;
  assert.equal(hints.get('s'), undefined);
  assert.deepEqual(hints.subjects(), []);
  assert.equal(hints.note('s', 2), true, 'after expiry any version is news again');
});

test('hints from the network: only {subject, version ≥ 1 (safe integer)} passes', () => {
  assert.deepEqual(parseHint({ subject: 'a:b@c:d/x', version: 2, hash: 'h' }), { subject: 'a:b@c:d/x', version: 2 });
  for (const bad of [
    null,
    'x',
    { subject: 'a', version: 0 },
    { subject: 'a', version: 1.5 },
    { subject: 'a', version: Number.MAX_VALUE },
    { subject: '', version: 1 },
    { subject: 'a'.repeat(2000), version: 1 },
    { version: 1 },
  ]) {
    assert.equal(parseHint(bad), undefined, JSON.stringify(bad));
  }
});
