// Tests for scripts/bundle-patches.ts (exact-text library patches in the bundles): each listed text is in the
// installed library as often as listed; peer-store keeps no localeCompare and its replacements order as sort()
// does; the patched string-width measures every string as the published one does; kad-dht's packed prefix list
// reads back as the published numbers; noise's bundled crypto seals, opens and hashes as the published one without
// WebAssembly; bundled prom-client keeps its Pushgateway but loads neither https nor zlib until it is used; ora's own
// string-width and other files are left alone; a changed library fails the build, naming the file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { build } from 'esbuild';
import { Uint8ArrayList } from 'uint8arraylist';
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

/** `entry` (an ES module's text) bundled for Node with the patches: the bundle's text. */
async function bundled(entry: string, format: 'esm' | 'cjs' = 'esm'): Promise<string> {
  const out = await build({
    stdin: { contents: entry, resolveDir: '.' },
    bundle: true,
    format,
    platform: 'node',
    write: false,
    logLevel: 'silent',
    plugins: [bundlePatches()],
  });
  return out.outputFiles[0]!.text;
}

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
    const text = await bundled(`export { RoutingTableRefresh } from ${JSON.stringify(refresh)};`);
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

  test("noise's bundled crypto seals, opens and hashes as the published one, without WebAssembly", async () => {
    type Bytes = Uint8Array | Uint8ArrayList;
    interface NoiseCrypto {
      hashSHA256(data: Uint8Array): Uint8Array;
      chaCha20Poly1305Encrypt(plaintext: Bytes, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array): Bytes;
      chaCha20Poly1305Decrypt(
        ciphertext: Bytes,
        nonce: Uint8Array,
        ad: Uint8Array,
        k: Uint8Array,
        dst?: Uint8Array,
      ): Bytes;
    }
    type Module = { defaultCrypto: NoiseCrypto; asCrypto: NoiseCrypto };
    const bytes = (b: Bytes): Buffer => Buffer.from(b.subarray());
    const pieces = (b: Buffer) => new Uint8ArrayList(b.subarray(0, 7), b.subarray(7, 500), b.subarray(500));
    const file = installed('@chainsafe/libp2p-noise/dist/src/crypto/index.js');
    const published = (await import(pathToFileURL(file).href)) as Module;
    const text = await bundled(`export { defaultCrypto, asCrypto } from ${JSON.stringify(file)};`);
    assert.doesNotMatch(text, /WebAssembly/, 'no WebAssembly module in the bundle');
    const patched = (await import(`data:text/javascript,${encodeURIComponent(text)}`)) as Module;
    // both sides of the 1,200-byte switch (the tag included), and the frames in between
    for (const size of [0, 1, 16, 100, 1_000, 1_183, 1_184, 4_000]) {
      const [k, nonce, ad, data] = [randomBytes(32), randomBytes(12), randomBytes(size % 33), randomBytes(size)];
      const expected = bytes(published.defaultCrypto.chaCha20Poly1305Encrypt(data, nonce, ad, k));
      for (const crypto of [patched.defaultCrypto, patched.asCrypto]) {
        const sealed = bytes(crypto.chaCha20Poly1305Encrypt(data, nonce, ad, k));
        assert.deepEqual(sealed, expected, `${size} bytes`);
        assert.deepEqual(bytes(crypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, k)), data, `${size} bytes`);
        // as noise sends and receives a frame: the data in pieces (a Uint8ArrayList) ...
        assert.deepEqual(bytes(crypto.chaCha20Poly1305Encrypt(pieces(data), nonce, ad, k)), expected);
        assert.deepEqual(bytes(crypto.chaCha20Poly1305Decrypt(pieces(sealed), nonce, ad, k)), data);
        // ... and opened as noise opens a frame: `dst` a view of the ciphertext's own bytes, at any offset
        for (const offset of [0, 1, 2, 3]) {
          const chunk = Buffer.alloc(offset + sealed.length);
          sealed.copy(chunk, offset);
          const [ciphertext, dst] = [chunk.subarray(offset), chunk.subarray(offset, offset + size)];
          const opened = crypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst);
          assert.deepEqual(bytes(opened), data, `${size} bytes in place at ${offset}`);
        }
        const forged = Buffer.from(sealed);
        forged[forged.length - 1]! ^= 1;
        assert.throws(() => crypto.chaCha20Poly1305Decrypt(forged, nonce, ad, k), `a forged tag of ${size} bytes`);
        assert.deepEqual(Buffer.from(crypto.hashSHA256(data)), Buffer.from(published.asCrypto.hashSHA256(data)));
      }
    }
  });

  test('bundled prom-client keeps its Pushgateway but loads neither https nor zlib until it is used', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chorus-bundle-patches-'));
    try {
      const bundle = join(dir, 'prom-client.cjs');
      writeFileSync(
        bundle,
        await bundled(`export * from ${JSON.stringify(installed('prom-client/index.js'))};`, 'cjs'),
      );
      const loaded = "['https', 'tls', 'zlib'].filter((m) => process.moduleLoadList.includes('NativeModule ' + m))";
      const probe = [
        `const p = require(${JSON.stringify(bundle)});`,
        `const before = ${loaded};`,
        "const names = Object.keys(p).filter((k) => k === 'Pushgateway' || k === 'Registry');",
        'const isClass = typeof p.Pushgateway === "function" && typeof p.Pushgateway.prototype.pushAdd === "function";',
        `console.log(JSON.stringify({ before, names, isClass, after: ${loaded} }));`,
      ].join('\n');
      // a clean environment: a preload from NODE_OPTIONS (a proxy agent, say) could load https itself
      const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', env: { PATH: process.env.PATH } });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), {
        before: [],
        names: ['Registry', 'Pushgateway'],
        isClass: true,
        after: ['https', 'tls', 'zlib'],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
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
