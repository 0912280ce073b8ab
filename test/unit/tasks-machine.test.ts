// The task state machine and the dependency rules on their own: every transition, the ownership and
// fencing checks, retries answered from memory, lapsed claims, escalation, the four rules and cycle
// refusal — driven by log entries exactly as the consensus log applies them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LogEntry } from '../../src/core/election/consensus-log.ts';
import type { TaskCommand } from '../../src/core/tasks/commands.ts';
import { TaskMachine, type TaskEvent, type TaskResult } from '../../src/core/tasks/machine.ts';
import { parseTaskSpec, type Actor, type TaskSpecInput } from '../../src/core/tasks/model.ts';
import { globToRegExp, touchesOverlap } from '../../src/core/tasks/rules.ts';

const alice: Actor = { agent: 'alice', node: 'node-A', role: 'developer', expertise: ['go'], capabilities: ['gpu'] };
const bob: Actor = { agent: 'bob', node: 'node-B', role: 'developer', expertise: [], capabilities: [] };
const admin: Actor = { agent: 'root', node: 'node-C', role: 'admin' };

class Harness {
  readonly m = new TaskMachine();
  readonly events: TaskEvent[] = [];
  index = 0;
  term = 1;
  now = 1_000_000;
  private rid = 0;
  constructor() {
    this.m.onEvent((e) => this.events.push(e));
  }
  apply(cmd: Omit<TaskCommand, 'rid' | 'at'> & { rid?: string; at?: number }): TaskResult {
    const data = { rid: cmd.rid ?? `rid-${++this.rid}-xxxxxxxx`, at: cmd.at ?? this.now, ...cmd } as TaskCommand;
    const entry: LogEntry = { index: ++this.index, term: this.term, kind: 'tasks', data: structuredClone(data) };
    return this.m.apply(entry) as TaskResult;
  }
  create(spec: TaskSpecInput, actor: Actor = alice): string {
    const r = this.apply({ op: 'create', actor, spec: parseTaskSpec(spec), maxAttempts: 2 } as TaskCommand);
    assert.ok(r.ok, !r.ok ? r.message : '');
    return r.task.id;
  }
  claim(task: string, actor: Actor = alice, ttlMs = 1000): TaskResult {
    return this.apply({ op: 'claim', actor, task, ttlMs, hold: 'client' } as TaskCommand);
  }
  owner(
    task: string,
    op: 'renew' | 'complete' | 'fail' | 'progress',
    actor: Actor,
    token: string,
    extra = {},
  ): TaskResult {
    const fields =
      op === 'complete'
        ? { result: `ucxl://a:r@p:${task}/*^/result.md` }
        : op === 'fail'
          ? { reason: 'boom' }
          : { ttlMs: 1000 };
    return this.apply({ op, actor, task, token, ...fields, ...extra } as TaskCommand);
  }
}

const ok = (r: TaskResult): Extract<TaskResult, { ok: true }> => {
  assert.ok(r.ok, !r.ok ? `${r.code}: ${r.message}` : '');
  return r;
};
const refused = (r: TaskResult, code: string, message?: RegExp): void => {
  assert.equal(r.ok, false, 'refused');
  if (!r.ok) {
    assert.equal(r.code, code, r.message);
    if (message) assert.match(r.message, message);
  }
};

