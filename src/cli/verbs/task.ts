// Verbs for tasks (chorus task …): create, list, show, claim, progress, complete, fail, cancel, reopen,
// reassign, watch. All go through the local node's control API; changes are committed by the leader.
import { InvalidArgumentError, type Command } from 'commander';
import { invoke } from '../invoke.ts';
import { collect } from '../options.ts';

const views = () => import('../views/task.ts');
const task = () => import('../../commands/task/task.ts');

function percent(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError('expected a number from 0 to 100');
  return n;
}

const AS = ['--as <agent>', 'act as this agent name (default: agent.name, the host name)'] as const;

export function registerTaskVerbs(program: Command): void {
  const t = program
    .command('task')
    .description('tasks with exactly one owner: create, claim, report progress, complete (docs/tasks.md)');
  t.command('create')
    .description('create a task; it is open, or blocked while a dependency rule says so')
    .argument('<title>', 'a short title')
    .option('--description <text>', 'text, @file, or - for stdin (at most 64 KiB)')
    .option('--project <name>', 'project (default: default)')
    .option('--ref <ref>', 'the issue it is for: owner/repo#42 or a URL')
    .option('--role <role>', 'the role that may claim it')
    .option('--expertise <names>', 'expertise the claimer needs (repeatable, comma-separated)', collect)
    .option('--capability <names>', 'capabilities the claimer needs (repeatable, comma-separated)', collect)
    .option('--priority <level>', 'low, medium, high or urgent (default: medium)')
    .option('--depends-on <ids>', 'tasks that must complete first (repeatable)', collect)
    .option('--touches <paths>', 'paths, globs or artifacts it changes (repeatable)', collect)
    .option('--provides <interfaces>', 'named interfaces it provides (repeatable)', collect)
    .option('--consumes <interfaces>', 'named interfaces it needs (repeatable)', collect)
    .option('--deadline <when>', 'a duration from now (2h, 30m, 1d) or a date; missed → escalated')
    .option('--context <address>', 'a decision an agent reads as context (ucxl://…, repeatable)', collect)
    .option('--force', 'do not wait for earlier tasks that touch the same paths')
    .option(...AS)
    .action(async (title: string, opts: Record<string, never>, cmd: Command) => {
      const [{ create }, { renderChange }] = await Promise.all([task(), views()]);
      await invoke(cmd, (ctx) => create(title, opts, ctx), { view: renderChange });
    });
  t.command('ls')
    .description('tasks on the board: id, state, priority, owner, age, title')
    .option('--state <states>', 'only these states (repeatable, comma-separated)', collect)
    .option('--project <name>', 'only this project')
    .option('--role <role>', 'only tasks for this role')
    .option('--owner <agent>', 'only tasks claimed by this agent')
    .option('--mine', 'only tasks claimed through this node')
    .option('--claimable', 'only tasks this node’s agent could claim now')
    .action(async (opts: Record<string, never>, cmd: Command) => {
      const [{ ls }, { renderList }] = await Promise.all([task(), views()]);
      await invoke(cmd, (ctx) => ls(opts, ctx), { view: renderList });
    });
  t.command('show')
    .description('a task: its fields, why it is blocked, alerts, result and history')
    .argument('<id>')
    .action(async (id: string, _o, cmd: Command) => {
      const [{ show }, { renderTask }] = await Promise.all([task(), views()]);
      await invoke(cmd, (ctx) => show(id, ctx), { view: renderTask });
    });
  t.command('claim')
    .description('claim an open task; this node renews the claim until you complete, fail or cancel it')
    .argument('<id>')
    .option(...AS)
    .action(async (id: string, opts: { as?: string }, cmd: Command) => {
      const [{ claim }, { renderChange }] = await Promise.all([task(), views()]);
      await invoke(cmd, (ctx) => claim(id, opts, ctx), { view: renderChange });
    });
  t.command('progress')
    .description('report progress on a task you own')
    .argument('<id>')
    .option('--percent <n>', 'percent done (0–100)', percent)
    .option('--note <text>', 'what is happening')
    .option('--token <token>', 'the claim token (default: this node’s claim)')
    .option(...AS)
    .action(async (id: string, opts: Record<string, never>, cmd: Command) => {
      const [{ progress }, { renderChange }] = await Promise.all([task(), views()]);
      await invoke(cmd, (ctx) => progress(id, opts, ctx), { view: renderChange });
    });
  t.command('complete')
    .description('complete a task you own, with its result')
    .argument('<id>')
    .option('--result <file>', '@file or - : written as the result decision, its address recorded')
    .option('--result-address <address>', 'the UCXL address of a result already written')
    .option('--token <token>', 'the claim token (default: this node’s claim)')
    .option(...AS)
    .action(async (id: string, opts: Record<string, never>, cmd: Command) => {
      const [{ complete }, { renderChange }] = await Promise.all([task(), views()]);
      await invoke(cmd, (ctx) => complete(id, opts, ctx), { view: renderChange });
    });
  t.command('fail')
    .description('give up on a task you own; it reopens, or is escalated after tasks.maxAttempts failures')
    .argument('<id>')
    .requiredOption('--reason <text>', 'why it failed')
    .option('--token <token>', 'the claim token (default: this node’s claim)')
    .option(...AS)
    .action(async (id: string, opts: Record<string, never>, cmd: Command) => {
      const [{ fail }, { renderChange }] = await Promise.all([task(), views()]);
      await invoke(cmd, (ctx) => fail(id, opts, ctx), { view: renderChange });
    });
  t.command('cancel')
    .description('cancel a task (its creator’s node or an admin)')
    .argument('<id>')
    .option('--reason <text>', 'why')
    .option(...AS)
    .action(async (id: string, opts: Record<string, never>, cmd: Command) => {
      const [{ cancel }, { renderChange }] = await Promise.all([task(), views()]);
      await invoke(cmd, (ctx) => cancel(id, opts, ctx), { view: renderChange });
    });
  t.command('reopen')
    .description('reopen an escalated task (its failures are forgotten)')
    .argument('<id>')
    .option(...AS)
    .action(async (id: string, opts: Record<string, never>, cmd: Command) => {
      const [{ reopen }, { renderChange }] = await Promise.all([task(), views()]);
      await invoke(cmd, (ctx) => reopen(id, opts, ctx), { view: renderChange });
    });
  t.command('reassign')
    .description('reopen a task for one agent only (an escalation answered by a human)')
    .argument('<id>')
    .requiredOption('--to <agent>', 'the agent that may claim it')
    .option(...AS)
    .action(async (id: string, opts: { to: string; as?: string }, cmd: Command) => {
      const [{ reassign }, { renderChange }] = await Promise.all([task(), views()]);
      await invoke(cmd, (ctx) => reassign(id, opts, ctx), { view: renderChange });
    });
  t.command('watch')
    .description('print committed task changes as they happen, until interrupted (NDJSON with --json)')
    .argument('[id]', 'only this task')
    .action(async (id: string | undefined, _o, cmd: Command) => {
      const [{ watch }, { renderWatch }] = await Promise.all([task(), views()]);
      await invoke(cmd, (ctx) => watch(id, ctx), { view: renderWatch });
    });
}
