// The program as a function of argv: a client verb runs from the client tree (client.ts), anything else
// from the full program (main.ts, loaded only then). bin.ts runs it for `node src/cli/bin.ts` and the ESM
// bundle; in the single executable it is the client asset that the main script loads (sea-main.ts), and
// the build runs it while it makes that asset's code cache. Its build maps ./main.ts to sea-full.ts.
import { clientMain } from './client.ts';

/** Runs argv (without node and script path); resolves to the exit code. */
export function run(argv: string[]): Promise<number> {
  return clientMain(argv) ?? import('./main.ts').then(({ main }) => main(argv));
}
