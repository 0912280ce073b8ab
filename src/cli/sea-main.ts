// The single executable's main script: it loads the client entry (entry.ts), stored as the SEA asset
// `chorus-client.js` with the V8 code cache the build made by running client verbs through it
// (`chorus-client.cache`), runs argv, and exits with its code. Node's own code cache of a main script holds
// only its top level, so every function a verb called was parsed and compiled on each run (about a fifth of
// a client verb's CPU); the asset's cache holds them compiled, and a verb reads it through Node's mapping of the
// executable (sea-asset.ts). The full program is another asset (sea-full.ts). A process that lives on (a node, an
// agent, …) starts itself again, with glibc's allocator set for it (allocator.ts), then runs the full program
// without loading the client asset.
import type * as Entry from './entry.ts';
import { tuneAllocator } from './allocator.ts';
import { loadBundleAsset, longLived } from './sea-asset.ts';
import { main as fullMain } from './sea-full.ts';

/** The asset names, shared with scripts/build-binaries.ts. */
export const CLIENT_BUNDLE_ASSET = 'chorus-client.js';
export const CLIENT_CACHE_ASSET = 'chorus-client.cache';

/** The client entry from its asset, through Node's mapping of the executable (only verbs that end at once use it). */
function clientEntry(): typeof Entry {
  return loadBundleAsset(CLIENT_BUNDLE_ASSET, CLIENT_CACHE_ASSET, require, { fromFile: false }) as typeof Entry;
}

/**
 * Runs this process's argv and exits with its code: a process that lives on runs the full program at once (the
 * client asset would only hand it over, and stay in its memory), any other verb the client asset.
 */
export function start(): void {
  const argv = process.argv.slice(2);
  tuneAllocator(argv); // a process that lives on starts again here, with glibc's allocator set for it
  const run = longLived(argv) ? fullMain(argv) : clientEntry().run(argv);
  void run.then((code) => {
    process.exitCode = code;
    process.exit(code); // lingering libp2p timers may keep the process alive after the work is done
  });
}
