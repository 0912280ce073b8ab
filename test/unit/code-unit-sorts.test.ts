// Tests for scripts/code-unit-sorts.ts (the bundles' peer-store sorts by code unit instead of localeCompare): the
// installed library still holds each text the plugin replaces, as often as listed, and none of its localeCompare
// calls survive; the replacements order as Array.prototype.sort() does; other files, and a changed library, are
// told apart.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CODE_UNIT_SORTS, withCodeUnitSorts } from '../../scripts/code-unit-sorts.ts';

/** The installed file of `suffix` ("@libp2p/peer-store/dist/…"): libp2p's dependency, hoisted by the lockfile. */
const installed = (suffix: string): string => join(import.meta.dirname, '../../node_modules', suffix);

/** A comparator from a replacement text (the body of `(a, b) => { … }`). */
const comparator = (body: string) => new Function('a', 'b', body) as (a: unknown, b: unknown) => number;

const SAMPLES = [
  '/meshsub/1.2.0',
  '/ipfs/id/1.0.0',
  'B',
  'a',
  '/chorus/kad-direct/1.0.0',
  '/ipfs/ping/1.0.0',
  'a-b',
  'a_b',
];

describe('peer-store sorts by code unit in the bundles', () => {
  test('every listed text is in the installed library as often as listed, and no localeCompare is left', () => {
    for (const suffix of Object.keys(CODE_UNIT_SORTS)) {
      const file = installed(suffix);
      const source = readFileSync(file, 'utf8');
      assert.match(source, /localeCompare/, `${suffix} sorts with localeCompare (else this plugin is not needed)`);
      const patched = withCodeUnitSorts(file, source);
      assert.doesNotMatch(patched, /localeCompare/, suffix);
    }
  });

  test('the replacements order strings as sort() does', () => {
    const replacement = (file: string): string => CODE_UNIT_SORTS[`@libp2p/peer-store/dist/src/utils/${file}`]![0]![1];
    const protocols = replacement('to-peer-pb.js');
    assert.deepEqual([...SAMPLES].sort(comparator(protocols)), [...SAMPLES].sort());
    const addresses = replacement('dedupe-addresses.js');
    const entries = SAMPLES.map((s) => ({ multiaddr: { toString: () => s } }));
    assert.deepEqual(
      entries.sort(comparator(addresses)).map((e) => e.multiaddr.toString()),
      [...SAMPLES].sort(),
    );
  });

  test('another file is left as it is; a changed library fails the build, naming the file', () => {
    const other = '/x/node_modules/@libp2p/peer-store/dist/src/index.js';
    assert.equal(withCodeUnitSorts(other, 'x.localeCompare(y)'), 'x.localeCompare(y)');
    const listed = '/x/node_modules/@libp2p/peer-store/dist/src/utils/to-peer-pb.js';
    assert.throws(
      () => withCodeUnitSorts(listed, 'return a.localeCompare(b);'),
      /to-peer-pb\.js: expected "return a\.localeCompare\(b\);" 2 time\(s\), found 1/,
    );
  });
});
