// An esbuild plugin for the bundles: a few exact-text replacements in library files (and one file rewritten whole),
// each for a measured cost and each keeping the library's results. Every listed text must occur exactly as often as
// listed, and a rewritten file must look as it did, or the build fails: a new version of the library is looked at
// again rather than shipped half-patched. Running from source keeps the
// libraries as published (test/unit/bundle-patches.test.ts checks each patch against the installed library).
//
// - @libp2p/peer-store sorts a peer's protocols, metadata keys and addresses with `localeCompare` on every
//   peer-store update, and the first call loads ICU's collation tables into the process: ~2 MB of RSS a node keeps
//   for its lifetime (one node of the executable idle: RssFile 59.2 → 57.1 MB). The order only has to be one order
//   within the process (records are compared with records sorted the same way), so they sort by UTF-16 code unit,
//   as `Array.prototype.sort()` does.
// - string-width 4 (cli-table3's; hoisted to the top node_modules) runs emoji-regex over every cell it measures, and the first run compiles that
//   regular expression: ~10 ms of `chorus elect status`, whose table is printable ASCII and the ellipsis of
//   shortened peer ids. Each of those is one column, which is what string-width answers for it (the ellipsis,
//   U+2026, is in no range of emoji-regex 8 and is not wide), so such a string returns its length at once.
// - @libp2p/kad-dht's table of 65,536 Kademlia prefixes (a number per 16-bit prefix whose peer id hashes to it, for
//   the refresh's random peer ids) is a 479 KB array literal: the program's source keeps its text and the heap a
//   512 KB array in every process. It is rewritten whole (BUNDLE_REWRITES) to the same numbers packed 3 bytes each in
//   a base64 string decoded into a Buffer (196 KB), which refresh.js reads a number at a time: an idle node's V8 heap
//   25.38 → 24.91 MB (heap snapshots), the bundle 135 KB smaller. Not unpacked into an array: a loop over 65,536
//   numbers at start-up makes V8 optimise it, and the optimising compiler's code then stays resident (+2.2 MB of the
//   executable's pages in an idle node, measured).
// - @chainsafe/libp2p-noise seals and opens frames under 1,200 bytes with an AssemblyScript ChaCha20-Poly1305 module,
//   and exports an AssemblyScript SHA-256 (asCrypto's; its default hashes with node:crypto), both compiled and
//   instantiated on import: V8's WebAssembly compilers then stay resident. The small frames go through node:crypto's
//   ChaCha20-Poly1305 instead, as larger ones already do (the library's own nodeCrypto; the same bytes, since the AEAD
//   is deterministic), and asCrypto's SHA-256 through node:crypto. The idle node of `bench:report`'s verbs row 90.3 →
//   83.3–84.3 MB (RssFile −5.2 MB), the prom-client patch below on both sides. Node's cipher is also the faster one
//   here without WebAssembly: 4.2 / 3.3 µs to seal / open 100 bytes against 8.3 / 9.2 µs with @noble/ciphers (the
//   library's pure-JS choice), 6.2 / 4.7 against 14.1 / 15.5 µs at 1,200 bytes.
// - prom-client's index requires its Pushgateway, and with it https (so tls) and zlib, which chorus never uses: the
//   verbs row's idle node 92.0 → 90.3 MB (−2.4 MB in three pairs of idle nodes). The export stays, loaded on first
//   use.
import { readFileSync } from 'node:fs';
import type { Plugin } from 'esbuild';

/** One replacement: the text, what replaces it, and how many times the text occurs in the file. */
export type Patch = [text: string, replacement: string, times: number];

