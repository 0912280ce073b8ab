// The DHT benchmark: N real nodes in this process on loopback, K decisions PUT (encrypted, signed,
// replicated as in production), then M GETs from random nodes other than the writer. Returns a report
// (latency summaries, success, replication achieved, errors by kind); printing is the caller's job.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../config/load.ts';
import { describeError } from '../errors.ts';
import { silentLogger } from '../log.ts';
import { ChorusNode } from '../node/node.ts';
import { TOPICS } from '../pubsub/topics.ts';
import { parseAddress } from '../ucxl/address.ts';
import { ratePerSecond, summarize, type Summary } from './stats.ts';
import { devClusterConfig } from './children.ts';

export interface DhtBenchOptions {
  nodes: number;
  keys: number;
  ops: number;
  valueSize: number;
  replication: number;
  concurrency: number;
  warmup: number;
  signal?: AbortSignal;
  progress?: (phase: string, done: number, total: number) => void;
}

export interface DhtBenchReport {
  /** Nodes in this process, or separate node processes driven through their control APIs. */
  mode: 'in-process' | 'processes';
  params: Omit<DhtBenchOptions, 'signal' | 'progress'>;
  put: Summary & { ok: number; failed: number; throughputPerSec: number };
  get: Summary & { ok: number; failed: number; successRate: number; throughputPerSec: number };
  /** GET latency histogram: upper bound (ms) → count, log-spaced buckets. */
  getHistogram: { leMs: number; count: number }[];
  replication: { min: number; median: number; max: number };
  errors: Record<string, number>;
  startupMs: number;
  rssPerNodeMb: number;
}

/**
 * Runs `fn` over items with at most `limit` in flight; stops taking new items once `signal` aborts.
 * (Operations are not handed the long-lived signal: AbortSignal.any over a signal that lives for the
 * whole run keeps every composite alive and makes each new one slower.)
 */
async function mapLimit<T>(
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

function errorKind(err: unknown): string {
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
    breached.push(`GET p95 ${p95 === null ? 'n/a' : `${p95.toFixed(1)} ms`} > ${p95Ms} ms`);
  const success = report.get.successRate * 100;
  if (success < successPercent) breached.push(`GET success ${success.toFixed(2)} % < ${successPercent} %`);
  return { p95Ms, successPercent, breached };
}

/** What a run measured, whichever way the nodes ran. */
export interface DhtMeasurements {
  putTimes: number[];
  putElapsed: number;
  getTimes: number[];
  getOk: number;
  getFailed: number;
  getElapsed: number;
  holders: number[];
  errors: Record<string, number>;
  startupMs: number;
  rssPerNodeMb: number;
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
    },
    put: {
      ...summarize(m.putTimes),
      ok: m.putTimes.length,
      failed: opts.keys - m.putTimes.length,
      throughputPerSec: ratePerSecond(m.putTimes.length, m.putElapsed),
    },
    get: {
      ...summarize(m.getTimes),
      ok: m.getOk,
      failed: m.getFailed,
      successRate: opts.ops ? m.getOk / opts.ops : 0,
      throughputPerSec: ratePerSecond(m.getOk, m.getElapsed),
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

export async function runDhtBench(opts: DhtBenchOptions): Promise<DhtBenchReport> {
  const root = mkdtempSync(join(tmpdir(), 'chorus-bench-dht-'));
  const keyring = join(root, 'keyring.json');
  const nodes: ChorusNode[] = [];
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  try {
    for (let i = 0; i < opts.nodes; i++) {
      const config = validateConfig({
        dataDir: join(root, `n${i}`),
        license: devClusterConfig(root),
        p2p: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false },
        agent: { role: i % 2 === 0 ? 'developer' : 'architect' },
        keys: { keyring },
        dht: { replication: opts.replication, timeoutMs: 10_000 },
      });
      nodes.push(await ChorusNode.start({ config, logger: silentLogger, api: false }));
      opts.progress?.('starting nodes', i + 1, opts.nodes);
    }
    for (let i = 1; i < nodes.length; i++) {
      for (let j = 0; j < i; j++) await nodes[i]!.libp2p.dial(nodes[j]!.libp2p.getMultiaddrs()[0]!);
      opts.progress?.('connecting', i + 1, opts.nodes);
    }
    // routing tables and the pubsub mesh are ready when every node can reach every other on the topic
    await Promise.all(
      nodes.map((n) => n.pubsub.waitForSubscribers(TOPICS.coordination, opts.signal, 60_000, nodes.length - 1)),
    );
    const startupMs = performance.now() - t0;
    const rssPerNodeMb = (process.memoryUsage().rss - rssBefore) / 1e6 / nodes.length;

    const value = new Uint8Array(opts.valueSize).map((_, i) => (i * 31) % 251);
    const errors: Record<string, number> = {};
    const fail = (err: unknown): void => {
      const k = errorKind(err);
      errors[k] = (errors[k] ?? 0) + 1;
    };

    // PUT phase
    const keys = Array.from({ length: opts.keys }, (_, i) => ({
      address: parseAddress(`ucxl://bench:developer@bench:run/*^/key-${i}`),
      writer: i % nodes.length,
    }));
    const putTimes: number[] = [];
    const holders: number[] = [];
    const written = new Set<number>();
    const putStart = performance.now();
    let putsDone = 0;
    await mapLimit(
      keys,
      opts.concurrency,
      async (k, i) => {
        const t = performance.now();
        try {
          const r = await nodes[k.writer]!.decisions.put(k.address, value, { roles: ['developer'] });
          putTimes.push(performance.now() - t);
          holders.push(r.holders);
          written.add(i);
        } catch (err) {
          fail(err);
        }
        opts.progress?.('put', ++putsDone, keys.length);
      },
      opts.signal,
    );
    const putElapsed = performance.now() - putStart;

    // GET phase: random keys from random readers that did not write them
    const picks = Array.from({ length: opts.warmup + opts.ops }, () => {
      const i = [...written][Math.floor(Math.random() * written.size)] ?? 0;
      let reader = Math.floor(Math.random() * nodes.length);
      if (reader === keys[i]!.writer) reader = (reader + 1) % nodes.length;
      return { key: keys[i]!, reader };
    });
    const getTimes: number[] = [];
    let getOk = 0;
    let getFailed = 0;
    let getsDone = 0;
    const getStart = { t: 0 };
    await mapLimit(
      picks,
      opts.concurrency,
      async (p, i) => {
        if (i === opts.warmup) getStart.t = performance.now();
        const t = performance.now();
        try {
          const got = await nodes[p.reader]!.decisions.get(p.key.address);
          if (got.content.byteLength !== value.byteLength) throw new Error('content mismatch');
          if (i >= opts.warmup) {
            getTimes.push(performance.now() - t);
            getOk++;
          }
        } catch (err) {
          if (i >= opts.warmup) {
            getFailed++;
            fail(err);
          }
        }
        opts.progress?.('get', ++getsDone, picks.length);
      },
      opts.signal,
    );
    const getElapsed = performance.now() - (getStart.t || performance.now());
    return buildReport('in-process', opts, {
      putTimes,
      putElapsed,
      getTimes,
      getOk,
      getFailed,
      getElapsed,
      holders,
      errors,
      startupMs,
      rssPerNodeMb,
    });
  } finally {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    rmSync(root, { recursive: true, force: true });
  }
}