describe('task state machine', () => {
  test('create → claim → progress → complete, each transition in the history with term and actor', () => {
    const h = new Harness();
    const id = h.create({ title: 'write the parser', project: 'p1', priority: 'high' });
    assert.equal(id, 't-1');
    const { token } = ok(h.claim(id));
    assert.equal(token, '1.1');
    ok(h.owner(id, 'progress', alice, token as string, { percent: 40, note: 'halfway' }));
    ok(h.owner(id, 'progress', alice, token as string, { percent: 80 }));
    const done = ok(h.owner(id, 'complete', alice, token as string));
    assert.equal(done.task.state, 'completed');
    assert.equal(done.task.result, 'ucxl://a:r@p:t-1/*^/result.md');
    assert.deepEqual(
      done.task.history.map((t) => [t.state, t.term, t.actor]),
      [
        ['open', 1, 'alice@node-A'],
        ['claimed', 1, 'alice@node-A'],
        ['in_progress', 1, 'alice@node-A'],
        ['completed', 1, 'alice@node-A'],
      ],
    );
    assert.deepEqual(
      h.events.map((e) => (e.kind === 'transition' ? e.to : e.kind)),
      ['open', 'claimed', 'in_progress', 'progress', 'completed'],
    );
  });

  test('exactly one owner: the second claimer is told who holds it; a retried claim is answered from memory', () => {
    const h = new Harness();
    const id = h.create({ title: 'one owner' });
    const first = ok(
      h.apply({
        op: 'claim',
        actor: alice,
        task: id,
        ttlMs: 1000,
        hold: 'client',
        rid: 'same-request-1',
      } as TaskCommand),
    );
    refused(h.claim(id, bob), 'ALREADY_CLAIMED', /already claimed by alice/);
    const again = ok(
      h.apply({
        op: 'claim',
        actor: alice,
        task: id,
        ttlMs: 1000,
        hold: 'client',
        rid: 'same-request-1',
      } as TaskCommand),
    );
    assert.equal(again.token, first.token);
    assert.equal(again.task.attempt, 1, 'not applied twice');
    assert.equal(h.m.get(id)?.history.length, 2);
  });

  test('fencing: a paused old owner is refused once its claim lapsed and another agent claimed', () => {
    const h = new Harness();
    const id = h.create({ title: 'fenced' });
    const old = ok(h.claim(id, alice, 1000)).token as string;
    h.now += 1500; // alice is paused past her lease
    const fresh = ok(h.claim(id, bob, 1000)).token as string;
    assert.equal(h.m.get(id)?.failures, 1, 'the lapsed claim counted as a failed attempt');
    refused(h.owner(id, 'complete', alice, old), 'CLAIM_EXPIRED', /claim expired.*claimed again by bob/);
    refused(h.owner(id, 'progress', alice, fresh), 'NOT_OWNER', /not the owner of t-1 \(claimed by bob/);
    refused(h.owner(id, 'renew', bob, '1.9'), 'NOT_OWNER');
    ok(h.owner(id, 'complete', bob, fresh));
    refused(h.owner(id, 'complete', alice, old), 'CLAIM_EXPIRED', /t-1 is completed/);
    refused(h.owner(id, 'complete', bob, fresh), 'INVALID_STATE', /completed already/);
  });

  test('renewals keep a claim; a lapsed one reopens with the next attempt; failures escalate after maxAttempts', () => {
    const h = new Harness();
    const id = h.create({ title: 'flaky' });
    const t1 = ok(h.claim(id)).token as string;
    h.now += 800;
    ok(h.owner(id, 'renew', alice, t1));
    h.now += 800; // 1600 after the claim, 800 after the renewal
    ok(h.owner(id, 'renew', alice, t1));
    const t2 = h.owner(id, 'fail', alice, t1);
    assert.equal(ok(t2).task.state, 'open');
    assert.equal(h.m.get(id)?.attempt, 1);
    const t3 = ok(h.claim(id, bob)).token as string;
    assert.equal(t3, '1.2');
    const escalated = ok(h.owner(id, 'fail', bob, t3));
    assert.equal(escalated.task.state, 'escalated');
    assert.match(escalated.task.escalation?.reason ?? '', /failed 2 times; last: boom/);
    refused(h.claim(id), 'INVALID_STATE', /escalated/);
    // a human: reassign to bob (only bob may claim), or reopen
    ok(h.apply({ op: 'reassign', actor: admin, task: id, to: 'bob' } as TaskCommand));
    refused(h.claim(id, alice), 'NOT_ELIGIBLE', /assigned to bob/);
    ok(h.claim(id, bob));
  });

  test('a requeued failure (an agent that stops) does not count toward escalation', () => {
    const h = new Harness();
    const id = h.create({ title: 'stopped agent' });
    for (let i = 0; i < 5; i++) {
      const token = ok(h.claim(id)).token as string;
      assert.equal(
        ok(h.owner(id, 'fail', alice, token, { requeue: true, reason: 'agent stopped' })).task.state,
        'open',
      );
    }
    assert.equal(h.m.get(id)?.failures, 0);
  });

  test('a new leader’s entry extends live claims from its clock', () => {
    const h = new Harness();
    const id = h.create({ title: 'lease' });
    const token = ok(h.claim(id, alice, 1000)).token as string;
    h.m.onLeader({ index: ++h.index, term: 2, kind: 'leader', data: { at: h.now + 900 } });
    h.now += 1500;
    ok(h.owner(id, 'renew', alice, token));
  });

  test('deadlines escalate; cancel is for the creator’s node or an admin', () => {
    const h = new Harness();
    const deadline = new Date(h.now + 1000).toISOString();
    const id = h.create({ title: 'due', deadline });
    ok(h.apply({ op: 'deadline', actor: admin, task: id } as TaskCommand));
    assert.equal(h.m.get(id)?.state, 'open', 'not yet due');
    h.now += 2000;
    assert.equal(ok(h.apply({ op: 'deadline', actor: admin, task: id } as TaskCommand)).task.state, 'escalated');
    const other = h.create({ title: 'mine' }, alice);
    refused(h.apply({ op: 'cancel', actor: bob, task: other } as TaskCommand), 'FORBIDDEN');
    ok(h.apply({ op: 'cancel', actor: { ...alice, agent: 'alice-cli' }, task: other } as TaskCommand));
    refused(h.apply({ op: 'cancel', actor: admin, task: other } as TaskCommand), 'INVALID_STATE', /cancelled already/);
  });

  test('role, expertise and capabilities decide who may claim', () => {
    const h = new Harness();
    const id = h.create({ title: 'gpu work', role: 'developer', expertise: ['go'], capabilities: ['gpu'] });
    refused(h.claim(id, bob), 'NOT_ELIGIBLE', /requires expertise go/);
    refused(h.claim(id, { ...alice, role: 'observer' }), 'NOT_ELIGIBLE', /requires role developer/);
    ok(h.claim(id, alice));
  });

  test('unknown ids and invalid transitions are refused with the state named', () => {
    const h = new Harness();
    refused(h.claim('t-9'), 'NO_TASK', /no task t-9/);
    const id = h.create({ title: 'open task' });
    refused(h.owner(id, 'complete', alice, '1.1'), 'INVALID_STATE', /t-1 is open, not claimed/);
    refused(
      h.apply({ op: 'reopen', actor: alice, task: id } as TaskCommand),
      'INVALID_STATE',
      /only an escalated task/,
    );
    assert.throws(
      () => parseTaskSpec({ title: 'x', description: 'y'.repeat(70_000) }),
      /description: 70000 bytes is over the limit of 65536 bytes/,
    );
    assert.throws(() => parseTaskSpec({ title: '' }), /title/);
  });

  test('ended tasks past their retention are forgotten unless an unfinished task depends on them', () => {
    const h = new Harness();
    const a = h.create({ title: 'done long ago' });
    const b = h.create({ title: 'cancelled long ago' });
    const c = h.create({ title: 'needed by d' });
    const d = h.create({ title: 'waits for c', dependsOn: [c] });
    for (const id of [a, c]) ok(h.owner(id, 'complete', alice, ok(h.claim(id)).token as string));
    ok(h.apply({ op: 'cancel', actor: alice, task: b } as TaskCommand));
    assert.equal(h.m.get(d)?.state, 'open');
    ok(h.claim(d));
    h.now += 10_000;
    const r = h.m.apply({
      index: ++h.index,
      term: 1,
      kind: 'tasks',
      data: { op: 'prune', rid: 'prune-1-xxxxxxxx', at: h.now, actor: admin, before: h.now - 5_000 },
    });
    assert.deepEqual(r, { ok: true, pruned: 2, index: h.index });
    assert.deepEqual(
      h.m.all().map((t) => t.id),
      [c, d],
      'c stays: d depends on it',
    );
  });

  test('snapshot and restore give the same table', () => {
    const h = new Harness();
    const a = h.create({ title: 'a', touches: ['src/**'] });
    h.create({ title: 'b', dependsOn: [a] });
    ok(h.claim(a));
    const copy = new TaskMachine();
    copy.restore(JSON.parse(JSON.stringify(h.m.snapshot())));
    assert.deepEqual(copy.all(), h.m.all());
  });

  test('the rules see the unended tasks in creation order, live and after a restore', () => {
    const h = new Harness();
    const ids = ['a', 'b', 'c', 'd'].map((title) => h.create({ title }));
    const [a, b, c, d] = ids as [string, string, string, string];
    ok(h.owner(a, 'complete', alice, ok(h.claim(a)).token as string));
    ok(h.apply({ op: 'cancel', actor: alice, task: c } as TaskCommand));
    ok(h.claim(d));
    const unended = (m: TaskMachine) => [...m.active()].map((t) => t.id);
    assert.deepEqual(unended(h.m), [b, d]);
    const copy = new TaskMachine();
    copy.restore(JSON.parse(JSON.stringify(h.m.snapshot())));
    assert.deepEqual(unended(copy), [b, d]);
    assert.equal(copy.size, 4, 'ended tasks stay in the table until pruned');
  });
});

describe('dependency rules', () => {
  test('rule 1 depends_on: blocked until the dependency completes, then open', () => {
    const h = new Harness();
    const a = h.create({ title: 'schema' });
    const b = h.create({ title: 'migration', dependsOn: [a] });
    assert.equal(h.m.get(b)?.state, 'blocked');
    assert.deepEqual(h.m.get(b)?.blockedBy, [{ rule: 'depends_on', task: a }]);
    refused(h.claim(b), 'BLOCKED', /t-2 is blocked by t-1 \(depends_on\)/);
    const token = ok(h.claim(a)).token as string;
    ok(h.owner(a, 'complete', alice, token));
    assert.equal(h.m.get(b)?.state, 'open');
    ok(h.claim(b));
    refused(
      h.apply({
        op: 'create',
        actor: alice,
        spec: parseTaskSpec({ title: 'x', dependsOn: ['t-99'] }),
        maxAttempts: 2,
      } as TaskCommand),
      'NO_TASK',
      /no task t-99/,
    );
  });

  test('rule 2 touches: the later of two overlapping tasks waits, unless forced', () => {
    const h = new Harness();
    const a = h.create({ title: 'refactor parser', touches: ['src/parser/**'] });
    const b = h.create({ title: 'fix lexer', touches: ['src/parser/lexer.ts'] });
    const c = h.create({ title: 'docs', touches: ['docs/'] });
    const d = h.create({ title: 'hotfix', touches: ['src/parser/lexer.ts'], force: true });
    assert.equal(h.m.get(b)?.state, 'blocked');
    assert.equal(h.m.get(b)?.blockedBy[0]?.rule, 'touches');
    assert.equal(h.m.get(c)?.state, 'open');
    assert.equal(h.m.get(d)?.state, 'open', 'forced');
    const alert = h.events.find((e) => e.kind === 'alert' && e.task.id === b);
    assert.ok(alert && alert.kind === 'alert' && /both touch/.test(alert.alert.detail));
    ok(h.apply({ op: 'cancel', actor: alice, task: a } as TaskCommand));
    assert.equal(h.m.get(b)?.state, 'open', 'the earlier one ended');
  });

  test('rule 3 interfaces: a consumer waits for the unfinished provider; a cycle is refused with its path', () => {
    const h = new Harness();
    const api = h.create({ title: 'client', consumes: ['billing-api'] });
    assert.equal(h.m.get(api)?.state, 'open', 'nobody provides it yet');
    const provider = h.create({ title: 'billing service', provides: ['billing-api'], consumes: ['ledger-api'] });
    assert.equal(h.m.get(api)?.state, 'blocked', 'a provider appeared');
    const cyc = h.apply({
      op: 'create',
      actor: alice,
      spec: parseTaskSpec({ title: 'ledger', provides: ['ledger-api'], dependsOn: [api] }),
      maxAttempts: 2,
    } as TaskCommand);
    refused(cyc, 'CYCLE', /dependency cycle: t-3 → t-1 → t-2 → t-3/);
    const token = ok(h.claim(provider)).token as string;
    ok(h.owner(provider, 'complete', alice, token));
    assert.equal(h.m.get(api)?.state, 'open');
  });

  test('rule 4 same reference: both flagged, neither blocked', () => {
    const h = new Harness();
    const a = h.create({ title: 'fix #42', project: 'web', ref: 'acme/web#42' });
    const b = h.create({ title: 'also #42', project: 'web', ref: 'acme/web#42' });
    h.create({ title: 'other project', project: 'api', ref: 'acme/web#42' });
    assert.equal(h.m.get(b)?.state, 'open');
    assert.deepEqual(
      h.m.get(a)?.alerts.map((x) => [x.rule, x.task]),
      [['same_ref', b]],
    );
    assert.deepEqual(
      h.m.get(b)?.alerts.map((x) => [x.rule, x.task]),
      [['same_ref', a]],
    );
  });

  test('touched paths and globs overlap when they can name the same thing', () => {
    assert.equal(touchesOverlap('src/a.ts', 'src/a.ts'), true);
    assert.equal(touchesOverlap('src', 'src/a.ts'), true, 'a directory touches what is under it');
    assert.equal(touchesOverlap('src/a.ts', 'src/b.ts'), false);
    assert.equal(touchesOverlap('src/*.ts', 'src/a.ts'), true);
    assert.equal(touchesOverlap('src/*.ts', 'src/x/a.ts'), false);
    assert.equal(touchesOverlap('src/**', 'src/x/a.ts'), true);
    assert.equal(touchesOverlap('src/**/*.md', 'docs/a.md'), false);
    assert.equal(touchesOverlap('lib/*', 'src/*'), false);
    assert.equal(touchesOverlap('artifact:image', 'artifact:image'), true);
    assert.equal(globToRegExp('a/**/b?.ts').test('a/x/y/b1.ts'), true);
  });
});
