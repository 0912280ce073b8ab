// A bundle stored as an asset of the single executable, with the V8 code cache the build made for it by
// running it (scripts/build-binaries.ts): compiled from that cache, so the functions the build ran are
// neither parsed nor compiled again, and run as CommonJS. Whether V8 took the cache is noted for
// `chorus version` (core/code-cache.ts). Node's sea and vm are taken only here.
import { noteCodeCache } from '../core/code-cache.ts';

/**
 * A bundle is stored as a function expression over CommonJS's parameters, so the cached code the build
 * made for exactly this source applies: `(function (exports, require, module) { … })`.
 */
export function wrapBundle(code: string): string {
  return `(function (exports, require, module) {${code}\n})`;
}

/** The exports of the bundle in asset `name`, compiled with the code cache in asset `cacheName` if any. */
export function loadBundleAsset(name: string, cacheName: string, require: NodeJS.Require): unknown {
  const sea = process.getBuiltinModule('node:sea');
  let cachedData: Uint8Array | undefined;
  try {
    const raw = sea.getRawAsset(cacheName); // the executable's own bytes, read-only: not copied
    cachedData = raw.byteLength > 0 ? new Uint8Array(raw) : undefined;
  } catch {
    cachedData = undefined; // a cross-built executable has no cache: V8 compiles the bundle
  }
  const { Script } = process.getBuiltinModule('node:vm');
  const script = new Script(sea.getAsset(name, 'utf8'), { filename: name, cachedData });
  noteCodeCache(name, cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'used');
  const run = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object) => void;
  const module = { exports: {} };
  run(module.exports, require, module); // the bundles require Node's built-in modules only
  return module.exports;
}
