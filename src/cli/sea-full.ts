// The full program inside the single executable. The executable's main script (sea-main.ts) loads the
// client entry (entry.ts → client.ts); everything else is the bundle of main.ts, stored as the SEA asset
// `chorus-full.js` with the V8 code cache the build made for it (`chorus-full.cache`, native target
// only). It is compiled and run only when a verb needs it. The build maps entry.ts's import of ./main.ts
// here, so this module is never part of the source run. For a verb whose process lives on (a node, a
// subscriber, an agent, a benchmark, a lease server) the bundle is read from the executable file, so that its
// pages do not stay resident for the process's life (~4.4 MB); any other verb reads it through Node's mapping of
// the executable, which starts it ~15 ms sooner on a host with slow page faults (sea-asset.ts).
import type * as FullProgramModule from './main.ts';
import { loadBundleAsset, type LoadOptions } from './sea-asset.ts';

/** The asset names, shared with scripts/build-binaries.ts. */
export const FULL_BUNDLE_ASSET = 'chorus-full.js';
export const FULL_CACHE_ASSET = 'chorus-full.cache';

type FullProgram = typeof FullProgramModule;
let loaded: FullProgram | undefined;

/** The full program's exports, from its asset: compiled and run on the first call. */
export function fullProgram(opts: LoadOptions = { fromFile: false }): FullProgram {
  loaded ??= loadBundleAsset(
    FULL_BUNDLE_ASSET,
    FULL_CACHE_ASSET,
    process.getBuiltinModule('node:module').createRequire(process.execPath),
    opts,
  ) as FullProgram;
  return loaded;
}

/** The global options that take a value (`chorus --data-dir <dir> node`). */
const VALUED_OPTIONS = new Set(['--config', '--data-dir', '--log-level', '--log-format']);
/** Verbs whose process lives on, with the subcommand where only one of the verb's does. */
const LONG_LIVED: Readonly<Record<string, string | undefined>> = {
  node: undefined,
  subscribe: undefined,
  agent: undefined,
  bench: undefined,
  license: 'serve',
};

/** Whether argv runs a verb whose process lives on (a wrong guess costs only start-up time or memory). */
export function longLived(argv: readonly string[]): boolean {
  const words: string[] = [];
  for (let i = 0; i < argv.length && words.length < 2; i++) {
    const arg = argv[i] as string;
    if (VALUED_OPTIONS.has(arg)) i++;
    else if (!arg.startsWith('-')) words.push(arg);
  }
  const [verb, sub] = words;
  if (verb === undefined || !Object.hasOwn(LONG_LIVED, verb)) return false;
  const only = LONG_LIVED[verb];
  return only === undefined || sub === only;
}

export function main(argv: string[]): Promise<number> {
  return fullProgram({ fromFile: longLived(argv) }).main(argv);
}
