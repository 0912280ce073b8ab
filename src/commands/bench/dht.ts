// `chorus bench dht`: N nodes in this process, PUT/GET latency, success and replication, SLO gate.
import { writeFile } from 'node:fs/promises';
import {
  checkSlo,
  runDhtBench,
  type DhtBenchOptions,
  type DhtBenchReport,
  type SloVerdict,
} from '../../bench/dht/in-process.ts';
import { UsageError } from '../../core/errors.ts';
import { parseBootstrap } from '../../core/p2p/join.ts';
import type { CommandContext } from '../context.ts';
import { selfCommand } from './self.ts';

export interface BenchDhtOptions extends Omit<DhtBenchOptions, 'signal' | 'progress'> {
  /** Run this many separate node processes instead of nodes in this process (0 = in-process). */
  procs: number;
  sloP95: number;
  sloSuccess: number;
  out?: string;
  /** Live mode: the cluster to join instead of starting nodes. */
  join?: string[];
  listen?: string;
}

export interface BenchDhtResult {
  report: DhtBenchReport;
  slo: SloVerdict;
  /** Set when an SLO is breached: the CLI prints the report, then this line, and exits 3. */
  failedCheck?: string;
}

export async function run(opts: BenchDhtOptions, ctx: CommandContext): Promise<BenchDhtResult> {
  if (opts.join?.length && opts.procs > 0) throw new UsageError('--join benchmarks a live cluster: drop --procs');
  const nodes = opts.join?.length ? 2 : opts.procs > 0 ? opts.procs : opts.nodes;
  if (!opts.join?.length && nodes < opts.replication)
    throw new UsageError(`${nodes} nodes are fewer than --replication ${opts.replication}`);
  if (opts.replication < 3 || opts.replication > 5) throw new UsageError('--replication must be 3–5');
  const common = {
    ...opts,
    nodes,
    signal: ctx.signal,
    progress: (phase: string, done: number, total: number) => ctx.progress({ phase, done, total }),
  };
  const report = opts.join?.length
    ? await (
        await import('../../bench/dht/in-process.ts')
      ).runDhtBenchLive({
        ...common,
        join: parseBootstrap(opts.join).map(String), // validated here: a bad address is exit 2 before any node starts
        license: ctx.config.license,
        listen: opts.listen ?? '/ip4/0.0.0.0/tcp/0',
      })
    : opts.procs > 0
      ? await (await import('../../bench/dht/processes.ts')).runDhtBenchProcs({ ...common, ...selfCommand() })
      : await runDhtBench(common);
  const slo = checkSlo(report, opts.sloP95, opts.sloSuccess);
  if (opts.out) await writeFile(opts.out, `${JSON.stringify({ report, slo }, null, 2)}\n`);
  return { report, slo, failedCheck: slo.breached.length ? `SLO breached: ${slo.breached.join('; ')}` : undefined };
}
