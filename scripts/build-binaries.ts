// Builds the distributables: an ESM bundle (dist/chorus.mjs, also runnable with `deno run -A`) and
// Node single-executable binaries per target (dist/chorus-linux-x64, dist/chorus-linux-arm64),
// then dist/SHA256SUMS. An executable's main script is a small loader (src/cli/sea-main.ts) and its program
// two assets, each a bundle with a V8 code cache made by running it (native targets only): the client entry
// (entry.ts → client.ts: the client verbs) and the full program (main.ts), which is loaded only for the
// verbs the client entry does not run (src/cli/sea-full.ts). The portal's files (ui/, built first) are
// embedded in both: the module src/core/hap/embedded.ts is replaced by one holding them, loaded only when the
// portal serves a file. The only network access is the npm registry (for a foreign-arch Node).
//   node scripts/build-binaries.ts [--target linux-x64,linux-arm64]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build, type Metafile, type Plugin } from 'esbuild';
import { assetIndexTrailer, wrapBundle, type AssetIndex } from '../src/cli/sea-asset.ts';
import { FULL_BUNDLE_ASSET, FULL_CACHE_ASSET } from '../src/cli/sea-full.ts';
import { CLIENT_BUNDLE_ASSET, CLIENT_CACHE_ASSET } from '../src/cli/sea-main.ts';
import { buildUi } from '../ui/build.ts';
import { bundlePatches } from './bundle-patches.ts';

const root = resolve(import.meta.dirname, '..');
const dist = join(root, 'dist');
const cache = join(root, '.cache');
const ALL_TARGETS = ['linux-x64', 'linux-arm64'] as const;
type Target = (typeof ALL_TARGETS)[number];
const ELF_MACHINE: Record<Target, number> = { 'linux-x64': 0x3e, 'linux-arm64': 0xb7 };
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/**
 * The Node/V8 flags the executable starts with (its SEA `execArgv`): the one place to set them. The full
 * program's code cache is made by a Node started with the same flags, since V8 rejects a cache made under
 * other flags (the executable would still work, compiling the bundle on every start).
 *
 * `--max-semi-space-size=2` (MB): V8's young generation otherwise grows to 16 MB per semi-space under load. With
 * `bench dht --procs 5`, RSS per node process 147 -> 122-123 MB and CPU per GET and PUT unchanged. 1 MB saved no
 * more (121-122 MB) but cost the Raft leader of `bench tasks` ~18 % more CPU per transition (likely objects that
 * live across a few requests, promoted early); 2 MB measured 9.0 / 11.2 ms per transition against 9.8 / 10.4 without the
 * flag (run-to-run spread ~10 %). docs/performance.md has the runs.
 */
const SEA_EXEC_ARGV: string[] = ['--max-semi-space-size=2'];

function log(message: string): void {
  process.stderr.write(`build: ${message}\n`);
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return 'unknown';
  }
}

let identity: Record<string, string> | undefined;

/** The build's identity, the same in every bundle of one build (`chorus --version` and `chorus version` agree). */
function buildInfo(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  identity ??= {
    name: 'chorus',
    version: pkg.version,
    commit: gitCommit(),
    buildDate: new Date().toISOString(),
    target: 'bundle',
  };
  return identity;
}

/** Replaces src/core/hap/embedded.ts (which builds ui/ at run time from source) with the built files. */
function embedPortal(files: Record<string, string>): Plugin {
  return {
    name: 'chorus-embed-portal',
    setup(b) {
      b.onLoad({ filter: /[\\/]src[\\/]core[\\/]hap[\\/]embedded\.ts$/ }, () => ({
        contents: `const FILES = ${JSON.stringify(files)};\nexport async function uiFiles() { return FILES; }\n`,
        loader: 'js',
      }));
    },
  };
}

/**
 * In the executable's client bundle, the full program and the modules of a client verb's uncommon paths come
 * from the full program's asset: entry.ts's ./main.ts and invoke.ts's ./uncommon.ts.
 */
