// The DHT benchmark: N real nodes in this process on loopback, K decisions PUT (encrypted, signed,
// replicated as in production), then M GETs from random nodes other than the writer. Returns a report
// (latency summaries, success, replication achieved, errors by kind); printing is the caller's job.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../config/load.ts';
import type { ChorusConfig } from '../config/schema.ts';
import { describeError, TimeoutError } from '../errors.ts';
import { silentLogger } from '../log.ts';
import { ChorusNode } from '../node/node.ts';
import { TOPICS } from '../pubsub/topics.ts';
import { parseAddress, type UcxlAddress } from '../ucxl/address.ts';
import { ratePerSecond, summarize, type Summary } from './stats.ts';
import { devClusterConfig } from './children.ts';
import { connectPairs, waitForTopicMesh } from './mesh.ts';

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
  /** Nodes in this process, separate node processes driven through their APIs, or a live cluster. */
  mode: 'in-process' | 'processes' | 'live';
  params: Omit<DhtBenchOptions, 'signal' | 'progress'>;
  put: Summary & { ok: number; failed: number; throughputPerSec: number };
  get: Summary & { ok: number; failed: number; successRate: number; throughputPerSec: number };
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
    await connectPairs(nodes, opts.signal, (i) => opts.progress?.('connecting', i + 1, opts.nodes));
    // routing tables and the pubsub mesh are ready when every node can reach every other on the topic
    await waitForTopicMesh(nodes, TOPICS.coordination, nodes.length - 1, { signal: opts.signal });
    const startupMs = performance.now() - t0;
    const rssPerNodeMb = (process.memoryUsage().rss - rssBefore) / 1e6 / nodes.length;

    return buildReport('in-process', opts, {
      ...(await measure(nodes, opts, 'bench')).measurements,
      startupMs,
      rssPerNodeMb,
    });
  } finally {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    rmSync(root, { recursive: true, force: true });
  }
}

interface WrittenKey {
  address: UcxlAddress;
  writer: number;
}

/**
 * The PUT and GET phases over nodes that are up: keys written round-robin by the nodes, then random
 * keys read by random nodes other than their writer.
 */
async function measure(
  nodes: ChorusNode[],
  opts: DhtBenchOptions,
  project: string,
  fixedWriter?: number,
): Promise<{ measurements: Omit<DhtMeasurements, 'startupMs' | 'rssPerNodeMb'>; written: WrittenKey[] }> {
  const value = new Uint8Array(opts.valueSize).map((_, i) => (i * 31) % 251);
  const errors: Record<string, number> = {};
  const fail = (err: unknown): void => {
    const k = errorKind(err);
    errors[k] = (errors[k] ?? 0) + 1;
  };

  // PUT phase
  const keys = Array.from({ length: opts.keys }, (_, i) => ({
    address: parseAddress(`ucxl://bench:developer@${project}:run/*^/key-${i}`),
    writer: fixedWriter ?? i % nodes.length,
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
  return {
    measurements: { putTimes, putElapsed, getTimes, getOk, getFailed, getElapsed, holders, errors },
    written: [...written].map((i) => keys[i]!),
  };
}

export interface LiveDhtBenchOptions extends DhtBenchOptions {
  /** Multiaddrs (with /p2p/<id>) of the cluster to benchmark. */
  join: string[];
  /** The license layer of the operator's config: the bench nodes prove it like any node. */
  license: ChorusConfig['license'];
  /** Address the bench nodes listen on (the cluster must be able to dial back). */
  listen: string;
  /** How long to wait for enough licensed cluster peers (default 30 s). */
  joinTimeoutMs?: number;
}

/**
 * Live mode: two short-lived nodes (a writer and a reader, licensed like any node) join an existing
 * cluster, write `keys` decisions under a project unique to this run, read them back from the
 * reader, then overwrite every key they wrote with a tombstone and leave.
 */
export async function runDhtBenchLive(opts: LiveDhtBenchOptions): Promise<DhtBenchReport> {
  const root = mkdtempSync(join(tmpdir(), 'chorus-bench-live-'));
  const nodes: ChorusNode[] = [];
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  try {
    for (let i = 0; i < 2; i++) {
      const config = validateConfig({
        dataDir: join(root, `n${i}`),
        license: opts.license,
        p2p: { listen: [opts.listen], mdns: false, bootstrap: opts.join },
        keys: { keyring: join(root, 'keyring.json') },
        dht: { replication: opts.replication, timeoutMs: 10_000 },
      });
      nodes.push(await ChorusNode.start({ config, logger: silentLogger, api: false }));
      opts.progress?.('joining', i + 1, 2);
    }
    const [writer, reader] = nodes as [ChorusNode, ChorusNode];
    await writer.libp2p.dial(reader.libp2p.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(10_000) });
    // ready when both know enough cluster peers to replicate to (the other bench node does not count)
    const enough = opts.replication;
    const joinTimeoutMs = opts.joinTimeoutMs ?? 30_000;
    const deadline = Date.now() + joinTimeoutMs;
    const clusterPeers = (n: ChorusNode): number =>
      n.admission.admitted().filter((p) => p.via === 'direct' && !nodes.some((b) => b.peerId === p.peerId)).length;
    while (nodes.some((n) => clusterPeers(n) < enough)) {
      if (opts.signal?.aborted) throw new TimeoutError('interrupted while joining the cluster');
      if (Date.now() > deadline) {
        throw new TimeoutError(
          `met ${Math.min(...nodes.map(clusterPeers))} licensed cluster peer(s) in ${joinTimeoutMs / 1000} s; --replication ${enough} needs ${enough} (is this license valid for that cluster?)`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const startupMs = performance.now() - t0;
    const rssPerNodeMb = (process.memoryUsage().rss - rssBefore) / 1e6 / nodes.length;
    const project = `bench-${randomUUID().slice(0, 8)}`;
    // every key is written by the writer (index 0) and read by the reader
    const { measurements, written } = await measure([writer, reader], { ...opts, nodes: 2 }, project, 0);
    let tombstoned = 0;
    let failed = 0;
    await mapLimit(written, Math.max(1, opts.concurrency), async (k) => {
      try {
        await writer.decisions.put(k.address, new Uint8Array(), { deleted: true });
        tombstoned++;
      } catch {
        failed++;
      }
      opts.progress?.('cleanup', tombstoned + failed, written.length);
    });
    return {
      ...buildReport('live', opts, { ...measurements, startupMs, rssPerNodeMb }),
      live: { join: opts.join, clusterPeers: clusterPeers(writer), project, cleanup: { tombstoned, failed } },
    };
  } finally {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    rmSync(root, { recursive: true, force: true });
  }
}
