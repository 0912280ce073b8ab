// The multi-process scenario of the pubsub benchmark: M `chorus node` processes of this executable on
// 127.0.0.1 whose subscribers are `chorus subscribe --json` streams; published through a node's
// control API (a keep-alive ApiClient) and/or by an in-benchmark node joined as an extra peer.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import { ApiClient } from '../../core/api/client.ts';
import { describeError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { ChorusNode } from '../../core/node/node.ts';
import type { ReceivedMessage } from '../../core/pubsub/pubsub.ts';
import { childEnv, devClusterEnv, spawnChild, stopChildren, type Child } from '../children.ts';
import { waitForTopicMesh } from '../mesh.ts';
import { benchConfig, stopNodes } from './in-process.ts';
import {
  childCpuMs,
  epochMs,
  ownCpuMs,
  runPhases,
  waitUntilReady,
  warmup,
  type PhaseSpec,
  type PublishSetup,
  type ScenarioContext,
} from './phases.ts';
import { BENCH_MESSAGE_TYPE, BENCH_TOPIC, type ProcessesOptions, type ScenarioReport } from './report.ts';

function runtimeOf(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<string | undefined> {
  return new Promise((resolve) => {
    const proc = spawn(command, [...args, 'version', '--json'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (c: string) => (out += c));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    proc.on('error', () => resolve(undefined));
    proc.on('close', () => {
      clearTimeout(timer);
      try {
        resolve((JSON.parse(out) as { runtime?: string }).runtime);
      } catch {
        resolve(undefined);
      }
    });
  });
}

export async function runProcessesScenario(ctx: ScenarioContext, options: ProcessesOptions): Promise<ScenarioReport> {
  const { signal, logger, h } = ctx;
  const count = Math.max(2, options.nodes ?? 5);
  const subscribers = count - 1;
  const mode = options.publisher ?? 'both';
  const concurrency = options.apiConcurrency ?? 32;
  const args = options.args ?? [];
  const root = mkdtempSync(join(tmpdir(), 'chorus-bench-'));
  const env = childEnv({ ...devClusterEnv(root), ...options.env });
  const exe = [options.command, ...args].join(' ');
  const report: ScenarioReport = {
    name: 'processes',
    title: `${count} chorus node processes on 127.0.0.1 (bootstrap full mesh, --no-mdns)`,
    nodes: count,
    subscribers,
    publisherKind:
      mode === 'peer'
        ? 'an in-benchmark ChorusNode joined as an extra peer, publishing directly'
        : `node ${count - 1}'s control API (POST /v1/publish over its Unix socket, keep-alive, ≤ ${concurrency} concurrent)` +
          (mode === 'both' ? '; then an in-benchmark ChorusNode joined as an extra peer' : ''),
    executable: exe,
    setupMs: 0,
    phases: [],
    notes: [
      `subscribers: \`chorus --data-dir D subscribe ${BENCH_TOPIC} --json\` on nodes 0..${subscribers - 1}`,
      'latency = wall time when this process reads the line from the subscribe stream − sent_at_ms in the payload',
      "node latency = the receiving node's receivedAt (ms resolution) − sent_at_ms: the part before the subscribe stream",
    ],
  };
  const nodes: Child[] = [];
  const subs: Child[] = [];
  let peer: ChorusNode | undefined;
  let api: ApiClient | undefined;
  const t0 = performance.now();
  const wallOffset = Date.now() - epochMs(); // maps epochMs() onto the Date clock of receivedAt
  try {
    report.runtime = await runtimeOf(options.command, args, env);
    const addrs: string[] = [];
    for (let i = 0; i < count && !signal?.aborted; i++) {
      const dir = join(root, `n${i}`);
      mkdirSync(dir, { mode: 0o700 });
      const child = spawnChild(
        `node ${i}`,
        options.command,
        [
          ...args,
          '--data-dir',
          dir,
          '--log-format',
          'json',
          '--log-level',
          'info',
          'node',
          '--listen',
          '/ip4/127.0.0.1/tcp/0',
          '--no-mdns',
          '--no-ops', // several nodes share the host; health probes would also add traffic to the measurement
          ...addrs.flatMap((a) => ['--bootstrap', a]),
        ],
        env,
      );
      nodes.push(child);
      const addr = await child.waitForStderr(
        (line) => {
          try {
            const entry = JSON.parse(line) as { message?: string; fields?: { addresses?: string[] } };
            return entry.message === 'chorus node running' ? (entry.fields?.addresses?.[0] ?? '') : undefined;
          } catch {
            return undefined;
          }
        },
        30_000,
        signal,
      );
      if (!addr) throw new Error(`node ${i} reported no listen address`);
      addrs.push(addr);
      logger.info(`processes: node ${i} running`, { addr });
    }
    for (let i = 0; i < subscribers && !signal?.aborted; i++) {
      const sub = spawnChild(
        `subscriber ${i}`,
        options.command,
        [...args, '--data-dir', join(root, `n${i}`), 'subscribe', BENCH_TOPIC, '--json'],
        env,
        (line) => {
          const now = epochMs();
          let m: Partial<ReceivedMessage>;
          try {
            m = JSON.parse(line) as Partial<ReceivedMessage>;
          } catch {
            return;
          }
          const nodeAt = typeof m.receivedAt === 'string' ? Date.parse(m.receivedAt) : Number.NaN;
          h.deliver(
            i,
            m.envelope?.data,
            (d) => now - d.sent_at_ms,
            Number.isNaN(nodeAt) ? undefined : (d) => nodeAt - (d.sent_at_ms + wallOffset),
          );
        },
      );
      subs.push(sub);
      await sub.waitForStderr((line) => (/\bsubscribed\b/.test(line) ? true : undefined), 30_000, signal);
    }
    report.pids = { nodes: nodes.map((c) => c.proc.pid ?? -1), subscribers: subs.map((c) => c.proc.pid ?? -1) };
    if (signal?.aborted) return report;

    const children = [...nodes, ...subs];
    const phases = (publisher: string, publish: PhaseSpec['publish']): PublishSetup => ({
      cpu: () => ownCpuMs() + children.reduce((sum, c) => sum + childCpuMs(c.proc.pid), 0),
      publisher,
      publishers: 1,
      receivers: subscribers,
      publisherReceiver: () => -1,
      publish,
    });

    if (mode !== 'peer') {
      api = new ApiClient({ dataDir: join(root, `n${count - 1}`), keepAlive: { maxSockets: concurrency } });
      const client = api;
      const viaApi = phases(`node ${count - 1} via control API`, (_p, data) =>
        client.call('POST', '/v1/publish', { type: BENCH_MESSAGE_TYPE, topic: BENCH_TOPIC, data }),
      );
      await waitUntilReady(h, viaApi, 30_000, signal);
      report.setupMs = performance.now() - t0;
      logger.info('processes: mesh ready; warming up', { setupMs: Math.round(report.setupMs) });
      report.warmup = await warmup(ctx, viaApi);
      await runPhases(ctx, 'processes', viaApi, { latency: true, throughput: true }, report.phases);
    }
    if (mode !== 'api' && !signal?.aborted) {
      const dir = join(root, 'peer');
      mkdirSync(dir);
      peer = await ChorusNode.start({ config: benchConfig(dir), logger: silentLogger, api: false });
      const self = peer;
      for (const a of addrs) await self.libp2p.dial(multiaddr(a), { signal });
      await waitForTopicMesh([self], BENCH_TOPIC, subscribers, { signal, stallMs: 20_000, redialMs: Infinity });
      const viaPeer = phases('in-benchmark peer (direct publish)', (_p, data) =>
        self.pubsub.publish(BENCH_MESSAGE_TYPE, data, { topic: BENCH_TOPIC }),
      );
      await waitUntilReady(h, viaPeer, 20_000, signal);
      if (!report.setupMs) report.setupMs = performance.now() - t0;
      if (mode === 'peer') report.warmup = await warmup(ctx, viaPeer);
      else await warmup(ctx, viaPeer);
      await runPhases(ctx, 'processes', viaPeer, { latency: mode === 'peer', throughput: true }, report.phases);
    }
    if (h.stray) report.notes.push(`${h.stray} late receipts of earlier phases were ignored`);
  } catch (err) {
    report.error = describeError(err);
  } finally {
    if (!report.setupMs) report.setupMs = performance.now() - t0;
    logger.info('processes: stopping');
    api?.close();
    if (peer) await stopNodes([peer], logger);
    await stopChildren(subs, 3000);
    await stopChildren(nodes, 8000);
    rmSync(root, { recursive: true, force: true });
  }
  return report;
}
