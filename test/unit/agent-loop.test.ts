// The agent loop against an in-memory node (FakeApi) and real exec processes: at most maxConcurrent
// tasks at once; progress reports carry bytes, the last line and a percent; Ctrl-C/SIGTERM lets running
// tasks finish within the grace period and gives the others back ("agent stopped", requeued); the
// per-task timeout fails the task; an unreachable provider gives the task back and pauses the agent
// (it keeps running); a lost claim stops the work without completing; work dirs are removed unless kept.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Agent, AGENT_STOPPED, SETTLE_ON_STOP_MS } from '../../src/core/agent/agent.ts';
import { ExecProvider } from '../../src/core/agent/exec.ts';
import { ProviderError, type Provider } from '../../src/core/agent/provider.ts';
import { ChorusError } from '../../src/core/errors.ts';
import { agentOptions, FakeApi, fixtureTask, keptLogger } from '../helpers/agent.ts';
import { nextEvent } from '../helpers/events.ts';

const open = (n: number, title = 'job') =>
  Array.from({ length: n }, (_, i) => fixtureTask({ id: `t-${i + 1}`, title: `${title} ${i + 1}`, state: 'open' }));

const exec = (sh: string) => new ExecProvider({ command: ['sh', '-c', sh], outputCapBytes: 65_536 });

function start(agent: Agent) {
  const stop = new AbortController();
  const done = agent.run(stop.signal);
  return { stop: () => (stop.abort(), done), done };
}

