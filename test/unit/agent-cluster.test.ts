// The agent on a 3-node cluster of real nodes in one process, through a node's control socket: a task
// created on another node is done by an exec process and completed with a result decision the creator
// reads; a secret in the provider's output is redacted in the result and in the log, each redaction
// audited in the node's event log; the agent is announced through COOEE (peers see its provider, the
// election score counts it) and gone when it stops; the prompt carries the task's context and its
// dependency's result, and notes what the node may not read; a provider that always fails ends with
// the task escalated after tasks.maxAttempts.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Agent } from '../../src/core/agent/agent.ts';
import { prepareAgent } from '../../src/core/agent/start.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import type { TaskEvent } from '../../src/core/tasks/machine.ts';
import type { Task } from '../../src/core/tasks/model.ts';
import { parseAddress } from '../../src/core/ucxl/address.ts';
import { keptLogger } from '../helpers/agent.ts';
import { connectAll, electionAgreed, FAST_ELECTION, startWithConfig, stopAll, testConfig } from '../helpers/cluster.ts';
import { nextEvent } from '../helpers/events.ts';
import { until } from '../helpers/poll.ts';

const SECRET = 'AKIAIOSFODNN7EXAMPLE';

/** What the exec process does, by the task's title. */
const WORK = `
case "$CHORUS_TASK_TITLE" in
  secret*) echo "done $CHORUS_TASK_ID with key ${SECRET}"; echo "debug: using ${SECRET}" >&2 ;;
  prompt*) cat ;;
  fail*) cat > /dev/null; echo "cannot do it" >&2; exit 1 ;;
  *) echo "done $CHORUS_TASK_ID" ;;
esac`;

/** The shared deadline poll, on a quicker interval. */
const eventually = <T>(what: string, probe: () => T | undefined | false, timeoutMs = 15_000): Promise<T> =>
  until(what, probe, { timeoutMs, intervalMs: 50 });

/** Resolves with the task once it reaches a state on a node. */
function reaches(node: ChorusNode, id: string, state: Task['state'], timeoutMs = 20_000): Promise<Task> {
  const now = node.tasks.machine.get(id);
  if (now?.state === state) return Promise.resolve(now);
  return nextEvent<TaskEvent>(node.tasks, 'event', (e) => e.task.id === id && e.task.state === state, timeoutMs).then(
    (e) => e.task,
  );
}

