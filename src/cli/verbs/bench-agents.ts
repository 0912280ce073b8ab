// `chorus bench agents`: agents doing tasks on node processes of this executable, with SLO gates (exit 3 when breached).
import type { Command } from 'commander';
import { invoke } from '../invoke.ts';
import { duration, integer } from '../options.ts';

export function registerBenchAgents(bench: Command): void {
  bench
    .command('agents')
    .description('agents doing tasks: exactly once, claim-to-start, idle slots, total against the ideal')
    .option('--tasks <n>', 'tasks to do', integer(1), 200)
    .option('--agents <n>', 'agents (one task at a time each)', integer(1), 5)
    .option('--nodes <n>', 'node processes (at least 3)', integer(3), 3)
    .option('--min-ms <ms>', 'least work per task', integer(0), 50)
    .option('--max-ms <ms>', 'most work per task', integer(0), 500)
    .option('--seed <n>', 'seed of the work durations', integer(0), 1)
    .option('--slo-claim-start <duration>', 'claim-to-start p95 SLO', duration, 500)
    .option('--slo-idle <duration>', 'longest an agent may stay idle while work waits', duration, 500)
    .option('--slo-ratio <x>', 'total time at most this many times the ideal', parseFloat, 1.25)
    .option('--dir <dir>', 'where the nodes keep their data (default: the temporary directory; e.g. /dev/shm)')
    .option('--out <file>', 'also write the report as JSON to a file')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const [{ run }, { renderBenchAgents }] = await Promise.all([
        import('../../commands/bench/agents.ts'),
        import('../views/bench-agents.ts'),
      ]);
      const n = (k: string): number => opts[k] as number;
      await invoke(
        cmd,
        (ctx) =>
          run(
            {
              tasks: n('tasks'),
              agents: n('agents'),
              nodes: n('nodes'),
              minMs: n('minMs'),
              maxMs: n('maxMs'),
              seed: n('seed'),
              sloClaimStartP95: n('sloClaimStart'),
              sloIdleGap: n('sloIdle'),
              sloRatio: n('sloRatio'),
              dir: opts.dir as string | undefined,
              out: opts.out as string | undefined,
            },
            ctx,
          ),
        { view: renderBenchAgents },
      );
    });
}
