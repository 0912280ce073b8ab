// The DHT benchmark's report: options, latency summaries, success, replication, the GET histogram and
// the SLO verdict, built from what a run measured (in-process, separate processes or a live cluster).
import { describeError } from '../../core/errors.ts';
import { ratePerSecond, summarize, type Summary } from '../stats.ts';
import { over, under } from '../slo-figures.ts';

export interface DhtBenchOptions {
  nodes: number;
  keys: number;
  ops: number;
  valueSize: number;
  replication: number;
  concurrency: number;
  warmup: number;
  /** PUTs before the measured ones (to keys not measured and not read): the first writes after start-up warm up. */
  putWarmup?: number;
  signal?: AbortSignal;
  progress?: (phase: string, done: number, total: number) => void;
}

export interface DhtBenchReport {
  /** Nodes in this process, separate node processes driven through their APIs, or a live cluster. */
  mode: 'in-process' | 'processes' | 'live';
  params: Omit<DhtBenchOptions, 'signal' | 'progress'>;
  /** cpuMsPerOp: CPU time of the nodes per operation (all nodes together, background work included). */
  put: Summary & { ok: number; failed: number; throughputPerSec: number; cpuMsPerOp?: number };
  get: Summary & { ok: number; failed: number; successRate: number; throughputPerSec: number; cpuMsPerOp?: number };
  /** GET latency histogram: upper bound (ms) → count, log-spaced buckets. */
  getHistogram: { leMs: number; count: number }[];
  replication: { min: number; median: number; max: number };
  errors: Record<string, number>;
  startupMs: number;
  rssPerNodeMb: number;
  /** Live mode: the cluster joined, and the cleanup of the keys the benchmark wrote. */
  live?: {
    join: string[];
    clusterPeers: number;
    /** The UCXL project the keys were written under (unique per run). */
    project: string;
    cleanup: { tombstoned: number; failed: number };
  };
}

/**
 * Runs `fn` over items with at most `limit` in flight; stops taking new items once `signal` aborts.
 * (Operations are not handed the long-lived signal: AbortSignal.any over a signal that lives for the
 * whole run keeps every composite alive and makes each new one slower.)
 */
export async function mapLimit<T>(
  items: T[],
  limit: number,
  fn: (item: T, i: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length && !signal?.aborted) {
        const i = next++;
        await fn(items[i] as T, i);
      }
    }),
  );
}

export function errorKind(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : describeError(err).slice(0, 60);
}

const BUCKETS_MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, Infinity];

export function histogram(samples: number[]): { leMs: number; count: number }[] {
  const counts = BUCKETS_MS.map((leMs) => ({ leMs, count: 0 }));
  for (const s of samples) (counts.find((b) => s <= b.leMs) as { count: number }).count++;
  return counts.filter((b, i) => b.count > 0 || (i > 0 && (counts[i - 1]?.count ?? 0) > 0));
}

export interface SloVerdict {
  p95Ms: number;
  successPercent: number;
  breached: string[];
}

/** Checks a report against the SLO: GET p95 and GET success. */
export function checkSlo(report: DhtBenchReport, p95Ms: number, successPercent: number): SloVerdict {
  const breached: string[] = [];
  const p95 = report.get.p95;
  if (p95 === null || p95 > p95Ms)
    breached.push(`GET p95 ${p95 === null ? 'n/a' : `${over(p95, p95Ms)} ms`} > ${p95Ms} ms`);
  const success = report.get.successRate * 100;
  if (success < successPercent)
    breached.push(`GET success ${under(success, successPercent, 2)} % < ${successPercent} %`);
  return { p95Ms, successPercent, breached };
}

/** What a run measured, whichever way the nodes ran. */
export interface DhtMeasurements {
  putTimes: number[];
  putElapsed: number;
  putCpuMs?: number;
  getTimes: number[];
  getOk: number;
  getFailed: number;
  getElapsed: number;
  getCpuMs?: number;
  holders: number[];
  errors: Record<string, number>;
  startupMs: number;
  rssPerNodeMb: number;
}

function perOp(cpuMs: number | undefined, ops: number): { cpuMsPerOp?: number } {
  return cpuMs === undefined || ops === 0 ? {} : { cpuMsPerOp: cpuMs / ops };
}

/** Turns measurements into the report both runners (in-process and --procs) return. */
export function buildReport(mode: DhtBenchReport['mode'], opts: DhtBenchOptions, m: DhtMeasurements): DhtBenchReport {
  const sortedHolders = [...m.holders].sort((a, b) => a - b);
  return {
    mode,
    params: {
      nodes: opts.nodes,
      keys: opts.keys,
      ops: opts.ops,
      valueSize: opts.valueSize,
      replication: opts.replication,
      concurrency: opts.concurrency,
      warmup: opts.warmup,
      putWarmup: opts.putWarmup ?? 0,
    },
    put: {
      ...summarize(m.putTimes),
      ok: m.putTimes.length,
      failed: opts.keys - m.putTimes.length,
      throughputPerSec: ratePerSecond(m.putTimes.length, m.putElapsed),
      ...perOp(m.putCpuMs, opts.keys),
    },
    get: {
      ...summarize(m.getTimes),
      ok: m.getOk,
      failed: m.getFailed,
      successRate: opts.ops ? m.getOk / opts.ops : 0,
      throughputPerSec: ratePerSecond(m.getOk, m.getElapsed),
      ...perOp(m.getCpuMs, opts.ops),
    },
    getHistogram: histogram(m.getTimes),
    replication: {
      min: sortedHolders[0] ?? 0,
      median: sortedHolders[Math.floor(sortedHolders.length / 2)] ?? 0,
      max: sortedHolders[sortedHolders.length - 1] ?? 0,
    },
    errors: m.errors,
    startupMs: m.startupMs,
    rssPerNodeMb: m.rssPerNodeMb,
  };
}
