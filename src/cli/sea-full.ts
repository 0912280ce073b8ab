// The full program inside the single executable. The executable's main script (sea-main.ts) loads the
// client entry (entry.ts → client.ts), or for a process that lives on calls main() here at once; everything
// else is the bundle of main.ts, stored as the SEA asset `chorus-full.js` with the V8 code cache the build made
// for it (`chorus-full.cache`, native target only). It is compiled and run only when a verb needs it. The build
// maps entry.ts's import of ./main.ts here, so this module is never part of the source run. A verb whose process
// lives on reads it from the executable file, any other verb through Node's mapping of the executable
// (sea-asset.ts).
import type * as FullProgramModule from './main.ts';
import { loadBundleAsset, longLived, type LoadOptions } from './sea-asset.ts';

/** The asset names, shared with scripts/build-binaries.ts. */
export const FULL_BUNDLE_ASSET = 'chorus-full.js';
export const FULL_CACHE_ASSET = 'chorus-full.cache';

type FullProgram = typeof FullProgramModule;
let loaded: FullProgram | undefined;

/**
 * The full program's exports, from its asset: compiled and run on the first call; read as this process's verb asks
 * (sea-asset.ts's longLived) unless `opts` say how.
 */
export function fullProgram(opts: LoadOptions = { fromFile: longLived(process.argv.slice(2)) }): FullProgram {
  loaded ??= loadBundleAsset(
    FULL_BUNDLE_ASSET,
    FULL_CACHE_ASSET,
    process.getBuiltinModule('node:module').createRequire(process.execPath),
    opts,
  ) as FullProgram;
  return loaded;
}

export function main(argv: string[]): Promise<number> {
  return fullProgram({ fromFile: longLived(argv) }).main(argv);
}
