// The command tree: every verb with its help text and flags. Actions load their command module
// lazily, so `chorus --version` never loads libp2p. A verb is listed here only when it works.
import type { Command } from 'commander';
import { completionScript } from './completion.ts';
import { invoke } from './invoke.ts';
import { createRoot } from './root.ts';
import { guardCommandTree } from './strict.ts';
import { registerNodeVerbs } from './verbs/node.ts';
import { registerUcxlVerbs } from './verbs/ucxl.ts';
import { registerBenchVerbs } from './verbs/bench.ts';
import { registerLicenseVerbs } from './verbs/license.ts';
import { registerElectVerbs } from './verbs/elect.ts';
import { registerTaskVerbs } from './verbs/task.ts';
import { registerHapVerbs } from './verbs/hap.ts';
import { registerAgentVerbs } from './verbs/agent.ts';
import { registerRootAction, registerVersionVerb } from './verbs/version.ts';

export function buildProgram(): Command {
  const program = createRoot();

  registerRootAction(program);
  registerVersionVerb(program);

  registerNodeVerbs(program);
  registerUcxlVerbs(program);
  registerLicenseVerbs(program);
  registerBenchVerbs(program);
  registerElectVerbs(program);
  registerTaskVerbs(program);
  registerHapVerbs(program);
  registerAgentVerbs(program);

  program
    .command('config')
    .description('print the effective configuration (defaults < file < CHORUS_* env < flags)')
    .action(async (_opts, cmd: Command) => {
      const [{ run }, { renderConfig }] = await Promise.all([
        import('../commands/config/show.ts'),
        import('./views/config.ts'),
      ]);
      await invoke(cmd, (ctx) => run({}, ctx), { view: renderConfig });
    });

  program
    .command('completion')
    .description('print a shell completion script')
    .argument('<shell>', 'bash, zsh or fish')
    .action(async (shell: string, _opts, cmd: Command) =>
      invoke(cmd, () => ({ shell, script: completionScript(program, shell) }), {
        view: (r) => r.script,
        noConfig: true,
      }),
    );

  guardCommandTree(program);
  return program;
}
