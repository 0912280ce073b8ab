// Process entry point for `node src/cli/bin.ts`, `npm start` and the ESM bundle: run argv (entry.ts),
// then exit with its code. The single executable starts from sea-main.ts instead.
// (No top-level await: the bundles are also built as CommonJS.)
import { run } from './entry.ts';

void run(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Deno (and lingering libp2p timers) may keep the process alive after the work is done: exit explicitly.
  process.exit(code);
});
