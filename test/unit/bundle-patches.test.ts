// Tests for scripts/bundle-patches.ts (exact-text library patches in the bundles): each listed text is in the
// installed library as often as listed; peer-store keeps no localeCompare and its replacements order as sort()
// does; the patched string-width measures every string as the published one does; kad-dht's packed prefix list
// reads back as the published numbers; ora's own string-width and other files are left alone; a changed library
// fails the build, naming the file.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { build } from 'esbuild';
import { BUNDLE_PATCHES, bundlePatches, packPrefixList, patchedSource } from '../../scripts/bundle-patches.ts';

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

  test("kad-dht's prefix list, packed, holds the published numbers in less than two thirds of the text", async () => {
    const file = installed('@libp2p/kad-dht/dist/src/routing-table/generated-prefix-list.js');
    const source = readFileSync(file, 'utf8');
    const published = ((await import(pathToFileURL(file).href)) as { default: number[] }).default;
    const rewritten = patchedSource(file, source);
    const packed = ((await import(`data:text/javascript,${encodeURIComponent(rewritten)}`)) as { default: Buffer })
      .default;
    assert.equal(published.length, 65_536);
    // read as patched refresh.js reads it
    const read = (i: number): number => packed.readUIntBE(i * 3, 3);
    assert.deepEqual(
      Array.from({ length: published.length }, (_, i) => read(i)),
      published,
    );
    assert.ok(rewritten.length < (source.length * 2) / 3, `${rewritten.length} of ${source.length} characters`);
    // a list that is not what the library published fails the build
    assert.throws(() => packPrefixList('export default [1, 2, 3];'), /look at the library again/);
    assert.throws(() => packPrefixList(source.replace('77591', '16777216')), /look at the library again/);
  });

  test("kad-dht's refresh, bundled with the patches, makes the same peer ids as the published one", async () => {
    const refresh = installed('@libp2p/kad-dht/dist/src/routing-table/refresh.js');
    type Refresh = { prototype: { _makePeerId(local: Uint8Array, random: number, cpl: number): Uint8Array } };
    const published = ((await import(pathToFileURL(refresh).href)) as { RoutingTableRefresh: Refresh })
      .RoutingTableRefresh;
    const out = await build({
      stdin: { contents: `export { RoutingTableRefresh } from ${JSON.stringify(refresh)};`, resolveDir: '.' },
      bundle: true,
      format: 'esm',
      platform: 'node',
      write: false,
      logLevel: 'silent',
      plugins: [bundlePatches()],
    });
    const text = out.outputFiles[0]!.text;
    assert.match(text, /readUIntBE\(targetPrefix \* 3, 3\)/, 'the bundle reads the packed list');
    const patched = (
      (await import(`data:text/javascript,${encodeURIComponent(text)}`)) as { RoutingTableRefresh: Refresh }
    ).RoutingTableRefresh;
    for (let i = 0; i < 200; i++) {
      const local = new Uint8Array(32).map(() => Math.floor(Math.random() * 256));
      const random = Math.floor(Math.random() * 65_536);
      const cpl = i % 16;
      assert.deepEqual(
        patched.prototype._makePeerId(local, random, cpl),
        published.prototype._makePeerId(local, random, cpl),
      );
    }
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