export const FROM_FULL_ASSET: Record<string, string> = {
  'src/cli/entry.ts → ./main.ts': 'src/cli/sea-full.ts',
  'src/cli/invoke.ts → ./uncommon.ts': 'src/cli/sea-uncommon.ts',
};

/**
 * Built-in modules required lazily in the client entry's bundle: commander's child_process (for executable
 * subcommands, which chorus has none of) and fs/promises (which brings readline and fs watchers; a client
 * verb needs it only on an error path or for `ucxl get --out`). Together ~4 ms of a client verb's start-up.
 * And http: a client verb's one request goes over a raw socket connection (src/core/api/socket-call.ts);
 * node:http is loaded only for a streaming call or TCP.
 */
const LAZY_BUILTINS = ['node:child_process', 'node:fs/promises', 'node:http'];
/**
 * And in the full program's bundle: child_process (commander's, the build identity's git call from source,
 * the exec provider, bench children) is ~10 ms of every full-program verb's start-up, and most never spawn.
 */
const FULL_LAZY_BUILTINS = ['node:child_process'];

/**
 * An ES module with a function of the same name for each function of a built-in module, which requires the
 * module on its first call (an ES module, so the bundle binds the names without enumerating the module).
 * A name that is not a function is left out: importing one fails the build.
 */
function lazyBuiltin(id: string): string {
  const real = process.getBuiltinModule(id) as Record<string, unknown>;
  const names = Object.keys(real).filter((k) => typeof real[k] === 'function' && /^[A-Za-z_$][\w$]*$/.test(k));
  return [
    `const load = () => process.getBuiltinModule(${JSON.stringify(id)});`,
    ...names.map(
      (k) =>
        `export function ${k}(...a) { const f = load().${k}; return new.target ? Reflect.construct(f, a, new.target) : f.apply(this, a); }`,
    ),
  ].join('\n');
}

/** Each of `ids` (built-in modules) is required on its first call instead of when the bundle loads. */
function lazyBuiltins(ids: readonly string[]): Plugin {
  return {
    name: 'chorus-lazy-builtins',
    setup(b) {
      b.onResolve({ filter: /^node:/ }, (args) =>
        ids.includes(args.path) ? { path: args.path, namespace: 'chorus-lazy-builtin' } : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: 'chorus-lazy-builtin' }, (args) => ({
        contents: lazyBuiltin(args.path),
        loader: 'js',
      }));
    },
  };
}

function fromFullAsset(): Plugin {
  return {
    name: 'chorus-from-full-asset',
    setup(b) {
      b.onResolve({ filter: /^\.\/(main|uncommon)\.ts$/ }, (args) => {
        const to = FROM_FULL_ASSET[`${relative(root, args.importer)} → ${args.path}`];
        return to ? { path: join(root, to) } : undefined;
      });
    },
  };
}

interface Bundles {
  /** dist/chorus.mjs: the whole program as ESM (runs under `deno run -A` and any Node ≥ 24). */
  esm: string;
  /** The executable's main script: the loader of the client asset (sea-main.ts), CommonJS. */
  main: string;
  /** The client entry (entry.ts), CommonJS wrapped as sea-asset.ts loads it. */
  client: string;
  /** The full program (main.ts), CommonJS wrapped as sea-asset.ts loads it. */
  full: string;
}

/**
 * esbuild's options shared by every bundle: the program from bin.ts, minified, with the portal embedded and
 * a few library patches (bundle-patches.ts).
 */
function commonOptions(ui: Record<string, string>) {
  return {
    entryPoints: [join(root, 'src/cli/bin.ts')],
    bundle: true,
    platform: 'node' as const,
    target: 'node24',
    minify: true,
    legalComments: 'none' as const,
    logLevel: 'error' as const,
    define: { __CHORUS_BUILD__: JSON.stringify(buildInfo()) },
    plugins: [embedPortal(ui), bundlePatches()],
  };
}

/**
 * The executable's client asset: entry.ts with the full program and the uncommon paths taken from the full
 * program's asset, wrapped for sea-asset.ts (test/unit/cli-split.test.ts checks what it holds). Resolves to
 * esbuild's metafile.
 */
