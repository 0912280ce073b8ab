// Tasks across 5 processes of the built binary: 20 tasks with 5 claimers racing on each (one per node)
// → exactly one winner per task, the others told who holds it; kill -9 of an owner → its task reopens
// after the claim TTL and another agent completes it, while the old owner's late completion is refused;
// `chorus task ls --json` agrees on every node; a dependent task stays blocked until its dependency
// completes; bad input exits 2 and an unknown task exits 1.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Task } from '../../src/core/tasks/model.ts';
import { cleanup, Daemon, freePort, tempDir, until } from '../helpers/daemon.ts';
import type { RunResult } from '../helpers/run.ts';

const idOf = (d: Daemon): string => /peerId=(\S+)/.exec(d.stderr)?.[1] ?? '';

async function json<T>(d: Daemon, args: string[]): Promise<T> {
  const r = await d.cli([...args, '--json']);
  if (r.code !== 0) throw new Error(`${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
}

describe('tasks across 5 processes of the binary', () => {
  const daemons: Daemon[] = [];
  const ports: number[] = [];

  before(async () => {
    const config = join(tempDir(), 'chorus.yaml');
    writeFileSync(config, 'election:\n  expect: 5\ntasks:\n  claimTtlMs: 3000\n  renewIntervalMs: 1000\n');
    for (let i = 0; i < 5; i++) {
      ports.push(await freePort());
      const bootstrap = daemons.map((d, j) => `/ip4/127.0.0.1/tcp/${ports[j]}/p2p/${idOf(d)}`);
      daemons.push(
        await Daemon.start({
          config,
          listen: `/ip4/127.0.0.1/tcp/${ports[i]}`,
          bootstrap,
          env: { CHORUS_AGENT_NAME: `agent-${i}` },
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
  });
  after(cleanup);

  test('20 tasks, 5 claimers racing on each: exactly one winner each; every node lists the same board', async () => {
    const created: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await json<{ task: Task }>(daemons[i % 5] as Daemon, [
        'task',
        'create',
        `race ${i}`,
        '--project',
        'e2e',
      ]);
      created.push(r.task.id);
    }
    const results: RunResult[][] = [];
    for (const id of created)
      results.push(await Promise.all(daemons.map((d) => d.cli(['task', 'claim', id, '--json']))));
    created.forEach((id, i) => {
      const runs = results[i] ?? [];
      const winners = runs.filter((r) => r.code === 0);
      assert.equal(winners.length, 1, `${id}: ${runs.map((r) => `${r.code} ${r.stderr.trim()}`).join(' | ')}`);
      const owner = (JSON.parse(winners[0]?.stdout ?? '{}') as { task: Task }).task.claim?.owner.agent;
      for (const r of runs.filter((x) => x.code !== 0)) {
        assert.equal(r.code, 1);
        assert.match(r.stderr, new RegExp(`already claimed by ${owner}`));
        assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
      }
    });
    let last = '';
    const boards = await until(
      'every node lists the same 20 claimed tasks',
      async () => {
        const all = await Promise.all(daemons.map((d) => json<Task[]>(d, ['task', 'ls', '--project', 'e2e'])));
        // claims are renewed all the time (their expiry moves); who owns what must agree everywhere
        const views = all.map((tasks) =>
          JSON.stringify(tasks.map((t) => [t.id, t.state, t.claim?.owner, t.claim?.token, t.history.length])),
        );
        const tasks = all[0] ?? [];
        last = `${views.filter((v) => v === views[0]).length} of 5 agree; states ${tasks.map((t) => t.state).join(',')}`;
        return views.every((v) => v === views[0]) && tasks.length === 20 && tasks.every((t) => t.state === 'claimed')
          ? tasks
          : undefined;
      },
      { timeoutMs: 15_000 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${last}`);
    });
    assert.equal(new Set(boards.map((t) => t.id)).size, 20);
  });

  test('kill -9 an owner: its task reopens after the TTL, another agent completes it, the old owner is refused', async () => {
    const [a, b] = [daemons[1] as Daemon, daemons[2] as Daemon];
    const { task } = await json<{ task: Task }>(a, ['task', 'create', 'survive a crash']);
    const claimed = await json<{ task: Task; token: string }>(a, ['task', 'claim', task.id]);
    await until('the claim is renewed by its node', async () => {
      const t = await json<Task>(b, ['task', 'show', task.id]);
      return (t.claim?.expiresAt ?? 0) > (claimed.task.claim?.expiresAt ?? 0);
    });
    await a.kill(); // SIGKILL: no release, no renewals
    const reopened = await until(
      'the task reopens after the claim TTL',
      async () => {
        const t = await json<Task>(b, ['task', 'show', task.id]);
        return t.state === 'open' ? t : undefined;
      },
      { timeoutMs: 20_000 },
    );
    assert.match(reopened.lastFailure ?? '', /expired/);
    const mine = await json<{ task: Task; token: string }>(b, ['task', 'claim', task.id]);
    assert.equal(mine.task.attempt, 2);
    // the old owner (its agent name, its token) comes back too late
    const late = await b.cli([
      'task',
      'complete',
      task.id,
      '--token',
      claimed.token,
      '--as',
      'agent-1',
      '--result-address',
      'ucxl://agent-1:developer@default:t-1/*^/late.md',
    ]);
    assert.equal(late.code, 1, late.stderr);
    assert.match(late.stderr, /claim expired|not the owner/);
    const done = await json<{ task: Task }>(b, [
      'task',
      'complete',
      task.id,
      '--result-address',
      `ucxl://agent-2:developer@default:${task.id}/*^/result.md`,
    ]);
    assert.equal(done.task.state, 'completed');
    daemons.splice(1, 1); // the killed node is gone
  });

  test('a dependent task is blocked until its dependency completes; a result file becomes a decision', async () => {
    const [x, y] = [daemons[0] as Daemon, daemons[3] as Daemon];
    const first = await json<{ task: Task }>(x, ['task', 'create', 'schema']);
    const second = await json<{ task: Task }>(y, ['task', 'create', 'migration', '--depends-on', first.task.id]);
    assert.equal(second.task.state, 'blocked');
    const refused = await y.cli(['task', 'claim', second.task.id]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`${second.task.id} is blocked by ${first.task.id} \\(depends_on\\)`));
    const shown = await y.cli(['task', 'show', second.task.id]);
    assert.match(shown.stdout, /blocked by:\s+t-\d+ \(depends_on\)/);
    await json(x, ['task', 'claim', first.task.id]);
    const result = join(tempDir(), 'result.md');
    writeFileSync(result, '# schema\nthree tables\n');
    const done = await json<{ task: Task }>(x, ['task', 'complete', first.task.id, '--result', `@${result}`]);
    assert.match(done.task.result ?? '', /^ucxl:\/\/agent-0:developer@default:t-\d+\/\*~1\/result\.md$/);
    // the result is a decision of the cluster: the writer and another node of the role both read it
    for (const reader of [x, y]) {
      const read = await reader.cli(['ucxl', 'get', done.task.result as string]);
      assert.equal(read.code, 0, read.stderr);
      assert.equal(read.stdout, '# schema\nthree tables\n');
    }
    await until(
      'the dependent opens',
      async () => (await json<Task>(y, ['task', 'show', second.task.id])).state === 'open',
    );
  });

  test('bad input exits 2 with one line; an unknown task exits 1', async () => {
    const d = daemons[0] as Daemon;
    const unknown = await d.cli(['task', 'show', 't-999']);
    assert.deepEqual([unknown.code, unknown.stderr.trim()], [1, 'chorus: no task t-999']);
    const badId = await d.cli(['task', 'claim', 'nonsense']);
    assert.equal(badId.code, 2);
    const big = join(tempDir(), 'big.txt');
    writeFileSync(big, 'x'.repeat(70_000));
    const tooBig = await d.cli(['task', 'create', 'big', '--description', `@${big}`]);
    assert.equal(tooBig.code, 2);
    assert.match(tooBig.stderr, /over the limit of 65536 bytes/);
    const open = await json<{ task: Task }>(d, ['task', 'create', 'still open']);
    const wrongState = await d.cli(['task', 'complete', open.task.id, '--result-address', 'ucxl://a:b@c:d/*^/x']);
    assert.equal(wrongState.code, 1);
    assert.match(wrongState.stderr, new RegExp(`${open.task.id} is open, not claimed`));
    const badPriority = await d.cli(['task', 'create', 'x', '--priority', 'asap']);
    assert.equal(badPriority.code, 2);
  });
});
