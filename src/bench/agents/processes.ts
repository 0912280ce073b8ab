// The agents benchmark: node processes of this executable (a Raft cluster, one keyring), agents in this
// process as clients of their control sockets (the loop `chorus agent` runs) with an exec provider that
// sleeps each task's work (50–500 ms by default, seeded), and a burst of tasks created on the last node
// while the agents wait. (Nodes in one process would share one event loop, and measure that instead.)
// It returns the run's figures; the command judges them against its gates.
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent } from '../../core/agent/agent.ts';
import { NodeAgentApi } from '../../core/agent/api.ts';
import { ExecProvider } from '../../core/agent/exec.ts';
import { ApiClient } from '../../core/api/client.ts';
import { TimeoutError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { Task } from '../../core/tasks/model.ts';
import { childEnv, devClusterEnv, spawnChild, stopChildren, type Child } from '../children.ts';
import { prng } from '../stats.ts';
import { figures, type AgentFigures, type TaskTimeline } from './measure.ts';

export interface AgentBenchOptions {
  tasks: number;
  agents: number;
  nodes: number;
  minMs: number;
  maxMs: number;
  seed: number;
  /** Where the nodes keep their data (default: the system's temporary directory). */
  dir?: string;
}

/** How the bench starts a node process of this executable, and where it reports. */
export interface AgentBenchRun {
  command: string;
  args: string[];
  signal: AbortSignal;
  logger: Logger;
  progress: (phase: string, total?: number) => void;
}

export interface AgentBenchReport {
  figures: AgentFigures;
  startupMs: number;
  /** How long creating every task took (8 at a time): the cluster's commit rate under the agents' load. */
  createdMs: number;
}

/** The command each bench task runs: sleep its work (seconds in the description), then answer. */
const WORK = ['sh', '-c', 'sleep "$CHORUS_TASK_DESCRIPTION"; echo "done $CHORUS_TASK_ID"'];

/** Warnings and errors of the agents reach the log; their per-task lines would drown it. */
function quiet(logger: Logger): Logger {
  const q: Logger = {
    ...logger,
    info: () => {},
    debug: () => {},
    trace: () => {},
    child: () => q,
  };
  return q;
}

interface NodeProc {
  child: Child;
  dataDir: string;
  api: ApiClient;
}

/** Starts `n` node processes that form one cluster and resolves once they follow one leader. */
async function startNodes(
  self: { command: string; args: string[] },
  root: string,
  n: number,
  nodes: NodeProc[],
  signal: AbortSignal,
): Promise<void> {
  const config = join(root, 'chorus.yaml');
  await writeFile(config, `election:\n  expect: ${n}\nkeys:\n  keyring: ${join(root, 'keyring.json')}\n`);
  const env = childEnv(devClusterEnv(root));
  const addrs: string[] = [];
  for (let i = 0; i < n; i++) {
    const dataDir = join(root, `n${i}`);
    const child = spawnChild(
      `node ${i}`,
      self.command,
      [
        ...self.args,
        ...['--data-dir', dataDir, '--config', config, '--log-format', 'json', 'node'],
        ...['--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--no-ops'],
        ...addrs.flatMap((a) => ['--bootstrap', a]),
      ],
      { ...env, CHORUS_AGENT_NAME: `bench-node-${i}` },
    );
    nodes.push({ child, dataDir, api: new ApiClient({ dataDir }) });
    const addr = await child.waitForStderr(
      (line) => {
        try {
          const e = JSON.parse(line) as { message?: string; fields?: { addresses?: string[] } };
          return e.message === 'chorus node running' ? (e.fields?.addresses?.[0] ?? '') : undefined;
        } catch {
          return undefined;
        }
      },
      60_000,
      signal,
    );
    addrs.push(addr);
  }
  const deadline = Date.now() + 60_000;
  for (;;) {
    const views = await Promise.all(
      nodes.map((x) =>
        x.api
          .call<{ leader?: { peerId?: string } | null }>('GET', '/v1/election/status', undefined, signal)
          .catch(() => undefined),
      ),
    );
    const leader = views[0]?.leader?.peerId;
    if (leader && views.every((v) => v?.leader?.peerId === leader)) return;
    if (Date.now() > deadline) throw new TimeoutError('the bench cluster elected no leader within 60 s');
    await delay(100, undefined, { signal });
  }
}

export async function runAgentBench(opts: AgentBenchOptions, ctx: AgentBenchRun): Promise<AgentBenchReport> {
  const root = mkdtempSync(join(opts.dir || tmpdir(), 'chorus-bench-agents-'));
  const nodes: NodeProc[] = [];
  const stop = new AbortController();
  const runs: Promise<unknown>[] = [];
  const t00 = performance.now();
  try {
    ctx.progress('starting nodes');
    await startNodes(ctx, root, opts.nodes, nodes, ctx.signal);
    const startupMs = performance.now() - t00;
    const rand = prng(opts.seed); // the same durations for the same seed
    const work = Array.from({ length: opts.tasks }, () => Math.round(opts.minMs + rand() * (opts.maxMs - opts.minMs)));
    // keyed by title: an agent may start a task before its create call returned here
    const byTitle = new Map<string, TaskTimeline>(
      work.map((ms, i) => [`bench ${i}`, { id: '', workMs: ms, createdAt: Infinity, starts: [] }]),
    );
    const creator = nodes[opts.nodes - 1] as NodeProc;
    let last = 0;
    let completed = 0;
    const claims: { ms: number; won: boolean }[] = [];
    const allDone = Promise.withResolvers<void>();
    const watching = Promise.withResolvers<void>();
    // completions as the creator's node commits them (its watch stream)
    const watch = (async () => {
      type Line = { kind?: string; to?: string; task?: Task; watching?: string };
      for await (const e of creator.api.stream<Line>('/v1/tasks/watch', stop.signal)) {
        if (e.watching) watching.resolve();
        if (e.kind !== 'transition' || e.to !== 'completed' || !e.task) continue;
        const t = byTitle.get(e.task.title);
        if (!t || t.completedAt !== undefined) continue;
        t.completedAt = last = performance.now();
        if (++completed === opts.tasks) allDone.resolve();
      }
    })();
    runs.push(watch);
    await watching.promise;
    ctx.progress('starting agents');
    const agents = Array.from({ length: opts.agents }, (_, i) => {
      const node = nodes[i % opts.nodes] as NodeProc;
      const agent = new Agent({
        api: new NodeAgentApi(node.api),
        provider: new ExecProvider({ command: WORK, outputCapBytes: 65_536 }),
        profile: { name: `bench-agent-${i}`, role: 'developer', expertise: [], capabilities: [] },
        maxConcurrent: 1,
        taskTimeoutMs: 60_000,
        outputCapBytes: 65_536,
        workRoot: join(root, `work-${i}`),
        keep: false,
        gracePeriodMs: 1000,
        progressIntervalMs: 5000,
        backoffMs: 1000,
        personas: {},
        logger: quiet(ctx.logger.child(`agent-${i}`)),
      });
      agent.on('claim', (e) => claims.push({ ms: e.ms, won: e.outcome === 'won' }));
      agent.on('started', (e) => {
        byTitle.get(e.task.title)?.starts.push({ agent: i, claimedAt: e.claimedAt, startedAt: e.at });
      });
      agent.on('ended', (e) => {
        const s = byTitle.get(e.task.title)?.starts.findLast((x) => x.agent === i);
        if (s) s.endedAt = e.at;
      });
      return agent;
    });
    // the timeline uses performance.now(); the agent events carry Date.now(): one offset converts them
    const offset = performance.now() - Date.now();
    // every agent follows the task stream before the first task is created
    const ready = agents.map((a) => new Promise<void>((resolve) => a.once('watching', () => resolve())));
    for (const a of agents) runs.push(a.run(stop.signal));
    await Promise.all(ready);
    ctx.progress('creating tasks', opts.tasks);
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < opts.tasks) {
          const i = next++;
          const t = byTitle.get(`bench ${i}`) as TaskTimeline;
          const spec = { title: `bench ${i}`, description: (t.workMs / 1000).toFixed(3), project: 'bench' };
          const { task } = await creator.api.call<{ task: Task }>('POST', '/v1/tasks', { spec }, ctx.signal);
          t.id = task.id;
          t.createdAt = performance.now();
        }
      }),
    );
    const createdMs = performance.now() - t0;
    ctx.progress('working', opts.tasks);
    const timeout = AbortSignal.timeout(Math.max(60_000, (work.reduce((n, w) => n + w, 0) / opts.agents) * 4));
    await Promise.race([
      allDone.promise,
      new Promise((_, reject) =>
        AbortSignal.any([timeout, ctx.signal]).addEventListener('abort', () =>
          reject(new TimeoutError('the bench tasks were not all completed in time')),
        ),
      ),
    ]);
    for (const t of byTitle.values()) {
      for (const s of t.starts) {
        s.claimedAt += offset;
        s.startedAt += offset;
        if (s.endedAt !== undefined) s.endedAt += offset;
      }
      // claimable from its commit, which the create call returned after: never later than its claim
      t.createdAt = Math.min(t.createdAt, ...t.starts.map((s) => s.claimedAt));
    }
    return { figures: figures([...byTitle.values()], opts.agents, t0, last, claims), startupMs, createdMs };
  } finally {
    stop.abort();
    await Promise.allSettled(runs);
    await stopChildren(
      nodes.map((n) => n.child),
      5000,
    );
    rmSync(root, { recursive: true, force: true });
  }
}