describe('an agent on a 3-node cluster', () => {
  const nodes: ChorusNode[] = [];
  let agent: Agent;
  let running: Promise<unknown>;
  const stop = new AbortController();
  const log = keptLogger();

  before(async () => {
    const keyring = join(mkdtempSync(join(tmpdir(), 'chorus-keys-')), 'keyring.json');
    for (let i = 0; i < 3; i++) {
      const config = testConfig({
        election: { expect: 3, ...FAST_ELECTION },
        tasks: { claimTtlMs: 2000, renewIntervalMs: 400, maxAttempts: 3, requestTimeoutMs: 8000 },
        agent: { name: `node-${i}`, role: i === 2 ? 'architect' : 'developer' },
        keys: { keyring }, // one keyring: a decision written on one node is read on another
      });
      nodes.push(await startWithConfig(config, {}, undefined, { api: true }));
    }
    await connectAll(nodes);
    await electionAgreed(nodes);
    const base = nodes[0]!.config;
    agent = await prepareAgent({
      config: {
        ...base,
        agent: { ...base.agent, name: 'worker', command: ['sh', '-c', WORK], progressIntervalMs: 300 },
      },
      logger: log.logger,
      signal: AbortSignal.timeout(10_000),
    });
    running = agent.run(stop.signal);
  });
  after(async () => {
    stop.abort();
    await running;
    await stopAll(nodes);
  });

  test('COOEE: peers see the agent’s provider; the election score counts it', async () => {
    const [a, , c] = nodes as [ChorusNode, ChorusNode, ChorusNode];
    const seen = await eventually('node 2 to see the agent', () => {
      const p = c.presence.peer(a.peerId);
      return p?.agents?.length ? p : undefined;
    });
    assert.deepEqual(seen.agents, [{ name: 'worker', provider: 'exec', max_concurrent: 1 }]);
    assert.ok(seen.capabilities.includes('provider:exec'), seen.capabilities.join(','));
    await eventually('the score to count the capability', () => a.election.score().capabilities > 0);
  });

  test('a task from another node is done and completed with a result decision the creator reads; secrets redacted and audited', async () => {
    const [a, , c] = nodes as [ChorusNode, ChorusNode, ChorusNode];
    const { task } = await c.tasks.create({ title: 'secret report', project: 'core' });
    const done = await reaches(c, task.id, 'completed');
    assert.match(done.result ?? '', new RegExp(`^ucxl://worker:developer@core:${task.id}/\\*~1/result\\.md$`));
    assert.equal(done.attempt, 1);
    const read = await c.decisions.get(parseAddress(done.result as string), AbortSignal.timeout(10_000));
    const text = Buffer.from(read.content).toString();
    assert.equal(text, `done ${task.id} with key [REDACTED:aws-access-key-id]\n`);
    assert.deepEqual([...read.meta.roles].sort(), ['architect', 'developer'], 'the creator’s role and the writer’s');
    const audits = await eventually('the audit records', () => {
      const list = a.eventLog
        .tail(1000)
        .filter((e) => e.type === 'shhh_redaction')
        .map((e) => e.data as Record<string, unknown>)
        .filter((d) => d.task === task.id && d.source === 'agent');
      return list.length >= 2 && list;
    });
    const where = new Set(audits.map((d) => d.location));
    assert.ok(where.has('result') && where.has('log'), [...where].join(',')); // and 'progress' when a report went out
    for (const d of audits) {
      assert.equal(d.rule, 'aws-access-key-id');
      assert.match(String(d.sha256), /^[0-9a-f]{64}$/);
      assert.equal(d.agent, 'worker');
    }
    await eventually('the stderr line in the log', () =>
      log.lines.some((l) => l.includes('debug: using [REDACTED:aws-access-key-id]')),
    );
    for (const l of log.lines) assert.ok(!l.includes(SECRET), `the secret reached the log: ${l}`);
    for (const e of a.eventLog.tail(1000)) assert.ok(!JSON.stringify(e.data).includes(SECRET));
  });

  test('the prompt carries the dependency’s result and the context the node may read; the rest is noted', async () => {
    const [a, b, c] = nodes as [ChorusNode, ChorusNode, ChorusNode];
    const design = 'ucxl://carol:architect@core:t-0/*^/design.md';
    const secret = 'ucxl://root:admin@core:t-0/*^/keys.md';
    await b.decisions.put(parseAddress(design), Buffer.from('Use a Pratt parser.'), { roles: ['developer'] });
    await b.decisions.put(parseAddress(secret), Buffer.from('root password'), { roles: ['admin'] });
    const first = (await c.tasks.create({ title: 'secret lexer', project: 'core' })).task;
    const second = (
      await c.tasks.create({
        title: 'prompt parser',
        project: 'core',
        dependsOn: [first.id],
        context: [design, secret],
      })
    ).task;
    assert.equal(second.state, 'blocked');
    const done = await reaches(c, second.id, 'completed');
    const prompt = Buffer.from((await c.decisions.get(parseAddress(done.result as string))).content).toString();
    assert.match(prompt, /software developer agent/, 'the developer persona');
    assert.match(prompt, new RegExp(`# Task ${second.id}: prompt parser`));
    assert.match(prompt, /## Context \(decisions named by the task\)\n\n### ucxl:\/\/carol.*\n\nUse a Pratt parser\./);
    assert.match(
      prompt,
      new RegExp(
        `### ${first.id} — secret lexer \\(ucxl://worker:developer@core:${first.id}/\\*~1/result\\.md\\)\\n\\ndone ${first.id} with key \\[REDACTED`,
      ),
    );
    assert.match(
      prompt,
      /## Left out\n\n- ucxl:\/\/root:admin@core:t-0\/\*\^\/keys\.md: not readable with this node’s role keys/,
    );
    assert.ok(!prompt.includes('root password'));
    assert.ok(
      log.lines.some((l) => /context left out .*keys\.md/.test(l)),
      'noted in the log too',
    );
    void a;
  });

  test('a provider that always fails: the task ends escalated after tasks.maxAttempts', async () => {
    const c = nodes[2] as ChorusNode;
    const { task } = await c.tasks.create({ title: 'fail always', project: 'core' });
    const escalated = await reaches(c, task.id, 'escalated', 30_000);
    assert.equal(escalated.failures, 3);
    assert.equal(escalated.attempt, 3);
    assert.match(escalated.lastFailure ?? '', /^exec sh exited with code 1: cannot do it$/);
    assert.match(escalated.escalation?.reason ?? '', /failed 3 times/);
  });

  test('when the agent stops, peers no longer see it', async () => {
    const [a, , c] = nodes as [ChorusNode, ChorusNode, ChorusNode];
    stop.abort();
    const summary = await running;
    assert.deepEqual(summary, { completed: 3, failed: 3, givenBack: 0, lost: 0 });
    await eventually('node 2 to forget the agent', () => c.presence.peer(a.peerId)?.agents?.length === 0);
    assert.ok(!c.presence.peer(a.peerId)?.capabilities.includes('provider:exec'));
  });
});
