// The DHT benchmark across separate processes: N `chorus node` processes of this executable on
// loopback (one shared keyring, joined through the first), decisions PUT and GET through each node's
// control API, so every node has its own event loop and the figures include the API hop.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../api/client.ts';
import { RoleKeyring } from '../crypto/keyring.ts';
import { DEFAULT_ROLE_POLICY } from '../crypto/policy.ts';
import type { PutReceipt } from '../decisions/store.ts';
import { ChorusError, describeError } from '../errors.ts';
import type { NodeStatus } from '../node/node.ts';
import { childEnv, devClusterEnv, spawnChild, stopChildren, type Child } from './children.ts';
import { buildReport, type DhtBenchOptions, type DhtBenchReport } from './dht.ts';

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
      const client = new ApiClient({ dataDir, timeoutMs: 15_000 });
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

    const value = Buffer.from(new Uint8Array(opts.valueSize).map((_, i) => (i * 31) % 251)).toString('base64');
    const errors: Record<string, number> = {};
    const fail = (err: unknown): void => {
      const code = (err as { code?: unknown }).code;
      const k = typeof code === 'string' ? code : describeError(err).slice(0, 60);
      errors[k] = (errors[k] ?? 0) + 1;
    };
    const keys = Array.from({ length: opts.keys }, (_, i) => ({
      address: `ucxl://bench:developer@bench:run/*^/key-${i}`,
      writer: i % opts.nodes,
    }));
    const putTimes: number[] = [];
    const holders: number[] = [];
    const written: number[] = [];
    const putStart = performance.now();
    let next = 0;
    // calls are not handed the run's signal (AbortSignal.any over a long-lived signal retains every
    // composite and slows each new one); the loop stops taking work once it aborts
    const worker = async (items: number, body: (i: number) => Promise<void>): Promise<void> => {
      while (next < items && !opts.signal?.aborted) await body(next++);
    };
    await Promise.all(
      Array.from({ length: opts.concurrency }, () =>
        worker(keys.length, async (i) => {
          const k = keys[i]!;
          const t = performance.now();
          try {
            const r = await clients[k.writer]!.call<PutReceipt>('POST', '/v1/ucxl/put', {
              address: k.address,
              content: value,
              roles: ['developer'],
            });
            putTimes.push(performance.now() - t);
            holders.push(r.holders);
            written.push(i);
          } catch (err) {
            fail(err);
          }
          opts.progress?.('put', putTimes.length, keys.length);
        }),
      ),
    );
    const putElapsed = performance.now() - putStart;

    const picks = Array.from({ length: opts.warmup + opts.ops }, () => {
      const i = written[Math.floor(Math.random() * written.length)] ?? 0;
      let reader = Math.floor(Math.random() * opts.nodes);
      if (reader === keys[i]!.writer) reader = (reader + 1) % opts.nodes;
      return { address: keys[i]!.address, reader };
    });
    const getTimes: number[] = [];
    let getOk = 0;
    let getFailed = 0;
    let getStart = 0;
    next = 0;
    await Promise.all(
      Array.from({ length: opts.concurrency }, () =>
        worker(picks.length, async (i) => {
          if (i === opts.warmup) getStart = performance.now();
          const p = picks[i]!;
          const t = performance.now();
          try {
            const got = await clients[p.reader]!.call<{ content: string }>(
              'GET',
              `/v1/ucxl/get?address=${encodeURIComponent(p.address)}`,
            );
            if (got.content !== value) throw new Error('content mismatch');
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
          opts.progress?.('get', i + 1, picks.length);
        }),
      ),
    );
    const getElapsed = performance.now() - (getStart || performance.now());
    const rss = children.map((c) => rssMb(c.proc.pid));
    return buildReport('processes', opts, {
      putTimes,
      putElapsed,
      getTimes,
      getOk,
      getFailed,
      getElapsed,
      holders,
      errors,
      startupMs,
      rssPerNodeMb: rss.reduce((a, b) => a + b, 0) / Math.max(1, rss.length),
    });
  } finally {
    await stopChildren(children, 5000);
    rmSync(root, { recursive: true, force: true });
  }
}