describe('agent loop', () => {
  test('never more than maxConcurrent at once; every task completed once with its output', async () => {
    const api = new FakeApi(open(5));
    const { logger } = keptLogger();
    const agent = new Agent(
      agentOptions(api, exec('sleep 0.2; echo "did $CHORUS_TASK_ID"'), logger, { maxConcurrent: 2 }),
    );
    let now = 0;
    let peak = 0;
    agent.on('started', () => (peak = Math.max(peak, ++now)));
    agent.on('ended', () => now--);
    const run = start(agent);
    for (let i = 1; i <= 5; i++) await api.called('complete', `t-${i}`);
    const summary = await run.stop();
    assert.equal(peak, 2);
    assert.deepEqual(summary, { completed: 5, failed: 0, givenBack: 0, lost: 0 });
    const completes = api.calls.filter((c) => c.op === 'complete');
    assert.equal(completes.length, 5);
    for (const c of completes) assert.equal(c.body?.content, `did ${c.id}\n`);
  });

  test('a node that lags behind: a claim it answers again with the same token is not run twice', async () => {
    const api = new FakeApi(open(1));
    api.stale = true; // the task keeps looking open; claiming it again returns the held claim
    const { logger } = keptLogger();
    const agent = new Agent(agentOptions(api, exec('echo once'), logger, { pollMs: 50 }));
    let starts = 0;
    agent.on('started', () => starts++);
    const run = start(agent);
    await api.called('complete', 't-1');
    await run.stop();
    assert.equal(starts, 1);
    assert.equal(api.calls.filter((c) => c.op === 'complete').length, 1);
  });

  test('a node that restarted with another log: the agent stops asking for its old index and goes on', async () => {
    const api = new FakeApi(open(1));
    const { logger } = keptLogger();
    const agent = new Agent(agentOptions(api, exec('echo ok'), logger, { pollMs: 50 }));
    const run = start(agent);
    await api.called('complete', 't-1'); // the agent has seen index 2
    api.applied = 0;
    api.tasks.push(fixtureTask({ id: 't-2', state: 'open' }));
    await api.called('complete', 't-2');
    await run.stop();
  });

  test('progress reports: bytes, the last line and a percent; they renew the claim', async () => {
    const api = new FakeApi(open(1));
    const { logger } = keptLogger();
    const sh = 'echo "step one"; echo "CHORUS_PROGRESS 50" >&2; sleep 0.8; echo "step two"; sleep 0.5';
    const agent = new Agent(agentOptions(api, exec(sh), logger, { progressIntervalMs: 200 }));
    const run = start(agent);
    await api.called('complete', 't-1');
    await run.stop();
    const reports = api.calls
      .filter((c) => c.op === 'progress')
      .map((c) => c.body as { note: string; percent?: number });
    assert.ok(
      reports.some((r) => r.note === '9 bytes; last: step one' && r.percent === 50),
      JSON.stringify(reports),
    );
    assert.ok(
      reports.some((r) => r.note === '18 bytes; last: step two'),
      JSON.stringify(reports),
    );
  });

  test('stopping: a task that finishes within the grace period is completed, one that does not is given back', async () => {
    const api = new FakeApi([
      fixtureTask({ id: 't-1', title: 'quick', state: 'open' }),
      fixtureTask({ id: 't-2', title: 'slow', state: 'open' }),
    ]);
    const { logger, lines } = keptLogger();
    const sh = 'if [ "$CHORUS_TASK_TITLE" = quick ]; then sleep 0.3; else sleep 30; fi; echo ok';
    const agent = new Agent(agentOptions(api, exec(sh), logger, { maxConcurrent: 2, gracePeriodMs: 1500 }));
    const slowStarted = nextEvent(agent, 'started', (e: { task: { id: string } }) => e.task.id === 't-2');
    const run = start(agent);
    await slowStarted;
    const t0 = performance.now();
    const summary = await run.stop();
    const took = performance.now() - t0;
    assert.ok(took >= 1400 && took < 6000, `stopped after the grace period (${Math.round(took)} ms)`);
    assert.ok(
      api.calls.some((c) => c.op === 'complete' && c.id === 't-1'),
      'the quick task finished',
    );
    const back = api.calls.find((c) => c.op === 'fail' && c.id === 't-2');
    assert.deepEqual(back?.body, { reason: AGENT_STOPPED, requeue: true });
    assert.equal(api.calls.filter((c) => c.op === 'claim').length, 2, 'no new claims while stopping');
    assert.deepEqual(summary, { completed: 1, failed: 0, givenBack: 1, lost: 0 });
    assert.ok(lines.some((l) => /giving a task back task=t-2/.test(l)));
  });

  test('stopping: a provider that ends badly meanwhile (signalled with the agent) gives the task back', async () => {
    const killed = Promise.withResolvers<never>();
    const running = Promise.withResolvers<void>();
    const provider: Provider = {
      name: 'stub',
      check: async () => {},
      run: () => {
        running.resolve();
        return killed.promise;
      },
    };
    const api = new FakeApi(open(1));
    const { logger } = keptLogger();
    const agent = new Agent(agentOptions(api, provider, logger, { gracePeriodMs: 5000 }));
    const run = start(agent);
    await running.promise;
    const stopping = run.stop();
    // a service manager signalled the provider's process too: it exits on its own, within the grace
    killed.reject(new ProviderError('failed', 'exec claude was killed by SIGTERM'));
    assert.deepEqual(await stopping, { completed: 0, failed: 0, givenBack: 1, lost: 0 });
    assert.deepEqual(api.calls.find((c) => c.op === 'fail')?.body, { reason: AGENT_STOPPED, requeue: true });
  });

  test('stopping: a node that never answers cannot hold the stop past the grace period and the settle limit', async () => {
    const api = new FakeApi(open(1));
    api.failHangs = true;
    const { logger, lines } = keptLogger();
    const agent = new Agent(agentOptions(api, exec('sleep 30'), logger, { gracePeriodMs: 200 }));
    const started = nextEvent(agent, 'started');
    const run = start(agent);
    await started;
    const t0 = performance.now();
    await run.stop();
    const took = performance.now() - t0;
    assert.ok(took < 200 + SETTLE_ON_STOP_MS + 2000, `stopped after ${Math.round(took)} ms`);
    assert.ok(took >= SETTLE_ON_STOP_MS, 'it did wait for the node');
    await api.called('fail', 't-1');
    assert.ok(lines.some((l) => /stopped before every task was settled/.test(l)));
  });

  test('the per-task timeout fails the task (counted), and the next one is taken', async () => {
    const api = new FakeApi(open(2));
    const { logger } = keptLogger();
    const sh = 'if [ "$CHORUS_TASK_ID" = t-1 ]; then sleep 30; fi; echo fine';
    const agent = new Agent(agentOptions(api, exec(sh), logger, { taskTimeoutMs: 400 }));
    const run = start(agent);
    const failed = await api.called('fail', 't-1');
    await api.called('complete', 't-2');
    await run.stop();
    assert.equal(failed.body?.requeue, false);
    assert.match(String(failed.body?.reason), /timed out after 400 ms/);
  });

  test('an unreachable provider: the task is given back, the agent pauses (backoff) and keeps running', async () => {
    let calls = 0;
    const flaky: Provider = {
      name: 'flaky',
      check: async () => {},
      run: async () => {
        calls++;
        if (calls <= 2) throw new ProviderError('unreachable', 'ollama could not be reached at http://x: ECONNREFUSED');
        return { output: 'finally', bytes: 7, truncated: false };
      },
    };
    const api = new FakeApi(open(1));
    const { logger } = keptLogger();
    const agent = new Agent(agentOptions(api, flaky, logger, { backoffMs: 300 }));
    const pauses: number[] = [];
    agent.on('backoff', (e) => pauses.push(e.ms));
    const run = start(agent);
    const done = await api.called('complete', 't-1');
    await run.stop();
    assert.equal(done.body?.content, 'finally');
    const fails = api.calls.filter((c) => c.op === 'fail');
    assert.equal(fails.length, 2);
    for (const f of fails) {
      assert.equal(f.body?.requeue, true, 'not the task’s fault: no failure counted');
      assert.match(String(f.body?.reason), /could not be reached/);
    }
    assert.deepEqual(pauses, [300, 600], 'the pause doubles');
    const claims = api.calls.filter((c) => c.op === 'claim').length;
    assert.equal(claims, 3);
  });

  test('a lost claim stops the work; nothing is completed or failed for it', async () => {
    const api = new FakeApi(open(1));
    api.renewError = new ChorusError('CLAIM_EXPIRED', 'claim expired: t-1 is open');
    const { logger } = keptLogger();
    const agent = new Agent(agentOptions(api, exec('sleep 30'), logger, { progressIntervalMs: 100 }));
    const settled = nextEvent<{ outcome: string }>(agent, 'settled');
    const run = start(agent);
    assert.equal((await settled).outcome, 'lost');
    const summary = await run.stop();
    assert.equal(summary.lost, 1);
    assert.ok(!api.calls.some((c) => c.op === 'complete' || c.op === 'fail'));
  });

  test('each task runs in a fresh directory, removed afterwards unless kept', async () => {
    for (const keep of [false, true]) {
      const api = new FakeApi(open(2));
      const { logger } = keptLogger();
      const opts = agentOptions(api, exec('pwd; touch made-here'), logger, { keep });
      const agent = new Agent(opts);
      const run = start(agent);
      const a = await api.called('complete', 't-1');
      const b = await api.called('complete', 't-2');
      await run.stop();
      const [da, db] = [String(a.body?.content).trim(), String(b.body?.content).trim()];
      assert.notEqual(da, db, 'one directory per task');
      assert.equal(existsSync(da), keep);
      assert.equal(readdirSync(opts.workRoot).length, keep ? 2 : 0);
    }
  });
});
