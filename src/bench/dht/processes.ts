// The DHT benchmark across separate processes: N `chorus node` processes of this executable on
// loopback (one shared keyring, joined through the first), decisions PUT and GET through each node's
// control API, so every node has its own event loop and the figures include the API hop.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../../core/api/client.ts';
import { RoleKeyring } from '../../core/crypto/keyring.ts';
import { DEFAULT_ROLE_POLICY } from '../../core/crypto/policy.ts';
import type { PutReceipt } from '../../core/decisions/store.ts';
import { ChorusError } from '../../core/errors.ts';
import type { NodeStatus } from '../../core/node/node.ts';
import { childEnv, devClusterEnv, processCpuMs, spawnChild, stopChildren, type Child } from '../children.ts';
import { benchAddress, benchValue, measure, type DhtOperations } from './measure.ts';
import { buildReport, type DhtBenchOptions, type DhtBenchReport } from './report.ts';

export interface DhtProcsOptions extends DhtBenchOptions {
  /** How to start this executable (the single executable itself, or the runtime plus the script). */
  command: string;
  args: string[];
}

function rssMb(pid: number | undefined): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

async function until(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    signal?.throwIfAborted();
    if (Date.now() > deadline) throw new ChorusError('BENCH_SETUP', `${what} not ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The benchmark's operations through each node's control API. (Calls are not handed the run's signal:
 * AbortSignal.any over a long-lived signal retains every composite and slows each new one; the loop
 * stops taking work once it aborts.)
 */
function apiOperations(clients: ApiClient[], opts: DhtBenchOptions, children: Child[]): DhtOperations {
  const value = Buffer.from(benchValue(opts.valueSize)).toString('base64');
  const address = (i: number): string => benchAddress('bench', i);
  return {
    nodes: clients.length,
    put: async (writer, key) =>
      (
        await clients[writer]!.call<PutReceipt>('POST', '/v1/ucxl/put', {
          address: address(key),
          content: value,
          roles: ['developer'],
        })
      ).holders,
    get: async (reader, key) => {
      const got = await clients[reader]!.call<{ content: string }>(
        'GET',
        `/v1/ucxl/get?address=${encodeURIComponent(address(key))}`,
      );
      if (got.content !== value) throw new Error('content mismatch');
    },
    cpuMs: () => children.reduce((sum, c) => sum + processCpuMs(c.proc.pid), 0),
  };
}

export async function runDhtBenchProcs(opts: DhtProcsOptions): Promise<DhtBenchReport> {
  const root = mkdtempSync(join(tmpdir(), 'chorus-bench-dhtp-'));
  const keyringFile = join(root, 'keyring.json');
  const keyring = await RoleKeyring.open(keyringFile);
  for (const role of Object.keys(DEFAULT_ROLE_POLICY)) await keyring.ensureRole(role);
  const env = childEnv({
    ...devClusterEnv(root),
    CHORUS_KEYRING: keyringFile,
    CHORUS_REPLICATION: String(opts.replication),
  });
  const children: Child[] = [];
  const clients: ApiClient[] = [];
  const t0 = performance.now();
  try {
    let bootstrap: string | undefined;
    for (let i = 0; i < opts.nodes; i++) {
      const dataDir = join(root, `n${i}`);
      const args = [
        ...opts.args,
        'node',
        '--data-dir',
        dataDir,
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--no-mdns',
        '--no-ops',
      ];
      if (bootstrap) args.push('--bootstrap', bootstrap);
      children.push(spawnChild(`node ${i}`, opts.command, args, env));
      // kept-alive connections, as etcd's benchmark and any long-running client use: one per request in flight
      const client = new ApiClient({ dataDir, timeoutMs: 15_000, keepAlive: { maxSockets: opts.concurrency } });
      clients.push(client);
      await until(
        async () => Boolean(await client.call<NodeStatus>('GET', '/v1/status')),
        30_000,
        `node ${i}`,
        opts.signal,
      );
      if (!bootstrap) bootstrap = (await client.call<NodeStatus>('GET', '/v1/status')).addresses[0];
      opts.progress?.('starting nodes', i + 1, opts.nodes);
    }
    await until(
      async () =>
        (await Promise.all(clients.map((c) => c.call<NodeStatus>('GET', '/v1/status')))).every(
          (s) => s.peers >= opts.nodes - 1,
        ),
      60_000,
      'the full mesh',
      opts.signal,
    );
    const startupMs = performance.now() - t0;

    const { measurements } = await measure(apiOperations(clients, opts, children), opts);
    const rss = children.map((c) => rssMb(c.proc.pid));
    return buildReport('processes', opts, {
      ...measurements,
      startupMs,
      rssPerNodeMb: rss.reduce((a, b) => a + b, 0) / Math.max(1, rss.length),
    });
  } finally {
    for (const client of clients) client.close();
    await stopChildren(children, 5000);
    rmSync(root, { recursive: true, force: true });
  }
}