export async function buildClientBundle(outfile: string, ui: Record<string, string> = {}): Promise<Metafile> {
  const common = commonOptions(ui);
  const result = await build({
    ...common,
    entryPoints: [join(root, 'src/cli/entry.ts')],
    outfile,
    format: 'cjs',
    write: false,
    metafile: true,
    plugins: [...common.plugins, lazyBuiltins(LAZY_BUILTINS), fromFullAsset()],
  });
  writeFileSync(outfile, wrapBundle(result.outputFiles[0]!.text));
  return result.metafile;
}

/**
 * The executable's main script: sea-main.ts's start(), which loads the client asset. Resolves to esbuild's
 * metafile.
 */
export async function buildMainBundle(outfile: string): Promise<Metafile> {
  const result = await build({
    stdin: { contents: "import { start } from './sea-main.ts';\nstart();\n", resolveDir: join(root, 'src/cli') },
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    logLevel: 'error',
    metafile: true,
    outfile,
  });
  return result.metafile;
}

/**
 * The executable's full-program asset: main.ts, wrapped for sea-asset.ts (test/unit/cli-split.test.ts checks what
 * it holds). Resolves to esbuild's metafile.
 */
export async function buildFullBundle(outfile: string, ui: Record<string, string> = {}): Promise<Metafile> {
  const common = commonOptions(ui);
  const result = await build({
    ...common,
    entryPoints: [join(root, 'src/cli/main.ts')],
    format: 'cjs',
    write: false,
    metafile: true,
    outfile,
    plugins: [...common.plugins, lazyBuiltins(FULL_LAZY_BUILTINS)],
  });
  writeFileSync(outfile, wrapBundle(result.outputFiles[0]!.text));
  return result.metafile;
}

/** The bundles of the same code: dist/chorus.mjs, and the executable's main script and its two assets. */
async function bundle(): Promise<Bundles> {
  const esm = join(dist, 'chorus.mjs');
  const main = join(cache, 'chorus-main.cjs');
  const client = join(cache, CLIENT_BUNDLE_ASSET);
  const full = join(cache, FULL_BUNDLE_ASSET);
  const ui = await buildUi();
  const uiBytes = Object.values(ui).reduce((n, text) => n + Buffer.byteLength(text), 0);
  log(`portal assets ${Object.keys(ui).join(', ')}: ${(uiBytes / 1e3).toFixed(1)} kB`);
  const common = commonOptions(ui);
  await build({
    ...common,
    outfile: esm,
    format: 'esm',
    banner: {
      js: "import { createRequire as __chorusCreateRequire } from 'node:module'; const require = __chorusCreateRequire(import.meta.url);",
    },
  });
  await buildMainBundle(main);
  await buildClientBundle(client, ui);
  await buildFullBundle(full, ui);
  return { esm, main, client, full };
}

/** A verb the build runs through a bundle before taking its code cache; `ok`: it must exit 0. */
interface WarmUpRun {
  argv: string[];
  ok?: boolean;
}

/**
 * The V8 code cache of a bundle asset, made by the target's Node (this one: native targets only) with the
 * executable's flags, for exactly the source the executable compiles — after running verbs through it
 * (`call`: the bundle's exported function of argv), so that the cache holds the functions they ran compiled,
 * not only the top level. They run in a clean environment (no CHORUS_* variable, no config file) with a data
 * dir where no node answers, so a node verb goes as far as its call to the node and ends in its error line;
 * "{dir}" in an argument is a directory holding a file x.md. What they print goes to the build's /dev/null.
 */
