// The single executable's main script: it loads the client entry (entry.ts), stored as the SEA asset
// `chorus-client.js` with the V8 code cache the build made by running client verbs through it
// (`chorus-client.cache`), runs argv, and exits with its code. Node's own code cache of a main script holds
// only its top level, so every function a verb called was parsed and compiled on each run (about a fifth of
// a client verb's CPU); the asset's cache holds them compiled. It is read through Node's mapping of the executable
// (quicker for a short-lived verb than reading the file, sea-asset.ts). The full program is another asset (sea-full.ts).
import type * as Entry from './entry.ts';
import { loadBundleAsset } from './sea-asset.ts';

/** The asset names, shared with scripts/build-binaries.ts. */
export const CLIENT_BUNDLE_ASSET = 'chorus-client.js';
export const CLIENT_CACHE_ASSET = 'chorus-client.cache';

/** Runs the client asset on this process's argv and exits with its code. */
export function start(): void {
  const entry = loadBundleAsset(CLIENT_BUNDLE_ASSET, CLIENT_CACHE_ASSET, require, { fromFile: false }) as typeof Entry;
  void entry.run(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    process.exit(code); // lingering libp2p timers may keep the process alive after the work is done
  });
}
