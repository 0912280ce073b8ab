// Process entry point for the binary, the bundle and `npm start`: run the client verbs' tree when argv
// names a client verb (client.ts), else the full program (main.ts, loaded only then), then exit with its code.
// (No top-level await: the single executable's main is a CommonJS bundle, so V8's code cache applies.
// Its build replaces ./main.ts here with sea-full.ts, which loads the full program from an asset.)
import { clientMain } from './client.ts';

const argv = process.argv.slice(2);
void (clientMain(argv) ?? import('./main.ts').then(({ main }) => main(argv))).then((code) => {
  process.exitCode = code;
  // Deno (and lingering libp2p timers) may keep the process alive after the work is done: exit explicitly.
  process.exit(code);
});
