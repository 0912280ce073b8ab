// The client verbs' entry: `chorus status`, `chorus elect status` and `chorus ucxl get` talk only to the
// local node's API, so they run from a command tree that holds just them — built by the same verb
// definition modules as the full tree (program.ts), under the same root flags (root.ts) — and never load
// the rest of the program; so does `chorus --version`. Anything else (another verb, help of a group, a bad
// global flag) goes to the full program. In the single executable this tree is in the client asset that the
// main script loads, and the full program a separate asset loaded only then (sea-main.ts, sea-full.ts),
// which is what keeps these verbs' start-up small.
import type { Command } from 'commander';
import { clientConfig } from '../core/config/client.ts';
import type { GlobalOptions } from './invoke.ts';
import { createRoot } from './root.ts';
import { runProgram } from './runner.ts';
import { guardCommandTree } from './strict.ts';
import { electGroup, registerElectStatus } from './verbs/elect.ts';
import { registerStatusVerb } from './verbs/node.ts';
import { registerUcxlGet, ucxlGroup } from './verbs/ucxl.ts';
import { registerRootAction } from './verbs/version.ts';

export function buildClientProgram(): Command {
  const program = createRoot();
  registerStatusVerb(program);
  registerElectStatus(electGroup(program));
  registerUcxlGet(ucxlGroup(program));
  registerRootAction(program);
  guardCommandTree(program);
  return program;
}

/**
 * The client tree when argv names one of its verbs, else undefined. The words are found as commander
 * finds them: the root's own flags are parsed (by a bare root) and the remaining operands name the verb. A
 * global flag commander rejects, words that name no client verb, or a configuration only loadConfig can
 * resolve (a config file, an unusual CHORUS_* variable: see clientConfig) leave it to the full program.
 */
export function clientProgramFor(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Command | undefined {
  const root = createRoot();
  let operands: string[];
  let unknown: string[];
  try {
    ({ operands, unknown } = root.parseOptions([...argv]));
  } catch {
    return undefined;
  }
  const g = root.opts<GlobalOptions & { version?: boolean }>();
  if (operands.length === 0) return g.version && unknown.length === 0 ? buildClientProgram() : undefined;
  if (!clientConfig({ file: g.config, env, flags: g })) return undefined;
  const program = buildClientProgram();
  let cmd = program;
  for (const word of operands) {
    const next = cmd.commands.find((c) => c.name() === word);
    if (!next) break;
    cmd = next;
  }
  const leaf = cmd !== program && cmd.commands.length === 0 && cmd.name() !== 'help';
  return leaf ? program : undefined;
}

/** Runs argv with the client tree when it names a client verb; undefined when the full program must. */
export function clientMain(argv: string[]): Promise<number> | undefined {
  const program = clientProgramFor(argv);
  return program && runProgram(program, argv);
}
