// The task benchmark across separate processes: N `chorus node` processes of this executable on loopback
// forming one voter set (election.expect N), driven through their control APIs like agents would. Phase 1:
// claim latency, one claim at a time, each from a random node (most forward to the leader: the figure is
// what an agent sees). Phase 2: throughput, `concurrency` workers (agents, each on one node, spread over
// the nodes) each running create → claim → progress → complete; every answered change is one committed
// transition.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../../core/api/client.ts';
import { ChorusError } from '../../core/errors.ts';
import type { ElectionStatus } from '../../core/election/service.ts';
import type { Task } from '../../core/tasks/model.ts';
import { childEnv, devClusterEnv, processCpuMs, spawnChild, stopChildren, type Child } from '../children.ts';
import { ratePerSecond, summarize, type Summary } from '../stats.ts';

export interface TaskBenchOptions {
  procs: number;
  /** Claims measured one at a time (phase 1). */
  claims: number;
  /** Workers of the throughput phase (phase 2). */
  concurrency: number;
  /** Length of the throughput phase. */
  durationMs: number;
  signal?: AbortSignal;
  progress?: (phase: string, done: number, total: number) => void;
}

export interface TaskBenchReport {
  setup: { procs: number; claims: number; concurrency: number; durationMs: number; startupMs: number };
  /** Phase 1: one claim at a time. */
  claimLatencyMs: Summary;
  createLatencyMs: Summary;
  claimFailures: number;
  /**
   * CPU time (ms) all node processes used per create + claim pair of phase 1: independent of how busy the
   * machine is with other work, unlike the latencies.
   */
  cpuMsPerClaim: number;
  /** Phase 2: create → claim → progress → complete cycles from `concurrency` workers. */
  throughput: {
    transitions: number;
    perSecond: number;
    cycles: number;
    failures: number;
    transitionLatencyMs: Summary;
    /** CPU time (ms) all node processes used per committed transition. */
    cpuMsPerTransition: number;
  };
}

export interface TaskBenchCommand {
  command: string;
  args: string[];
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string, signal?: AbortSignal) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    signal?.throwIfAborted();
    if (Date.now() > deadline) throw new ChorusError('BENCH_SETUP', `${what} not ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Change {
  task: Task;
  token?: string;
  index: number;
}

export async function runTaskBench(opts: TaskBenchOptions & TaskBenchCommand): Promise<TaskBenchReport> {
  const root = mkdtempSync(join(tmpdir(), 'chorus-bench-tasks-'));
  const env = childEnv({ ...devClusterEnv(root), CHORUS_ELECTION_EXPECT: String(opts.procs) });
  const children: Child[] = [];
  const clients: ApiClient[] = [];
  const t0 = performance.now();
  try {
    let bootstrap: string | undefined;
    for (let i = 0; i < opts.procs; i++) {
      const dataDir = join(root, `n${i}`);
      const args = [...opts.args, 'node', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'];
      args.push('--no-ops');
      if (bootstrap) args.push('--bootstrap', bootstrap);
      children.push(spawnChild(`node ${i}`, opts.command, args, { ...env, CHORUS_AGENT_NAME: `bench-${i}` }));
      const client = new ApiClient({ dataDir, timeoutMs: 30_000, keepAlive: { maxSockets: 16 } });
      clients.push(client);
      await until(async () => Boolean(await client.call('GET', '/v1/status')), 30_000, `node ${i}`, opts.signal);
      if (!bootstrap) bootstrap = (await client.call<{ addresses: string[] }>('GET', '/v1/status')).addresses[0];
      opts.progress?.('starting nodes', i + 1, opts.procs);
    }
    await until(
      async () => {
        const all = await Promise.all(clients.map((c) => c.call<ElectionStatus>('GET', '/v1/election/status')));
        const leader = all[0]?.leader?.peerId;
        return Boolean(leader) && all.every((s) => s.leader?.peerId === leader);
      },
      60_000,
      'a leader every node follows',
      opts.signal,
    );
    const startupMs = performance.now() - t0;
    const pick = (): ApiClient => clients[Math.floor(Math.random() * clients.length)] as ApiClient;
    const timed = async <T>(samples: number[], fn: () => Promise<T>): Promise<T> => {
      const start = performance.now();
      const r = await fn();
      samples.push(performance.now() - start);
      return r;
    };

    const cpuMs = (): number => children.reduce((sum, c) => sum + processCpuMs(c.proc.pid), 0);
    // phase 1: one claim at a time, from a random node
    const claimCpu0 = cpuMs();
    const createMs: number[] = [];
    const claimMs: number[] = [];
    let claimFailures = 0;
    for (let i = 0; i < opts.claims; i++) {
      opts.signal?.throwIfAborted();
      const created = await timed(createMs, () =>
        pick().call<Change>('POST', '/v1/tasks', { spec: { title: `bench ${i}`, project: 'bench' } }),
      );
      try {
        await timed(claimMs, () =>
          pick().call<Change>('POST', '/v1/tasks/claim', { id: created.task.id, hold: 'client', as: `claimer-${i}` }),
        );
      } catch {
        claimFailures++;
      }
      if (i % 20 === 0) opts.progress?.('claim latency', i, opts.claims);
    }

    const cpuMsPerClaim = (cpuMs() - claimCpu0) / Math.max(1, opts.claims);

    // phase 2: concurrent create → claim → progress → complete cycles
    const transitionMs: number[] = [];
    let transitions = 0;
    let cycles = 0;
    let failures = 0;
    const start = performance.now();
    const end = start + opts.durationMs;
    // an agent talks to its own node (a claim is owned by the agent on the node that made it)
    const worker = async (w: number): Promise<void> => {
      const client = clients[w % clients.length] as ApiClient;
      for (let n = 0; performance.now() < end && !opts.signal?.aborted; n++) {
        const as = `worker-${w}`;
        try {
          const step = async (path: string, body: Record<string, unknown>): Promise<Change> => {
            const r = await timed(transitionMs, () => client.call<Change>('POST', path, body));
            transitions++;
            return r;
          };
          const { task } = await step('/v1/tasks', { spec: { title: `cycle ${w}.${n}`, project: 'bench' }, as });
          const { token } = await step('/v1/tasks/claim', { id: task.id, hold: 'client', as });
          await step('/v1/tasks/progress', { id: task.id, token, as, percent: 50 });
          await step('/v1/tasks/complete', {
            id: task.id,
            token,
            as,
            result: `ucxl://${as}:developer@bench:${task.id}/*^/r`,
          });
          cycles++;
        } catch {
          failures++;
        }
      }
    };
    opts.progress?.('throughput', 0, 1);
    const cpu0 = cpuMs();
    await Promise.all(Array.from({ length: opts.concurrency }, (_, w) => worker(w)));
    const elapsed = performance.now() - start;
    const cpuMsPerTransition = (cpuMs() - cpu0) / Math.max(1, transitions);
    return {
      setup: {
        procs: opts.procs,
        claims: opts.claims,
        concurrency: opts.concurrency,
        durationMs: opts.durationMs,
        startupMs,
      },
      claimLatencyMs: summarize(claimMs),
      createLatencyMs: summarize(createMs),
      claimFailures,
      cpuMsPerClaim,
      throughput: {
        transitions,
        perSecond: ratePerSecond(transitions, elapsed),
        cycles,
        failures,
        transitionLatencyMs: summarize(transitionMs),
        cpuMsPerTransition,
      },
    };
  } finally {
    for (const c of clients) c.close();
    await stopChildren(children, 5000);
    rmSync(root, { recursive: true, force: true });
  }
}