/** Library file (the end of its path under node_modules) → its replacements. */
export const BUNDLE_PATCHES: Record<string, Patch[]> = {
  '@libp2p/peer-store/dist/src/utils/to-peer-pb.js': [
    ['return a.localeCompare(b);', 'return a < b ? -1 : a > b ? 1 : 0;', 2],
  ],
  '@libp2p/peer-store/dist/src/utils/dedupe-addresses.js': [
    [
      'return a.multiaddr.toString().localeCompare(b.multiaddr.toString());',
      'const x = a.multiaddr.toString(), y = b.multiaddr.toString(); return x < y ? -1 : x > y ? 1 : 0;',
      1,
    ],
  ],
  '@libp2p/kad-dht/dist/src/routing-table/refresh.js': [
    [
      'const keyPrefix = GENERATED_PREFIXES[targetPrefix];',
      'const keyPrefix = GENERATED_PREFIXES.readUIntBE(targetPrefix * 3, 3);',
      1,
    ],
  ],
  '@chainsafe/libp2p-noise/dist/src/crypto/index.js': [
    ["import { newInstance, ChaCha20Poly1305 } from '@chainsafe/as-chacha20poly1305';\n", '', 1],
    ["import { digest } from '@chainsafe/as-sha256';\n", '', 1],
    ['const ctx = newInstance();\nconst asImpl = new ChaCha20Poly1305(ctx);\n', '', 1],
    ['return digest(data.subarray());', 'return nodeCrypto.hashSHA256(data);', 1],
    [
      'return asImpl.seal(k, nonce, plaintext.subarray(), ad);',
      'return nodeCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k);',
      1,
    ],
    [
      'const plaintext = asImpl.open(k, nonce, ciphertext.subarray(), ad, dst);',
      'const plaintext = nodeCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst);',
      1,
    ],
  ],
  'prom-client/index.js': [
    [
      "exports.Pushgateway = require('./lib/pushgateway');",
      "Object.defineProperty(exports, 'Pushgateway', { enumerable: true, configurable: true, get: () => require('./lib/pushgateway') });",
      1,
    ],
  ],
  'string-width/index.js': [
    [
      "\tstring = string.replace(emojiRegex(), '  ');",
      "\tif (/^[\\x20-\\x7e\\u2026]*$/.test(string)) {\n\t\treturn string.length;\n\t}\n\n\tstring = string.replace(emojiRegex(), '  ');",
      1,
    ],
  ],
};

/** Library file (the end of its path) → its new text, made from the published one (throws if that looks different). */
export const BUNDLE_REWRITES: Record<string, (source: string) => string> = {
  '@libp2p/kad-dht/dist/src/routing-table/generated-prefix-list.js': packPrefixList,
};

const PREFIXES = 65_536;

/** kad-dht's prefix list as a Buffer of 3 bytes per number, big-endian (every number is below 2^24). */
export function packPrefixList(source: string): string {
  const literal = /^export default \[([\d,\s]*)\];\s*(\/\/# sourceMappingURL=\S+\s*)?$/.exec(source.trim());
  const numbers =
    literal?.[1]
      ?.split(',')
      .map((n) => n.trim())
      .filter((n) => n !== '')
      .map(Number) ?? [];
  if (numbers.length !== PREFIXES || numbers.some((n) => !Number.isInteger(n) || n < 0 || n >= 2 ** 24))
    throw new Error('generated-prefix-list.js: not an array of 65,536 numbers below 2^24 — look at the library again');
  const packed = Buffer.alloc(PREFIXES * 3);
  numbers.forEach((n, i) => packed.writeUIntBE(n, i * 3, 3));
  return [
    '// packed by scripts/bundle-patches.ts: the published list of numbers, 3 bytes each (big-endian), base64;',
    '// refresh.js reads number i as readUIntBE(i * 3, 3) (patched there too)',
    `export default Buffer.from(${JSON.stringify(packed.toString('base64'))}, 'base64');`,
    '',
  ].join('\n');
}

/**
 * The listed file `file` is, if any: its path under the first node_modules (so ora's own newer string-width, under
 * node_modules/ora/node_modules, is not cli-table3's).
 */
function listed(file: string): string | undefined {
  const path = file.replaceAll('\\', '/');
  const at = path.indexOf('/node_modules/');
  const under = at < 0 ? undefined : path.slice(at + '/node_modules/'.length);
  return under !== undefined && (Object.hasOwn(BUNDLE_PATCHES, under) || Object.hasOwn(BUNDLE_REWRITES, under))
    ? under
    : undefined;
}

/**
 * The source of `file` with its patches applied (or rewritten whole); throws when a listed text does not occur as
 * often as listed, or a rewritten file does not look as it did.
 */
export function patchedSource(file: string, source: string): string {
  const suffix = listed(file);
  if (!suffix) return source;
  const rewrite = BUNDLE_REWRITES[suffix];
  if (rewrite) return rewrite(source);
  let out = source;
  for (const [text, replacement, times] of BUNDLE_PATCHES[suffix]!) {
    const found = out.split(text).length - 1;
    if (found !== times) {
      throw new Error(`${suffix}: expected "${text}" ${times} time(s), found ${found} — look at the library again`);
    }
    out = out.replaceAll(text, replacement);
  }
  return out;
}

export function bundlePatches(): Plugin {
  return {
    name: 'chorus-bundle-patches',
    setup(b) {
      b.onLoad({ filter: /[\\/]node_modules[\\/].*\.js$/ }, (args) =>
        listed(args.path)
          ? { contents: patchedSource(args.path, readFileSync(args.path, 'utf8')), loader: 'js' }
          : undefined,
      );
    },
  };
}
