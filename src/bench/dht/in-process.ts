// The DHT benchmark in this process: N real nodes on loopback, K decisions PUT (encrypted, signed,
// replicated as in production), then M GETs from random nodes other than the writer. Returns a report
// (latency summaries, success, replication achieved, errors by kind); printing is the caller's job.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../core/config/load.ts';
import type { ChorusConfig } from '../../core/config/schema.ts';
import { TimeoutError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { ChorusNode } from '../../core/node/node.ts';
import { TOPICS } from '../../core/pubsub/topics.ts';
import { parseAddress } from '../../core/ucxl/address.ts';
import { devClusterConfig } from '../children.ts';
import { connectPairs, waitForTopicMesh } from '../mesh.ts';
import { benchAddress, benchValue, measure, type DhtOperations } from './measure.ts';
import { buildReport, mapLimit, type DhtBenchOptions, type DhtBenchReport } from './report.ts';

/** The benchmark's operations on nodes of this process: their decision stores, called directly. */
function storeOperations(nodes: ChorusNode[], opts: DhtBenchOptions, project: string): DhtOperations {
  const value = benchValue(opts.valueSize);
  // the measured keys, then the warm-up writes' keys
  const addresses = Array.from({ length: opts.keys + (opts.putWarmup ?? 0) }, (_, i) =>
    parseAddress(benchAddress(project, i)),
  );
  return {
    nodes: nodes.length,
    put: async (writer, key) =>
      (await nodes[writer]!.decisions.put(addresses[key]!, value, { roles: ['developer'] })).holders,
    get: async (reader, key) => {
      const got = await nodes[reader]!.decisions.get(addresses[key]!);
      if (got.content.byteLength !== value.byteLength) throw new Error('content mismatch');
    },
    cpuMs: () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    },
  };
}

export { checkSlo, histogram, type DhtBenchOptions, type DhtBenchReport, type SloVerdict } from './report.ts';

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
      ...(await measure(storeOperations(nodes, opts, 'bench'), opts)).measurements,
      startupMs,
      rssPerNodeMb,
    });
  } finally {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    rmSync(root, { recursive: true, force: true });
  }
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
    const live = { ...opts, nodes: 2 };
    const { measurements, written } = await measure(storeOperations([writer, reader], live, project), live, 0);
    const addresses = written.map((i) => parseAddress(benchAddress(project, i)));
    let tombstoned = 0;
    let failed = 0;
    await mapLimit(addresses, Math.max(1, opts.concurrency), async (address) => {
      try {
        await writer.decisions.put(address, new Uint8Array(), { deleted: true });
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
