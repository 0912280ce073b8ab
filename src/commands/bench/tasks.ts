// `chorus bench tasks`: N node processes of this executable forming one voter set; claim latency one at a
// time and committed task transitions per second under concurrency, with SLO gates.
import { writeFile } from 'node:fs/promises';
import { runTaskBench, type TaskBenchOptions, type TaskBenchReport } from '../../bench/tasks/processes.ts';
import { UsageError } from '../../core/errors.ts';
import type { CommandContext } from '../context.ts';
import { selfCommand } from './self.ts';
import { over, under } from '../../bench/slo-figures.ts';

export interface BenchTasksOptions extends Omit<TaskBenchOptions, 'signal' | 'progress'> {
  sloClaimP95: number;
  sloRate: number;
  out?: string;
}

export interface BenchTasksResult {
  report: TaskBenchReport;
  slo: { claimP95Ms: number; transitionsPerSecond: number; breached: string[] };
  /** Set when an SLO is breached: the CLI prints the report, then this line, and exits 3. */
  failedCheck?: string;
}

type SloInput = Pick<TaskBenchReport, 'claimLatencyMs' | 'throughput' | 'claimFailures'>;

/** The SLOs a report breaches, one line each (figures as slo-figures.ts shows them). */
export function sloBreaches(report: SloInput, slo: Pick<BenchTasksOptions, 'sloClaimP95' | 'sloRate'>): string[] {
  const breached: string[] = [];
  const p95 = report.claimLatencyMs.p95;
  if (p95 === null) breached.push('claim p95: no claim completed');
  else if (p95 > slo.sloClaimP95) breached.push(`claim p95 ${over(p95, slo.sloClaimP95)} ms > ${slo.sloClaimP95} ms`);
  if (report.throughput.perSecond < slo.sloRate)
    breached.push(`${under(report.throughput.perSecond, slo.sloRate)} transitions/s < ${slo.sloRate}`);
  if (report.claimFailures) breached.push(`${report.claimFailures} claims failed`);
  return breached;
}

export async function run(opts: BenchTasksOptions, ctx: CommandContext): Promise<BenchTasksResult> {
  if (opts.procs < 1) throw new UsageError('--procs must be at least 1');
  if (opts.concurrency < 1) throw new UsageError('--concurrency must be at least 1');
  const report = await runTaskBench({
    ...opts,
    ...selfCommand(),
    signal: ctx.signal,
    progress: (phase, done, total) => ctx.progress({ phase, done, total }),
  });
  const breached = sloBreaches(report, opts);
  const slo = { claimP95Ms: opts.sloClaimP95, transitionsPerSecond: opts.sloRate, breached };
  if (opts.out) await writeFile(opts.out, `${JSON.stringify({ report, slo }, null, 2)}\n`);
  return { report, slo, failedCheck: breached.length ? `SLO breached: ${breached.join('; ')}` : undefined };
}
