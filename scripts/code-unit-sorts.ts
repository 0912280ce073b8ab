// An esbuild plugin for the bundles: @libp2p/peer-store sorts a peer's protocols, metadata keys and addresses with
// `localeCompare` on every peer-store update, and the first call loads ICU's collation tables into the process —
// about 2 MB of RSS a node keeps for its lifetime (measured: one node of dist/chorus.mjs idle, 115.4 → 113.3 MB, all
// of it file pages of the executable). The order only has to be one order within the process (a record is compared
// with records sorted the same way), so the bundles sort by UTF-16 code unit instead, as `Array.prototype.sort()`
// does. Each replacement must match exactly as often as listed, or the build fails: a new version of the library is
// looked at again rather than shipped half-patched. (Running from source keeps the library as published.)
import { readFileSync } from 'node:fs';
import type { Plugin } from 'esbuild';

/** Library file (the end of its path) → [text, replacement, how many times it occurs]. */
export const CODE_UNIT_SORTS: Record<string, [string, string, number][]> = {
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
};

/** The source of `file` with its sorts replaced; throws when a listed text does not occur as often as listed. */
export function withCodeUnitSorts(file: string, source: string): string {
  const suffix = Object.keys(CODE_UNIT_SORTS).find((s) => file.replaceAll('\\', '/').endsWith(`/node_modules/${s}`));
  if (!suffix) return source;
  let out = source;
  for (const [text, replacement, times] of CODE_UNIT_SORTS[suffix]!) {
    const found = out.split(text).length - 1;
    if (found !== times) {
      throw new Error(
        `${suffix}: expected "${text}" ${times} time(s), found ${found} — check the library's sorts again`,
      );
    }
    out = out.replaceAll(text, replacement);
  }
  return out;
}

export function codeUnitSorts(): Plugin {
  const files = new RegExp(
    `[\\\\/]node_modules[\\\\/](${Object.keys(CODE_UNIT_SORTS)
      .map((s) => s.replace(/[.]/g, '\\.').replaceAll('/', '[\\\\/]'))
      .join('|')})$`,
  );
  return {
    name: 'chorus-code-unit-sorts',
    setup(b) {
      b.onLoad({ filter: files }, (args) => ({
        contents: withCodeUnitSorts(args.path, readFileSync(args.path, 'utf8')),
        loader: 'js',
      }));
    },
  };
}
