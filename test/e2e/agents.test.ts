// Agents on the built binary: 3 nodes (one keyring for the cluster, so the creator reads results written
// elsewhere), two `chorus agent` processes with an exec provider script. 10 tasks created on the third
// node are all completed, each exactly once, and the creator reads every result with `chorus ucxl get`;
// kill -9 of the agent working on a task → the other agent completes it after the claim lapses; a
// provider that always fails → the task ends escalated after tasks.maxAttempts; SIGTERM → the running
// task is given back at once ("agent stopped"); `chorus node` with agent.enabled runs the same agent in
// the daemon and gives its task back when the daemon stops.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { PeerView } from '../../src/core/node/node.ts';
import type { Task } from '../../src/core/tasks/model.ts';
import type { BenchAgentsResult } from '../../src/commands/bench/agents.ts';
import { chorus, ChorusProcess, cleanup, Daemon, freePort, tempDir, until } from '../helpers/daemon.ts';
import { script } from '../helpers/agent.ts';

const idOf = (d: Daemon): string => /peerId=(\S+)/.exec(d.stderr)?.[1] ?? '';

async function json<T>(d: Daemon, args: string[]): Promise<T> {
  const r = await d.cli([...args, '--json']);
  if (r.code !== 0) throw new Error(`${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
}

describe('agents on 3 processes of the binary', () => {
  const daemons: Daemon[] = [];
  const dir = tempDir('chorus-e2e-agents-');
  const runs = join(dir, 'runs.txt');
  const config = join(dir, 'chorus.yaml');
  let work = '';
  const agents = new Map<string, ChorusProcess>();

  /** `chorus agent` next to a node, with the exec script; resolves once it runs. */
  async function startAgent(name: string, node: Daemon, extra: string[] = []): Promise<ChorusProcess> {
    const p = new ChorusProcess(
      ['--data-dir', node.dataDir, '--config', config, 'agent', '--name', name, ...extra, '--', work],
      {
        env: {
          RUNS: runs,
          AGENT_LABEL: name,
          CHORUS_AGENT_PROGRESS_INTERVAL_MS: '500',
          CHORUS_AGENT_GRACE_PERIOD_MS: '300',
        },
      },
    );
    await p.waitForStderr(/chorus agent running/);
    agents.set(name, p);
    return p;
  }

  const board = (d: Daemon): Promise<Task[]> => json<Task[]>(d, ['task', 'ls', '--project', 'e2e']);
  const show = (d: Daemon, id: string): Promise<Task> => json<Task>(d, ['task', 'show', id]);
  const ranOf = (): string[] => (existsSync(runs) ? readFileSync(runs, 'utf8').trim().split('\n').filter(Boolean) : []);

  before(async () => {
    work = script(
      dir,
      'work.sh',
      [
        'cat > /dev/null',
        'echo "$CHORUS_TASK_ID $AGENT_LABEL" >> "$RUNS"',
        'echo "${GLIBC_TUNABLES-unset} ${CHORUS_MALLOC_TUNED-unset}" >> "$RUNS.env"',
        'case "$CHORUS_TASK_TITLE" in',
        '  slow*) echo "CHORUS_PROGRESS 10" >&2; sleep 5 ;;',
        '  fail*) echo "cannot do $CHORUS_TASK_ID" >&2; exit 1 ;;',
        'esac',
        'echo "# result of $CHORUS_TASK_TITLE"',
        'echo "done by $AGENT_LABEL"',
      ].join('\n'),
    );
    writeFileSync(
      config,
      [
        'election:',
        '  expect: 3',
        'tasks:',
        '  claimTtlMs: 3000',
        '  renewIntervalMs: 1000',
        'keys:',
        `  keyring: ${join(dir, 'keyring.json')}`,
        '',
      ].join('\n'),
    );
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) {
      ports.push(await freePort());
      const bootstrap = daemons.map((d, j) => `/ip4/127.0.0.1/tcp/${ports[j]}/p2p/${idOf(d)}`);
      daemons.push(
        await Daemon.start({
          config,
          listen: `/ip4/127.0.0.1/tcp/${ports[i]}`,
          bootstrap,
          role: i === 2 ? 'architect' : 'developer',
          env: { CHORUS_AGENT_NAME: `node-${i}` },
        }),
      );
    }
    await until(
      'a leader everyone follows',
      async () => {
        const all = await Promise.all(
          daemons.map((d) => json<{ leader: { peerId: string } | null }>(d, ['elect', 'status'])),
        );
        return all.every((s) => s.leader && s.leader.peerId === all[0]?.leader?.peerId);
      },
      { timeoutMs: 30_000 },
    );
    await startAgent('agent-a', daemons[0] as Daemon);
    await startAgent('agent-b', daemons[1] as Daemon);
  });
  after(async () => {
    for (const a of agents.values()) await a.kill();
    await cleanup();
  });

  test('peers see both agents (COOEE): provider and concurrency', async () => {
    const c = daemons[2] as Daemon;
    await until('node 2 to see both agents', async () => {
      const peers = await json<PeerView[]>(c, ['peers']);
      const withAgents = peers.filter((p) => p.agents?.some((a) => a.provider === 'exec'));
      return withAgents.length === 2 && withAgents.every((p) => p.capabilities?.includes('provider:exec'));
    });
    const peers = await json<PeerView[]>(c, ['peers']);
    const names = peers.flatMap((p) => p.agents ?? []).map((a) => `${a.name}/${a.max_concurrent}`);
    assert.deepEqual(names.sort(), ['agent-a/1', 'agent-b/1']);
  });

  test('10 tasks created on the third node: all completed, each exactly once; the creator reads every result', async () => {
    const c = daemons[2] as Daemon;
    const ids: string[] = [];
    for (let i = 0; i < 10; i++)
      ids.push((await json<{ task: Task }>(c, ['task', 'create', `job ${i}`, '--project', 'e2e'])).task.id);
    const done = await until(
      'all 10 completed',
      async () => {
        const tasks = (await board(c)).filter((t) => ids.includes(t.id));
        return tasks.length === 10 && tasks.every((t) => t.state === 'completed') ? tasks : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const ran = ranOf();
    for (const id of ids)
      assert.equal(ran.filter((l) => l.startsWith(`${id} `)).length, 1, `${id} ran once: ${ran.join('; ')}`);
    // each agent started again with glibc's allocator settings (allocator.ts); what it runs sees the test's env
    for (const agent of agents.values())
      assert.match(readFileSync(`/proc/${agent.child.pid}/environ`, 'latin1'), /(^|\0)CHORUS_MALLOC_TUNED=1\0/);
    const seen = readFileSync(`${runs}.env`, 'utf8').trim().split('\n');
    assert.deepEqual([...new Set(seen)], ['unset unset'], 'no provider saw the allocator settings');
    for (const t of done) {
      assert.equal(t.attempt, 1);
      assert.equal(t.history.filter((h) => h.state === 'completed').length, 1);
      const doer = ran.find((l) => l.startsWith(`${t.id} `))?.split(' ')[1];
      assert.match(t.result ?? '', new RegExp(`^ucxl://${doer}:developer@e2e:${t.id}/\\*~1/result\\.md$`));
      const read = await c.cli(['ucxl', 'get', t.result as string]);
      assert.equal(read.code, 0, read.stderr);
      assert.equal(read.stdout, `# result of ${t.title}\ndone by ${doer}\n`);
    }
  });

  test('kill -9 of the agent working on a task: the other agent completes it', async () => {
    const c = daemons[2] as Daemon;
    const { task } = await json<{ task: Task }>(c, ['task', 'create', 'slow survivor', '--project', 'e2e']);
    const claimed = await until('the slow task to be in progress', async () => {
      const t = await show(c, task.id);
      return t.state === 'in_progress' ? t : undefined;
    });
    assert.equal(claimed.progress?.percent, 10, 'progress from the running command');
    const victim = claimed.claim?.owner.agent as string;
    const survivor = victim === 'agent-a' ? 'agent-b' : 'agent-a';
    await agents.get(victim)?.kill(); // SIGKILL: no renewals, nothing given back
    const done = await until(
      'the other agent to complete it',
      async () => {
        const t = await show(c, task.id);
        return t.state === 'completed' ? t : undefined;
      },
      { timeoutMs: 30_000 },
    );
    assert.equal(done.attempt, 2);
    assert.match(done.lastFailure ?? '', new RegExp(`claim of ${victim} .* expired`));
    assert.match(done.result ?? '', new RegExp(`^ucxl://${survivor}:`));
    const read = await c.cli(['ucxl', 'get', done.result as string]);
    assert.equal(read.stdout, `# result of slow survivor\ndone by ${survivor}\n`);
    agents.delete(victim);
  });

  test('a provider that always fails: the task ends escalated after tasks.maxAttempts', async () => {
    const c = daemons[2] as Daemon;
    const { task } = await json<{ task: Task }>(c, ['task', 'create', 'fail always', '--project', 'e2e']);
    const escalated = await until(
      'the task to be escalated',
      async () => {
        const t = await show(c, task.id);
        return t.state === 'escalated' ? t : undefined;
      },
      { timeoutMs: 30_000 },
    );
    assert.equal(escalated.failures, 3);
    assert.match(escalated.lastFailure ?? '', new RegExp(`exited with code 1: cannot do ${task.id}$`));
    const ran = ranOf().filter((l) => l.startsWith(`${task.id} `));
    const logs = [...agents.values()].map((a) => a.stderr).join('\n');
    assert.equal(ran.length, 3, `${ran.join('; ')} ${JSON.stringify(escalated.history)}\n${logs}`);
  });

  test('SIGTERM: the agent gives its running task back at once ("agent stopped") and exits 0', async () => {
    const c = daemons[2] as Daemon;
    const [name, agent] = [...agents.entries()][0] as [string, ChorusProcess];
    const { task } = await json<{ task: Task }>(c, ['task', 'create', 'slow interrupted', '--project', 'e2e']);
    await until('the task to be claimed', async () => (await show(c, task.id)).claim?.owner.agent === name);
    const exit = await agent.signalAndWait('SIGTERM', 20_000);
    assert.equal(exit.code, 0, agent.stderr);
    assert.match(agent.stdout, new RegExp(`agent ${name} \\(exec\\) stopped after \\d+ s: .*1 given back`));
    const t = await show(c, task.id);
    assert.equal(t.state, 'open', 'reopened at once, not after the claim TTL');
    assert.equal(t.lastFailure, 'agent stopped');
    assert.equal(t.failures, 0, 'giving back is not a failure');
    agents.delete(name);
  });

  test('agent.enabled: chorus node runs the agent; stopping the node gives the running task back', async () => {
    const c = daemons[2] as Daemon;
    const d = await Daemon.start({
      config,
      bootstrap: [`${(await c.status()).addresses[0]}`],
      env: {
        CHORUS_AGENT_NAME: 'agent-d',
        CHORUS_AGENT_ENABLED: 'true',
        CHORUS_AGENT_COMMAND: work,
        CHORUS_AGENT_GRACE_PERIOD_MS: '300',
        RUNS: runs,
        AGENT_LABEL: 'agent-d',
      },
    });
    // the task the stopped agent gave back is open: the daemon's agent takes it
    const interrupted = (await board(c)).find((t) => t.title === 'slow interrupted') as Task;
    await until(
      'the daemon’s agent to claim it',
      async () => (await show(c, interrupted.id)).claim?.owner.agent === 'agent-d',
      {
        timeoutMs: 20_000,
      },
    );
    const exit = await d.signalAndWait('SIGTERM', 20_000);
    assert.equal(exit.code, 0, d.stderr);
    const t = await show(c, interrupted.id);
    assert.equal(t.state, 'open');
    assert.equal(t.lastFailure, 'agent stopped');
  });
});

describe('chorus bench agents on the binary', () => {
  after(cleanup);

  test('a small run: every task done exactly once, figures reported; a breached gate exits 3', async () => {
    const r = await chorus(
      [
        'bench',
        'agents',
        ...['--tasks', '12', '--agents', '3', '--min-ms', '20', '--max-ms', '60'],
        ...['--slo-claim-start', '60s', '--slo-idle', '60s', '--slo-ratio', '1.0001', '--json'],
      ],
      120_000,
    );
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /SLO breached: total .* the ideal \(> 1\.0001×\)/);
    // the report, then (exit 3 with --json) the error object on its own line
    const report = JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf('\n{"error"'))) as BenchAgentsResult;
    assert.equal(report.figures.completedOnce, 12);
    assert.deepEqual([report.figures.ranTwice, report.figures.notCompleted], [[], []]);
    assert.equal(report.figures.claims.won, 12);
    assert.ok(report.figures.ratio > 1);
    assert.equal(
      report.figures.perAgent.reduce((n, a) => n + a.tasks, 0),
      12,
    );
    assert.deepEqual(report.slo.breached.length, 1);
  });
});
