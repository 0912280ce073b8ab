// How the single executable's bundles loaded: whether each ran from the V8 code cache the build made for it, and
// whether its bytes were read from the executable file or through the mapped executable (sea-asset.ts). Its
// loader (src/cli/sea-asset.ts) notes each bundle's outcome here, and `chorus version` reports it. A rejected cache
// still runs (V8 compiles the source instead), only slower, and a bundle read through the mapping stays resident in
// the process's memory; so this is where a mismatched build shows. The executable's bundles are separate module
// graphs: the notes live on a global, not in this module.

/** Per bundle: ran from its cache ('used'), compiled because V8 refused the cache, or built without one. */
export type CodeCacheUse = 'used' | 'rejected' | 'none';

/**
 * Per bundle: its bytes (and its cache's) read from the executable file at the places the build's index names
 * ('file'), or through Node's mapping of the executable ('mapping': a verb that ends at once, or an executable
 * without an index or whose index did not match).
 */
export type BundleSource = 'file' | 'mapping';

const NOTES = Symbol.for('chorus.codeCache');
const SOURCES = Symbol.for('chorus.bundleSource');

type Notes = { [NOTES]?: Record<string, CodeCacheUse>; [SOURCES]?: Record<string, BundleSource> };

function notes(): Record<string, CodeCacheUse> {
  return ((globalThis as Notes)[NOTES] ??= {});
}

function sources(): Record<string, BundleSource> {
  return ((globalThis as Notes)[SOURCES] ??= {});
}

export function noteCodeCache(bundle: string, use: CodeCacheUse, source?: BundleSource): void {
  notes()[bundle] = use;
  if (source) sources()[bundle] = source;
}

/** The bundles loaded so far with their outcome (empty outside the single executable). */
export function codeCacheUse(): Readonly<Record<string, CodeCacheUse>> {
  return { ...notes() };
}

/** The bundles loaded so far with where their bytes came from (empty outside the single executable). */
export function bundleSources(): Readonly<Record<string, BundleSource>> {
  return { ...sources() };
}
