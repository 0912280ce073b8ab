// The portal's verb: `chorus hap` prints (and opens) a one-time login link to the local node's portal.
import type { Command } from 'commander';
import { invoke } from '../invoke.ts';

export function registerHapVerbs(program: Command): void {
  program
    .command('hap')
    .description(
      'print a one-time login link to the local node’s portal (HAP) and open it in a browser; the node serves the portal on its --api-port',
    )
    .option('--no-open', 'print the link only, open no browser')
    .action(async (opts: { open: boolean }, cmd: Command) => {
      const [{ run }, { renderHap }] = await Promise.all([import('../../commands/hap.ts'), import('../views/hap.ts')]);
      await invoke(cmd, (ctx) => run({ open: opts.open !== false }, ctx), { view: renderHap });
    });
}
