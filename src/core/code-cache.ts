// Whether the single executable's bundles ran from the V8 code cache the build made for them: its loader
// (src/cli/sea-asset.ts) notes each bundle's outcome here, and `chorus version` reports it. A rejected cache
// still runs (V8 compiles the source instead), only slower, so this is where a mismatched build shows.
// The executable's bundles are separate module graphs: the notes live on a global, not in this module.

/** Per bundle: ran from its cache ('used'), compiled because V8 refused the cache, or built without one. */
export type CodeCacheUse = 'used' | 'rejected' | 'none';

const NOTES = Symbol.for('chorus.codeCache');

function notes(): Record<string, CodeCacheUse> {
  const g = globalThis as { [NOTES]?: Record<string, CodeCacheUse> };
  return (g[NOTES] ??= {});
}

export function noteCodeCache(bundle: string, use: CodeCacheUse): void {
  notes()[bundle] = use;
}

/** The bundles loaded so far with their outcome (empty outside the single executable). */
export function codeCacheUse(): Readonly<Record<string, CodeCacheUse>> {
  return { ...notes() };
}
