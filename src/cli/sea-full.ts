// The full program inside the single executable. The executable's main script is the client entry
// (bin.ts → client.ts); everything else is the bundle of main.ts, stored as the SEA asset
// `chorus-full.js` with the V8 code cache the build made for it (`chorus-full.cache`, native target
// only). It is compiled and run only when a verb needs it. The build maps bin.ts's import of ./main.ts
// here, so this module is never part of the source run.
// (Node's sea, vm and module are taken when the full program is loaded: a client verb never pays for them.)
import type * as FullProgramModule from './main.ts';

const sea = () => process.getBuiltinModule('node:sea');

/** The asset names, shared with scripts/build-binaries.ts. */
export const FULL_BUNDLE_ASSET = 'chorus-full.js';
export const FULL_CACHE_ASSET = 'chorus-full.cache';

/**
 * The bundle is stored as a function expression over CommonJS's parameters, so the cached code the build
 * made for exactly this source applies: `(function (exports, require, module) { … })`.
 */
export function wrapBundle(code: string): string {
  return `(function (exports, require, module) {${code}\n})`;
}

function cachedData(): Uint8Array | undefined {
  try {
    const cache = sea().getRawAsset(FULL_CACHE_ASSET); // the executable's own bytes, read-only: not copied
    return cache.byteLength > 0 ? new Uint8Array(cache) : undefined;
  } catch {
    return undefined; // a cross-built executable has no cache: V8 compiles the bundle
  }
}

type FullProgram = typeof FullProgramModule;
let loaded: FullProgram | undefined;

/** The full program's exports, from its asset: compiled and run on the first call. */
export function fullProgram(): FullProgram {
  if (loaded) return loaded;
  const { Script } = process.getBuiltinModule('node:vm');
  const script = new Script(sea().getAsset(FULL_BUNDLE_ASSET, 'utf8'), {
    filename: FULL_BUNDLE_ASSET,
    cachedData: cachedData(),
  });
  const run = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object) => void;
  const module = { exports: {} };
  // the bundle requires Node's built-in modules only
  run(module.exports, process.getBuiltinModule('node:module').createRequire(process.execPath), module);
  loaded = module.exports as FullProgram;
  return loaded;
}

export function main(argv: string[]): Promise<number> {
  return fullProgram().main(argv);
}
