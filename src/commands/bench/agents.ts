// `chorus bench agents`: agents doing tasks on node processes of this executable (src/bench/agents). Gates:
// every task done exactly once, claim-to-start p95, no agent slot idle while claimable work waits (longest
// gap), total time within a factor of the ideal (sum of work / agents). Exit 3 if breached.
import { writeFile } from 'node:fs/promises';
import { runAgentBench, type AgentBenchOptions, type AgentBenchReport } from '../../bench/agents/processes.ts';
import { UsageError } from '../../core/errors.ts';
import type { CommandContext } from '../context.ts';
import { selfCommand } from './self.ts';
import { over } from '../../bench/slo-figures.ts';

export interface BenchAgentsOptions extends AgentBenchOptions {
  sloClaimStartP95: number;
  sloIdleGap: number;
  sloRatio: number;
  out?: string;
}

export interface BenchAgentsResult extends AgentBenchReport {
  params: BenchAgentsOptions;
  slo: { breached: string[] };
  failedCheck?: string;
}

export async function run(opts: BenchAgentsOptions, ctx: CommandContext): Promise<BenchAgentsResult> {
  if (opts.nodes < 3) throw new UsageError('--nodes must be at least 3 (a result decision is stored on 3 peers)');
  if (opts.minMs > opts.maxMs) throw new UsageError('--min-ms must not exceed --max-ms');
  const report = await runAgentBench(opts, {
    ...selfCommand(),
    signal: ctx.signal,
    logger: ctx.logger,
    progress: (phase, total) => ctx.progress({ phase, ...(total === undefined ? {} : { total }) }),
  });
  const f = report.figures;
  const breached: string[] = [];
  if (f.completedOnce !== opts.tasks)
    breached.push(
      `${opts.tasks - f.completedOnce} task(s) not done exactly once (ran twice: ${f.ranTwice.join(', ') || 'none'}; not completed: ${f.notCompleted.join(', ') || 'none'})`,
    );
  if (f.claimToStartMs.p95 > opts.sloClaimStartP95)
    breached.push(
      `claim-to-start p95 ${over(f.claimToStartMs.p95, opts.sloClaimStartP95)} ms > ${opts.sloClaimStartP95} ms`,
    );
  if (f.idle.maxGapMs > opts.sloIdleGap)
    breached.push(
      `an agent was idle ${over(f.idle.maxGapMs, opts.sloIdleGap, 0)} ms while work waited (> ${opts.sloIdleGap} ms)`,
    );
  if (f.ratio > opts.sloRatio)
    breached.push(
      `total ${(f.durationMs / 1000).toFixed(2)} s is ${over(f.ratio, opts.sloRatio, 3)}× the ideal (> ${opts.sloRatio}×)`,
    );
  const result: BenchAgentsResult = {
    params: opts,
    ...report,
    slo: { breached },
    ...(breached.length ? { failedCheck: `SLO breached: ${breached.join('; ')}` } : {}),
  };
  if (opts.out) await writeFile(opts.out, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}
