// Verbs of the election (elect status|watch|trigger|resign) and of the leader-only paths
// (context put|get, shhh policy set|show). All go through the local daemon's control API.
import type { Command } from 'commander';
import { invokeClient } from '../invoke.ts';

const views = () => import('../views/elect.ts');

export function registerElectVerbs(program: Command): void {
  const elect = electGroup(program);
  registerElectStatus(elect);
  elect
    .command('watch')
    .description('print the election status each time it changes, until interrupted (NDJSON with --json)')
    .action(async (_opts, cmd: Command) => {
      const [{ run }, { renderElectWatch }] = await Promise.all([import('../../commands/elect/watch.ts'), views()]);
      await invokeClient(cmd, (ctx) => run({}, ctx), { view: renderElectWatch });
    });
  elect
    .command('trigger')
    .description(
      'start a new election: the leader hands over, a follower asks the leader to, a leaderless node campaigns',
    )
    .action(async (_opts, cmd: Command) => {
      const [{ run }, { renderTrigger }] = await Promise.all([import('../../commands/elect/trigger.ts'), views()]);
      await invokeClient(cmd, (ctx) => run({}, ctx), { view: renderTrigger });
    });
  elect
    .command('resign')
    .description('leader only: hand leadership to the best reachable voter')
    .action(async (_opts, cmd: Command) => {
      const [{ run }, { renderResign }] = await Promise.all([import('../../commands/elect/resign.ts'), views()]);
      await invokeClient(cmd, (ctx) => run({}, ctx), { view: renderResign });
    });

  const context = program.command('context').description('SLURP context records (written by the leader only)');
  context
    .command('put')
    .description('leader only: write a context record that every node verifies and stores')
    .argument('<key>', 'context key, e.g. project/architecture')
    .argument('[file]', 'content file (text)')
    .option('--data <json>', 'content as inline JSON, @file, or - for stdin')
    .action(async (key: string, file: string | undefined, opts: { data?: string }, cmd: Command) => {
      const [{ put }, { renderPropose }] = await Promise.all([import('../../commands/elect/context.ts'), views()]);
      await invokeClient(cmd, (ctx) => put(key, file, opts, ctx), { view: renderPropose });
    });
  context
    .command('get')
    .description('context records this node accepted (all, or one key)')
    .argument('[key]')
    .action(async (key: string | undefined, _opts, cmd: Command) => {
      const [{ get }, { renderContexts }] = await Promise.all([import('../../commands/elect/context.ts'), views()]);
      await invokeClient(cmd, (ctx) => get(key, ctx), { view: renderContexts });
    });

  const policy = program
    .command('shhh')
    .description('SHHH secrets policy')
    .command('policy')
    .description('the extra redaction rules in force across the cluster (changed by the leader only)');
  policy
    .command('set')
    .description('leader only: replace the extra redaction rules on every node (YAML or JSON list of rules)')
    .argument('<file>', 'rules: [{name, pattern, flags?, severity?, tags?, action?: redact|deny}]')
    .action(async (file: string, _opts, cmd: Command) => {
      const [{ set }, { renderPropose }] = await Promise.all([import('../../commands/elect/policy.ts'), views()]);
      await invokeClient(cmd, (ctx) => set(file, ctx), { view: renderPropose });
    });
  policy
    .command('show')
    .description('the extra redaction rules in force on this node, and who set them')
    .action(async (_opts, cmd: Command) => {
      const [{ show }, { renderPolicy }] = await Promise.all([import('../../commands/elect/policy.ts'), views()]);
      await invokeClient(cmd, (ctx) => show(ctx), { view: renderPolicy });
    });
}

/** The `elect` group itself, without its verbs. */
export function electGroup(program: Command): Command {
  return program.command('elect').description('inspect and steer the leader election');
}

/** `chorus elect status`: a client verb (the client entry, client.ts, registers it too). */
export function registerElectStatus(elect: Command): void {
  elect
    .command('status')
    .description('leader, term, this node’s state, heartbeat age, and each voter’s score, reachability and vote')
    .option('--require-leader', 'exit 3 when no leader is elected')
    .action(async (opts: { requireLeader?: boolean }, cmd: Command) => {
      const [{ run }, { renderElectStatus }] = await Promise.all([import('../../commands/elect/status.ts'), views()]);
      await invokeClient(cmd, (ctx) => run(opts, ctx), { view: renderElectStatus });
    });
}
