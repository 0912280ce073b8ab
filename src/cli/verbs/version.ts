// The build identity: `chorus --version` (the root's flag) and `chorus version` (a verb). The flag is
// registered on both command trees, so it runs from the client entry and never loads the full program
// (client.ts); the verb runs in the full program and so also reports that program's code cache.
import type { Command } from 'commander';
import { invoke } from '../invoke.ts';

/** The root's action: `--version` prints the build identity; a bare `chorus` prints the help. */
export function registerRootAction(program: Command): void {
  program.action(async (_opts, cmd: Command) => {
    if (cmd.opts().version) return runVersion(cmd);
    program.outputHelp();
  });
}

export function registerVersionVerb(program: Command): void {
  program
    .command('version')
    .description('print version, git commit, build date, runtime and target')
    .action(async (_opts, cmd: Command) => runVersion(cmd));
}

async function runVersion(cmd: Command): Promise<void> {
  const [{ run }, { renderVersion }] = await Promise.all([
    import('../../commands/version.ts'),
    import('../views/version.ts'),
  ]);
  await invoke(cmd, run, { view: renderVersion, noConfig: true });
}