function codeCacheFor(bundle: string, asset: string, cacheAsset: string, call: string, runs: WarmUpRun[]): string {
  const out = join(cache, cacheAsset);
  const make = `const { Script } = require('node:vm'); const fs = require('node:fs');
const [src, out, filename, dir, runs] = process.argv.slice(1);
const script = new Script(fs.readFileSync(src, 'utf8'), { filename });
const module = { exports: {} };
script.runInThisContext()(module.exports, require, module);
(async () => {
  for (const { argv, ok } of JSON.parse(runs)) {
    const code = await module.exports[${JSON.stringify(call)}](['--data-dir', dir + '/node', ...argv.map((a) => a.replace('{dir}', dir))]);
    if (ok && code !== 0) throw new Error(argv.join(' ') + ' exited ' + code);
  }
  fs.writeFileSync(out, script.createCachedData());
  process.exit(0);
})();`;
  const home = mkdtempSync(join(tmpdir(), 'chorus-build-cache-'));
  try {
    writeFileSync(join(home, 'x.md'), 'x');
    execFileSync(process.execPath, [...SEA_EXEC_ARGV, '-e', make, bundle, out, asset, home, JSON.stringify(runs)], {
      cwd: home,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  return out;
}

/**
 * The client asset's cache: the client verbs (argument parsing, configuration, the control-socket call, the
 * error path) and `--version`: ~10 ms less CPU per client verb here.
 */
function clientCodeCache(client: string): string {
  const runs: WarmUpRun[] = [
    { argv: ['status'] },
    { argv: ['elect', 'status'] },
    { argv: ['ucxl', 'get', 'ucxl://build:cache@chorus:client/*^/x.md'] },
    { argv: ['--version'], ok: true },
  ];
  return codeCacheFor(client, CLIENT_BUNDLE_ASSET, CLIENT_CACHE_ASSET, 'run', runs);
}

/**
 * The full program's cache: `chorus version` (the command tree, parsing, the runner: what every verb compiles
 * on its way), then verbs that scripts and people run often — the configuration load (zod, yaml) and the
 * control-API client come with them: `publish` and `task ls` ~50 ms less CPU each, `config` ~45 ms; a
 * full-program verb that takes none of it pays ~5–8 ms more for the larger cache (`peers`, for one).
 */
function fullCodeCache(full: string): string {
  const runs: WarmUpRun[] = [
    { argv: ['version'], ok: true },
    { argv: ['publish', 'TaskAnnouncement', '--data', '{}'] },
    { argv: ['ucxl', 'put', 'ucxl://build:cache@chorus:full/*^/x.md', '{dir}/x.md'] },
    { argv: ['task', 'ls'] },
    { argv: ['peers'] },
  ];
  return codeCacheFor(full, FULL_BUNDLE_ASSET, FULL_CACHE_ASSET, 'main', runs);
}

/** The Node executable for a target: this runtime when it matches, else the same version from npm. */
function nodeFor(target: Target): string {
  const [platform, arch] = target.split('-') as [string, string];
  if (process.platform === platform && process.arch === arch) return process.execPath;
  const version = process.versions.node;
  const dir = join(cache, `node-${target}-${version}`);
  const binary = join(dir, 'package', 'bin', 'node');
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  log(`fetching node-${target}@${version} from the npm registry`);
  const tgz = execFileSync(
    'npm',
    ['pack', `node-${target}@${version}`, '--pack-destination', dir, '--loglevel=error'],
    {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
    .toString()
    .trim()
    .split('\n')
    .pop() as string;
  execFileSync('tar', ['-xzf', join(dir, tgz), '-C', dir]);
  rmSync(join(dir, tgz));
  return binary;
}

/** Verifies an executable's format: ELF for the right machine, with the SEA fuse flipped on. */
export function checkExecutable(file: string, target: Target): void {
  const bytes = readFileSync(file);
  if (bytes.subarray(0, 4).toString('latin1') !== '\x7fELF') throw new Error(`${file} is not an ELF file`);
  if (bytes[4] !== 2 || bytes[5] !== 1) throw new Error(`${file} is not a 64-bit little-endian ELF`);
  const machine = bytes.readUInt16LE(18);
  if (machine !== ELF_MACHINE[target])
    throw new Error(`${file}: ELF machine 0x${machine.toString(16)} is not ${target}`);
  if (!bytes.includes(Buffer.from(`${SEA_FUSE}:1`))) throw new Error(`${file} has no single-executable payload`);
}

function buildExecutable(bundles: Bundles, target: Target): string {
  const output = join(dist, `chorus-${target}`);
  const built = join(cache, `chorus-${target}.sea`);
  const native = target === `${process.platform}-${process.arch}`;
  const config = {
    main: bundles.main,
    mainFormat: 'commonjs',
    execArgv: SEA_EXEC_ARGV,
    executable: nodeFor(target),
    output: built,
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: native, // a code cache only loads on the platform that made it
    assets: {
      [CLIENT_BUNDLE_ASSET]: bundles.client,
      [FULL_BUNDLE_ASSET]: bundles.full,
      ...(native
        ? { [CLIENT_CACHE_ASSET]: clientCodeCache(bundles.client), [FULL_CACHE_ASSET]: fullCodeCache(bundles.full) }
        : {}),
    },
  };
  const configFile = join(cache, `sea-${target}.json`);
  mkdirSync(cache, { recursive: true });
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  execFileSync(process.execPath, ['--build-sea', configFile], { stdio: ['ignore', 'ignore', 'inherit'] });
  // Copied into place rather than written there: --build-sea writes the 150 MB file in one go, which leaves it
  // in the page cache as large folios, and every process of that file then maps ~30 MB more of it (RssFile:
  // `--version` 90 MB instead of 59, an idle node 135 instead of 100) until the cache is dropped. A copy, like
  // a download or an install, caches it page by page; the bytes are the same.
  rmSync(output, { force: true }); // a running node keeps its (unlinked) file
  copyFileSync(built, output);
  rmSync(built);
  appendAssetIndex(output, config.assets);
  chmodSync(output, 0o755);
  checkExecutable(output, target);
  log(
    `${basename(output)} ${(statSync(output).size / 1e6).toFixed(1)} MB${native ? '' : ' (cross-built, format checked)'}`,
  );
  return output;
}

/**
 * Appends the index of the executable's assets (src/cli/sea-asset.ts): where each asset's bytes lie in the file,
 * found by searching it for them, so that the loader reads them from the file rather than through the mapping
 * (whose pages then stay resident). Trailing bytes are no part of the ELF image: the loader maps what the program
 * headers name, and Node finds its payload by its note.
 */
function appendAssetIndex(file: string, assets: Record<string, string>): void {
  const bytes = readFileSync(file);
  const index: AssetIndex = {};
  for (const [name, path] of Object.entries(assets)) {
    const content = readFileSync(path);
    const offset = bytes.indexOf(content);
    if (offset < 0) throw new Error(`${basename(file)}: asset ${name} not found in the executable`);
    index[name] = { offset, length: content.length, sha256: createHash('sha256').update(content).digest('hex') };
  }
  appendFileSync(file, assetIndexTrailer(index));
}

function writeSums(files: string[]): void {
  const lines = files.map((f) => `${createHash('sha256').update(readFileSync(f)).digest('hex')}  ${basename(f)}`);
  writeFileSync(join(dist, 'SHA256SUMS'), `${lines.join('\n')}\n`);
}

async function mainBuild(): Promise<void> {
  const { values } = parseArgs({ options: { target: { type: 'string' } } });
  const targets = (values.target ? values.target.split(',') : [...ALL_TARGETS]) as Target[];
  for (const t of targets) if (!ALL_TARGETS.includes(t)) throw new Error(`unknown target ${t}`);
  mkdirSync(dist, { recursive: true });
  mkdirSync(cache, { recursive: true });
  const bundles = await bundle();
  const mb = (file: string) => `${(statSync(file).size / 1e6).toFixed(2)} MB`;
  log(
    `chorus.mjs ${mb(bundles.esm)}; executable: main ${mb(bundles.main)}, client ${mb(bundles.client)}, full program ${mb(bundles.full)}`,
  );
  const outputs = [bundles.esm];
  for (const t of targets) outputs.push(buildExecutable(bundles, t));
  for (const stale of ALL_TARGETS.filter((t) => !targets.includes(t)))
    rmSync(join(dist, `chorus-${stale}`), { force: true });
  writeSums(outputs);
}

if (import.meta.main) {
  mainBuild().catch((err: unknown) => {
    process.stderr.write(`build failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
