// Tests for scripts/bundle-patches.ts (exact-text library patches in the bundles): each listed text is in the
// installed library as often as listed; peer-store keeps no localeCompare and its replacements order as sort()
// does; the patched string-width measures every string as the published one does; ora's own string-width and
// other files are left alone; a changed library fails the build, naming the file.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BUNDLE_PATCHES, patchedSource } from '../../scripts/bundle-patches.ts';

/** The installed file under the project's node_modules (where the lockfile hoists each listed package). */
const installed = (suffix: string): string => join(import.meta.dirname, '../../node_modules', suffix);

/** A comparator from a replacement text (the body of `(a, b) => { … }`). */
const comparator = (body: string) => new Function('a', 'b', body) as (a: unknown, b: unknown) => number;
const replacement = (file: string): string => BUNDLE_PATCHES[file]![0]![1];

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

/** string-width's module, as published and as patched (CommonJS, evaluated with its own require). */
function stringWidths(): { published: (s: string) => number; patched: (s: string) => number } {
  const file = installed('string-width/index.js');
  const requireHere = createRequire(file);
  const published = requireHere(file) as (s: string) => number;
  const module = { exports: {} as unknown };
  new Function('require', 'module', 'exports', patchedSource(file, readFileSync(file, 'utf8')))(
    requireHere,
    module,
    module.exports,
  );
  return { published, patched: module.exports as (s: string) => number };
}

describe('bundle patches', () => {
  test('every listed text is in the installed library as often as listed', () => {
    for (const suffix of Object.keys(BUNDLE_PATCHES)) {
      const file = installed(suffix);
      const patched = patchedSource(file, readFileSync(file, 'utf8'));
      if (suffix.startsWith('@libp2p/peer-store/')) assert.doesNotMatch(patched, /localeCompare/, suffix);
    }
  });

  test("peer-store's replacements order strings as sort() does", () => {
    const protocols = replacement('@libp2p/peer-store/dist/src/utils/to-peer-pb.js');
    assert.deepEqual([...SAMPLES].sort(comparator(protocols)), [...SAMPLES].sort());
    const addresses = replacement('@libp2p/peer-store/dist/src/utils/dedupe-addresses.js');
    const entries = SAMPLES.map((s) => ({ multiaddr: { toString: () => s } }));
    assert.deepEqual(
      entries.sort(comparator(addresses)).map((e) => e.multiaddr.toString()),
      [...SAMPLES].sort(),
    );
  });

  test('the patched string-width measures every string as the published one', () => {
    const { published, patched } = stringWidths();
    const ascii = Array.from({ length: 0x80 }, (_, c) => String.fromCharCode(c));
    const strings = [
      '',
      ...ascii,
      ascii.slice(0x20, 0x7f).join(''),
      '12D3KooW…n5URE1 (self)',
      '…',
      '…\ufe0f',
      '©',
      '© ok',
      '\u001b[36mvoter\u001b[39m',
      'tab\there',
      '中文字',
      'e\u0301',
      '👍🏽 ok',
      '#\ufe0f\u20e3',
      '*',
    ];
    for (const s of strings) assert.equal(patched(s), published(s), JSON.stringify(s));
    assert.equal(patched('plain ascii'), 11);
    assert.equal(patched('12D3KooW…n5URE1'), 15);
  });

  test("ora's own string-width and other files are left alone; a changed library fails, naming the file", () => {
    const nested = installed('ora/node_modules/string-width/index.js');
    const source = readFileSync(nested, 'utf8');
    assert.equal(patchedSource(nested, source), source);
    const other = '/x/node_modules/@libp2p/peer-store/dist/src/index.js';
    assert.equal(patchedSource(other, 'x.localeCompare(y)'), 'x.localeCompare(y)');
    const listedFile = '/x/node_modules/@libp2p/peer-store/dist/src/utils/to-peer-pb.js';
    assert.throws(
      () => patchedSource(listedFile, 'return a.localeCompare(b);'),
      /to-peer-pb\.js: expected "return a\.localeCompare\(b\);" 2 time\(s\), found 1/,
    );
  });
});
