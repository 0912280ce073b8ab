// `chorus bench pubsub`: delivery latency, ratio and throughput of signed envelopes, in this process
// and/or across processes of this same executable, with SLO gates.
import { writeFile } from 'node:fs/promises';
import { runPubSubBench, type PubSubBenchReport } from '../../bench/pubsub/run.ts';
import { UsageError } from '../../core/errors.ts';
import type { CommandContext } from '../context.ts';
import { selfCommand } from './self.ts';
import { over, under } from '../../bench/slo-figures.ts';

export interface BenchPubSubOptions {
  nodes: number;
  /** Publishing nodes of the in-process scenario's round-robin phases (default: all). */
  publishers?: number;
  procs: number;
  size: number;
  rates: number[];
  durationMs: number;
  messages: number;
  maxPublishMs: number;
  sloP99: number;
  sloDelivery: number;
  out?: string;
}

export interface BenchPubSubResult {
  report: PubSubBenchReport;
  slo: { p99Ms: number; deliveryPercent: number; breached: string[] };
  failedCheck?: string;
}

export async function run(opts: BenchPubSubOptions, ctx: CommandContext): Promise<BenchPubSubResult> {
  if (opts.nodes === 0 && opts.procs === 0) throw new UsageError('nothing to run: give --nodes and/or --procs');
  if (opts.nodes === 1 || opts.procs === 1) throw new UsageError('a pubsub benchmark needs at least 2 nodes');
  if (opts.publishers !== undefined && (opts.nodes === 0 || opts.publishers > opts.nodes)) {
    throw new UsageError(`--publishers ${opts.publishers} needs at least as many --nodes (got ${opts.nodes})`);
  }
  const self = selfCommand();
  const report = await runPubSubBench({
    payloadBytes: opts.size,
    latencyRates: opts.rates,
    latencyDurationMs: opts.durationMs,
    throughputMessages: opts.messages,
    throughputMaxMs: opts.maxPublishMs,
    inProcess: opts.nodes > 0 ? { nodes: opts.nodes, publishers: opts.publishers } : false,
    processes: opts.procs > 0 ? { command: self.command, args: self.args, nodes: opts.procs } : false,
    signal: ctx.signal,
    logger: ctx.logger.child('bench'),
  });
  const breached: string[] = [];
  for (const scenario of report.scenarios) {
    if (scenario.error) breached.push(`${scenario.name}: ${scenario.error}`);
    for (const phase of scenario.phases) {
      const where = `${scenario.name} ${phase.name}${phase.targetRate ? ` @${phase.targetRate}/s` : ''}`;
      const p99 = phase.latencyMs.p99;
      if (phase.name === 'latency' && (p99 === null || p99 > opts.sloP99)) {
        breached.push(`${where}: p99 ${p99 === null ? 'n/a' : `${over(p99, opts.sloP99)} ms`} > ${opts.sloP99} ms`);
      }
      if (phase.deliveryRatio * 100 < opts.sloDelivery) {
        breached.push(
          `${where}: delivery ${under(phase.deliveryRatio * 100, opts.sloDelivery, 2)} % < ${opts.sloDelivery} %`,
        );
      }
    }
  }
  const slo = { p99Ms: opts.sloP99, deliveryPercent: opts.sloDelivery, breached };
  if (opts.out) await writeFile(opts.out, `${JSON.stringify({ report, slo }, null, 2)}\n`);
  return { report, slo, failedCheck: breached.length ? `SLO breached: ${breached.join('; ')}` : undefined };
}
