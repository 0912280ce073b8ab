// The in-process scenario of the pubsub benchmark: N ChorusNode instances fully meshed in this process,
// one publisher and then several round-robin, receipts taken from each node's message event.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { validateConfig } from '../../core/config/load.ts';
import { describeError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { silentLogger } from '../../core/log.ts';
import { ChorusNode } from '../../core/node/node.ts';
import type { ReceivedMessage } from '../../core/pubsub/pubsub.ts';
import { devClusterConfig, withTimeout } from '../children.ts';
import { connectPairs, waitForTopicMesh } from '../mesh.ts';
import { ownCpuMs, runPhases, waitUntilReady, warmup, type PublishSetup, type ScenarioContext } from './phases.ts';
import { BENCH_MESSAGE_TYPE, BENCH_TOPIC, type InProcessOptions, type ScenarioReport } from './report.ts';

export function benchConfig(dataDir: string) {
  return validateConfig({
    dataDir,
    license: devClusterConfig(dirname(dataDir)),
    p2p: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false },
    pubsub: { meshWaitMs: 5000 },
    agent: { role: 'developer' },
  });
}

/** Resolves when every node sees at least `want` peers subscribed to `topic`. */
export async function stopNodes(nodes: ChorusNode[], logger: Logger): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      const done = await withTimeout(
        n.stop().then(() => true),
        10_000,
      ).catch((err: unknown) => {
        logger.warn('node stop failed', { error: describeError(err) });
        return true;
      });
      if (done === undefined) logger.warn('node did not stop within 10 s', { peerId: n.peerId });
    }),
  );
}

export async function runInProcessScenario(
  ctx: ScenarioContext,
  options: InProcessOptions = {},
): Promise<ScenarioReport> {
  const { signal, logger, h } = ctx;
  const count = options.nodes ?? 10;
  const heartbeatMs = options.heartbeatMs ?? 100;
  const report: ScenarioReport = {
    name: 'in-process',
    title: `in-process: ${count} ChorusNode instances, full mesh on 127.0.0.1`,
    nodes: count,
    subscribers: count,
    publisherKind: 'ChorusPubSub.publish on the publishing node; receipts from the pubsub message event',
    setupMs: 0,
    phases: [],
    notes: [
      `api off, mDNS off, GossipSub heartbeat ${heartbeatMs} ms, event log on (as in production)`,
      'latency = process.hrtime.bigint() at receipt − sent_at_ns in the payload (one process, one clock)',
      'all nodes share this process and its one event loop: publisher and receivers compete for the same core',
    ],
  };
  const root = mkdtempSync(join(tmpdir(), 'chorus-bench-'));
  const nodes: ChorusNode[] = [];
  const t0 = performance.now();
  try {
    logger.info('in-process: starting nodes', { nodes: count });
    for (let i = 0; i < count && !signal?.aborted; i++) {
      const dir = join(root, `n${i}`);
      mkdirSync(dir);
      nodes.push(
        await ChorusNode.start({
          config: benchConfig(dir),
          logger: silentLogger,
          api: false,
          gossip: { heartbeatInterval: heartbeatMs },
        }),
      );
    }
    await connectPairs(nodes, signal);
    nodes.forEach((node, i) => {
      node.pubsub.join(BENCH_TOPIC);
      node.pubsub.on('message', (m: ReceivedMessage) => {
        if (m.topic !== BENCH_TOPIC) return;
        h.deliver(i, m.envelope?.data, (d) => Number(process.hrtime.bigint() - BigInt(d.sent_at_ns)) / 1e6);
      });
    });
    await waitForTopicMesh(nodes, BENCH_TOPIC, count - 1, { signal });
    // libp2p closes connections it thinks are dead (e.g. a ping that timed out on a saturated event loop):
    // count those, and restore the full mesh before each phase so one phase's losses do not skew the next
    let disconnects = 0;
    let redials = 0;
    const indexOf = new Map(nodes.map((n, i) => [n.peerId, i]));
    nodes.forEach((n, i) => {
      // counted once per pair: at the end with the lower index
      n.libp2p.addEventListener('peer:disconnect', (evt) => {
        if ((indexOf.get(evt.detail.toString()) ?? -1) > i) disconnects++;
      });
    });
    const remesh = async (): Promise<void> => {
      redials += await connectPairs(nodes, signal);
      redials += await waitForTopicMesh(nodes, BENCH_TOPIC, count - 1, { signal, stallMs: 10_000 });
    };
    const single: PublishSetup = {
      cpu: ownCpuMs,
      disconnects: () => disconnects,
      prepare: remesh,
      publisher: 'node 0',
      publishers: 1,
      receivers: count,
      publisherReceiver: () => 0,
      publish: (_p, data) => nodes[0]!.pubsub.publish(BENCH_MESSAGE_TYPE, data, { topic: BENCH_TOPIC }),
    };
    const publishers = Math.min(Math.max(options.publishers ?? count, 1), count);
    const several = publishers > 1;
    const all: typeof single = {
      cpu: ownCpuMs,
      disconnects: () => disconnects,
      prepare: remesh,
      publisher:
        publishers === count ? `all ${count} nodes round-robin` : `${publishers} of ${count} nodes round-robin`,
      publishers,
      receivers: count,
      publisherReceiver: (p) => p,
      publish: (p, data) => nodes[p]!.pubsub.publish(BENCH_MESSAGE_TYPE, data, { topic: BENCH_TOPIC }),
    };
    await waitUntilReady(h, several ? all : single, 20_000, signal);
    report.setupMs = performance.now() - t0;
    logger.info('in-process: mesh ready; warming up', { setupMs: Math.round(report.setupMs) });
    report.warmup = await warmup(ctx, single);
    await runPhases(ctx, 'in-process', single, { latency: true, throughput: false }, report.phases);
    if (several) await runPhases(ctx, 'in-process', all, { latency: true, throughput: false }, report.phases);
    await runPhases(ctx, 'in-process', single, { latency: false, throughput: true }, report.phases);
    if (several) await runPhases(ctx, 'in-process', all, { latency: false, throughput: true }, report.phases);
    if (h.stray) report.notes.push(`${h.stray} late receipts of earlier phases were ignored`);
    if (redials) report.notes.push(`${redials} connections closed by libp2p under load were re-dialled between phases`);
  } catch (err) {
    report.error = describeError(err);
  } finally {
    if (!report.setupMs) report.setupMs = performance.now() - t0;
    logger.info('in-process: stopping nodes');
    await stopNodes(nodes, logger);
    rmSync(root, { recursive: true, force: true });
  }
  return report;
}
