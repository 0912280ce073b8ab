// Build identity: version, git commit, build date, runtime and target. A built binary carries these
// as constants injected by scripts/build-binaries.ts; from source they are read from the checkout. The single
// executable also says whether its bundles ran from the code caches the build made, and where it read them from
// (code-cache.ts).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { bundleSources, codeCacheUse, type BundleSource, type CodeCacheUse } from './code-cache.ts';

export interface BuildInfo {
  name: string;
  version: string;
  commit: string;
  buildDate: string;
  runtime: string;
  target: string;
  /** The single executable: per bundle asset, whether V8 ran it from the build's code cache. */
  codeCache?: Readonly<Record<string, CodeCacheUse>>;
  /** The single executable: per bundle asset, whether it was read from the file or through the mapping. */
  bundleSource?: Readonly<Record<string, BundleSource>>;
}

declare const __CHORUS_BUILD__: Omit<BuildInfo, 'runtime'> | undefined;

function runtimeName(): string {
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  return deno ? `deno ${deno.version.deno}` : `node ${process.version}`;
}

function fromSource(): Omit<BuildInfo, 'runtime'> {
  const root = new URL('../../', import.meta.url);
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { version: string };
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 2000,
    })
      .toString()
      .trim();
  } catch {
    // not a git checkout
  }
  return {
    name: 'chorus',
    version: pkg.version,
    commit,
    buildDate: 'source',
    target: `${process.platform}-${process.arch}`,
  };
}

function isSingleExecutable(): boolean {
  try {
    const sea = process.getBuiltinModule?.('node:sea') as { isSea?: () => boolean } | undefined;
    return Boolean(sea?.isSea?.());
  } catch {
    return false;
  }
}

export function buildInfo(): BuildInfo {
  if (typeof __CHORUS_BUILD__ === 'undefined') return { ...fromSource(), runtime: runtimeName() };
  const kind = isSingleExecutable() ? 'single executable' : 'bundle';
  const codeCache = codeCacheUse();
  const bundleSource = bundleSources();
  return {
    ...__CHORUS_BUILD__,
    target: `${process.platform}-${process.arch} (${kind})`,
    runtime: runtimeName(),
    ...(Object.keys(codeCache).length > 0 ? { codeCache } : {}),
    ...(Object.keys(bundleSource).length > 0 ? { bundleSource } : {}),
  };
}
