// Process entry point for the binary, the bundle and `npm start`: run main(), then exit with its code.
import { main } from './main.ts';

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Deno (and lingering libp2p timers) may keep the process alive after the work is done: exit explicitly.
process.exit(code);
