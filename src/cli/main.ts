// The full CLI: every verb (program.ts), run on argv. bin.ts loads it for anything the client entry
// (client.ts) does not handle; in the single executable it is a separate bundle (see sea-full.ts).
import { buildProgram } from './program.ts';
import { runProgram } from './runner.ts';

// the client entry's bundle in the single executable takes these from this one (sea-uncommon.ts)
export { configLoader, redactorModule } from './uncommon.ts';

/** Runs the CLI with user arguments (without node and script path); resolves to the exit code. */
export function main(argv: string[]): Promise<number> {
  return runProgram(buildProgram(), argv);
}
