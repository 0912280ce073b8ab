// Tasks on real libp2p nodes in one process (3 voters, election links that can be cut): a task created
// on a follower reaches every node; claims racing from every node have exactly one winner, also while
// the leader is killed; a minority cut off cannot claim; claims the node holds are renewed; a node that
// dies loses its claims after the TTL; the board survives a restart of every node.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChorusError } from '../../src/core/errors.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import type { ReceivedMessage } from '../../src/core/pubsub/pubsub.ts';
import { TOPICS, topicFor } from '../../src/core/pubsub/topics.ts';
import type { LogEntry } from '../../src/core/election/consensus-log.ts';
import type { TaskEvent } from '../../src/core/tasks/machine.ts';
import type { Task } from '../../src/core/tasks/model.ts';
import {
  connectAll,
  cutElection,
  electionAgreed,
  FAST_ELECTION,
  healElection,
  killNode,
  startCluster,
  startWithConfig,
  stopAll,
} from '../helpers/cluster.ts';
import { nextEvent } from '../helpers/events.ts';

const TASKS = { claimTtlMs: 1500, renewIntervalMs: 300, maxAttempts: 3, requestTimeoutMs: 8000 };
const config = (i: number) => ({
  election: { expect: 3, ...FAST_ELECTION },
  tasks: TASKS,
  agent: { name: `agent-${i}` },
});

/** Resolves once every node applied the log up to `index`. */
async function everywhere(nodes: ChorusNode[], index: number): Promise<void> {
  await Promise.all(nodes.map((n) => n.tasks.caughtUp(index, AbortSignal.timeout(10_000))));
}

/** Resolves when a task reaches a state on a node (by the committed events, or already there). */
function reaches(node: ChorusNode, id: string, state: Task['state'], timeoutMs = 15_000): Promise<unknown> {
  if (node.tasks.get(id).state === state) return Promise.resolve();
  return nextEvent<TaskEvent>(node.tasks, 'event', (e) => e.task.id === id && e.task.state === state, timeoutMs);
}

const codeOf = (err: unknown): string => (err instanceof ChorusError ? err.code : String(err));

