// Process entry point for the binary, the bundle and `npm start`: run main(), then exit with its code.
// (No top-level await: the single executable's main is a CommonJS bundle, so V8's code cache applies.)
import { main } from './main.ts';

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Deno (and lingering libp2p timers) may keep the process alive after the work is done: exit explicitly.
  process.exit(code);
});