describe('tasks on a 3-voter cluster of real nodes', () => {
  let nodes: ChorusNode[] = [];
  before(async () => {
    nodes = await startCluster(3, { config });
    await electionAgreed(nodes);
  });
  after(() => stopAll(nodes));

  const leaderOf = (ns: ChorusNode[]): ChorusNode => ns.find((n) => n.election.raft.state === 'leader') as ChorusNode;
  const followers = (ns: ChorusNode[]): ChorusNode[] => ns.filter((n) => n.election.raft.state !== 'leader');

  test('a task created on a follower is committed through the leader and shown by every node', async () => {
    const follower = followers(nodes)[0] as ChorusNode;
    const { task, index } = await follower.tasks.create({ title: 'wire the API', project: 'core', priority: 'high' });
    assert.match(task.id, /^t-\d+$/);
    await everywhere(nodes, index);
    for (const n of nodes) assert.deepEqual(n.tasks.get(task.id), task, `${n.peerId} shows the same record`);
    assert.equal(task.createdBy.agent, follower.config.agent.name);
    assert.equal(task.createdBy.node, follower.peerId, 'the creator is the node that forwarded it');
  });

  test('claims racing from every node: exactly one wins, the others are told who holds it', async () => {
    const { task, index } = await nodes[0]!.tasks.create({ title: 'contended' });
    await everywhere(nodes, index);
    const attempts = nodes.flatMap((n) => [
      n.tasks.claim(task.id, { agent: `${n.config.agent.name}-x`, hold: 'client' }),
      n.tasks.claim(task.id, { agent: `${n.config.agent.name}-y`, hold: 'client' }),
    ]);
    const results = await Promise.allSettled(attempts);
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1, 'exactly one claim succeeded');
    const winner = (won[0] as PromiseFulfilledResult<{ task: Task }>).value.task.claim?.owner.agent as string;
    for (const r of results) {
      if (r.status === 'rejected') {
        assert.equal(codeOf(r.reason), 'ALREADY_CLAIMED');
        assert.match((r.reason as Error).message, new RegExp(`already claimed by ${winner}`));
      }
    }
  });

  test('claims racing while the leader is killed: one winner, and every survivor agrees on it', async () => {
    const leader = leaderOf(nodes);
    const survivors = nodes.filter((n) => n !== leader);
    const { task, index } = await survivors[0]!.tasks.create({ title: 'during a leader change' });
    await everywhere(nodes, index);
    const attempts = survivors.map((n) => n.tasks.claim(task.id, { hold: 'client' }));
    await killNode(leader);
    const results = await Promise.allSettled(attempts);
    const won = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{
      task: Task;
      index: number;
    }>[];
    assert.equal(
      won.length,
      1,
      `one winner: ${results.map((r) => (r.status === 'fulfilled' ? 'won' : codeOf(r.reason))).join(', ')}`,
    );
    await electionAgreed(survivors);
    await everywhere(survivors, won[0]!.value.index);
    for (const n of survivors)
      assert.equal(n.tasks.get(task.id).claim?.owner.agent, won[0]!.value.task.claim?.owner.agent);
    // the killed node comes back from its data dir and catches up
    const back = await startWithConfig(leader.config);
    nodes = [...survivors, back];
    await connectAll(nodes);
    await electionAgreed(nodes);
    await back.tasks.caughtUp(won[0]!.value.index, AbortSignal.timeout(10_000));
    assert.equal(back.tasks.get(task.id).state, 'claimed');
  });

  test('a node cut off from the majority cannot claim; the majority can; after healing all agree', async () => {
    const { task, index } = await nodes[0]!.tasks.create({ title: 'partitioned' });
    await everywhere(nodes, index);
    const minority = followers(nodes)[0] as ChorusNode;
    const majority = nodes.filter((n) => n !== minority);
    cutElection([[minority], majority]);
    try {
      await assert.rejects(
        minority.tasks.claim(task.id, { hold: 'client', signal: AbortSignal.timeout(2500) }),
        (err: unknown) => codeOf(err) === 'NOT_COMMITTED',
      );
      const won = await majority[0]!.tasks.claim(task.id, { hold: 'client' });
      assert.equal(won.task.state, 'claimed');
      healElection(nodes);
      await electionAgreed(nodes);
      await minority.tasks.caughtUp(won.index, AbortSignal.timeout(10_000));
      assert.equal(minority.tasks.get(task.id).claim?.owner.node, majority[0]!.peerId);
    } finally {
      healElection(nodes);
    }
  });

  test('a node renews the claims it holds; when it dies the task reopens after the TTL and another completes it', async () => {
    const [holder, other] = followers(nodes) as [ChorusNode, ChorusNode];
    const { task, index } = await holder.tasks.create({ title: 'long job' });
    await everywhere(nodes, index);
    const claimed = await holder.tasks.claim(task.id); // held by the node: it renews
    await nextEvent<LogEntry>(
      holder.election.log,
      'applied',
      (e) => {
        const d = e.data as { op?: string; task?: string } | null;
        return d?.op === 'renew' && d.task === task.id;
      },
      5000,
    );
    assert.equal(holder.tasks.get(task.id).state, 'claimed', 'still claimed after renewals');
    const rest = nodes.filter((n) => n !== holder);
    await killNode(holder);
    await electionAgreed(rest);
    await reaches(other, task.id, 'open');
    const reopened = other.tasks.get(task.id);
    assert.equal(reopened.failures, 1);
    assert.match(reopened.lastFailure ?? '', /expired/);
    const { token } = await other.tasks.claim(task.id, { hold: 'client' });
    assert.equal(token.endsWith('.2'), true, 'the second attempt');
    // the old owner's late completion is refused
    await assert.rejects(
      other.tasks.complete(task.id, {
        token: claimed.token,
        agent: holder.config.agent.name,
        result: 'ucxl://a:b@c:d/*^/late',
      }),
      (err: unknown) => ['CLAIM_EXPIRED', 'NOT_OWNER'].includes(codeOf(err)),
    );
    const done = await other.tasks.complete(task.id, {
      token,
      result: `ucxl://x:developer@default:${task.id}/*^/result.md`,
    });
    assert.equal(done.task.state, 'completed');
    const back = await startWithConfig(holder.config);
    nodes = [...rest, back];
    await connectAll(nodes);
    await electionAgreed(nodes);
  });

  test('every transition is published as the seed’s messages and written to every node’s event log', async () => {
    const leader = leaderOf(nodes);
    const listener = followers(nodes)[0] as ChorusNode;
    const project = 'notify';
    listener.pubsub.join(topicFor.project(project));
    await leader.pubsub.waitForSubscribers(topicFor.project(project), undefined, 10_000, 1);
    const seen: ReceivedMessage[] = [];
    const collect = (m: ReceivedMessage): void => {
      if (m.envelope?.data.project === project) seen.push(m);
    };
    listener.pubsub.on('message', collect);
    try {
      const { task } = await listener.tasks.create({ title: 'announce me', project });
      const { token } = await listener.tasks.claim(task.id, { hold: 'client' });
      await listener.tasks.progress(task.id, { token, percent: 50, note: 'halfway' });
      const done = await listener.tasks.complete(task.id, {
        token,
        result: `ucxl://a:developer@${project}:${task.id}/*^/r`,
      });
      const want: string[] = ['TaskAnnouncement', 'TaskClaim', 'TaskProgress', 'TaskComplete'];
      const topics = [TOPICS.coordination, topicFor.project(project)];
      const arrived = (topic: string): string[] =>
        seen.filter((m) => m.topic === topic).map((m) => m.envelope?.type as string);
      const complete = (): boolean => topics.every((topic) => want.every((t) => arrived(topic).includes(t)));
      if (!complete()) await nextEvent(listener.pubsub, 'message', complete, 10_000).catch(() => {});
      for (const topic of topics) assert.deepEqual(arrived(topic), want, `the messages on ${topic}`);
      for (const m of seen) assert.equal(m.envelope?.data.task_id, task.id);
      await everywhere(nodes, done.index);
      for (const n of nodes) {
        n.recorder.flush();
        const logged = n.eventLog
          .tail(200)
          .filter((e) => e.type === 'task' && (e.data as { id?: string }).id === task.id)
          .map((e) => (e.data as { to?: string }).to);
        assert.deepEqual(logged, ['open', 'claimed', 'in_progress', 'completed'], `${n.peerId}’s event log`);
      }
    } finally {
      listener.pubsub.off('message', collect);
    }
  });

  test('the board survives a restart of every node', async () => {
    const { index } = await nodes[0]!.tasks.create({ title: 'durable', touches: ['src/**'] });
    await everywhere(nodes, index);
    const before = JSON.stringify(nodes[0]!.tasks.list());
    const configs = nodes.map((n) => n.config);
    await stopAll(nodes);
    nodes = [];
    for (const c of configs) nodes.push(await startWithConfig(c));
    for (const n of nodes)
      assert.equal(JSON.stringify(n.tasks.list()), before, 'restored from the log before any leader spoke');
    await connectAll(nodes);
    await electionAgreed(nodes);
  });
});
