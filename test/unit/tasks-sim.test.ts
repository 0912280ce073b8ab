// The task layer under an invariant checker: 5 simulated nodes (Raft, consensus log, the real task
// service and state machine, forwarding to the leader) on a network that is partitioned and healed while
// nodes are killed and restarted, with an agent on every node racing the others for claimable work,
// renewing its claims, sometimes pausing past its lease (a GC pause) and then trying to finish anyway.
// Checked throughout: never two owners of one task in one claim epoch; every node applies the same
// commands in the same order; no task is completed twice; and at the end every acknowledged change is
// in the final board, the board is identical everywhere, and every task is completed, cancelled,
// escalated, or open and claimable (or blocked only behind such a task).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChorusError } from '../../src/core/errors.ts';
import { silentLogger } from '../../src/core/log.ts';
import { TaskService } from '../../src/core/tasks/service.ts';
import type { Task } from '../../src/core/tasks/model.ts';
import { SimCluster, type SimNodeParts } from '../helpers/election-sim.ts';

const TTL = 1000;
const CONFIG = { claimTtlMs: TTL, renewIntervalMs: 300, maxAttempts: 4, requestTimeoutMs: 3000, retainMs: 3_600_000 };

interface Ownership {
  agent: string;
  token: string;
}

class TaskWorld {
  readonly c: SimCluster;
  readonly services = new Map<string, TaskService>();
  /** task:epoch → who was told it owns it. */
  readonly owners = new Map<string, Ownership>();
  /** task → the agents told their completion succeeded. */
  readonly completions = new Map<string, string[]>();
  /** Acknowledged changes: [task, state the acknowledgement reported]. */
  readonly acknowledged: [string, string][] = [];
  readonly violations: string[] = [];
  created = 0;
  claims = 0;
  fenced = 0;
  agentsOn = true;

  constructor(seed: number) {
    this.c = new SimCluster(5, seed, {
      snapshotEvery: 40,
      machines: () => ({}),
      onStart: (parts) => this.startService(parts),
      onKill: (id) => {
        this.services.get(id)?.stop();
        this.services.delete(id);
      },
    });
  }

  private startService(parts: SimNodeParts): void {
    const { id, raft, log, forwarder } = parts;
    const service = new TaskService({
      election: {
        raft,
        log,
        register: (kind, machine, opts) => {
          log.register(kind, machine);
          if (opts?.forward) forwarder.allow(kind, opts.vet);
        },
        submit: (kind, data, signal) => forwarder.submit(kind, data, signal),
      },
      self: id,
      config: () => CONFIG,
      agent: () => ({ name: `agent-${id}`, role: 'developer', expertise: [], capabilities: [] }),
      logger: silentLogger,
      clock: this.c.clock,
    });
    service.start();
    this.services.set(id, service);
    // the committed truth: a claim only ever takes an open task (exactly one owner at a time)
    service.on('event', (e) => {
      if (e.kind === 'transition' && e.to === 'claimed' && e.from !== 'open')
        this.violations.push(`${id} applied a claim of ${e.task.id} (attempt ${e.task.attempt}) from ${e.from}`);
    });
    // two workers per agent, so an agent can hold a new claim on a task it once lost
    for (let k = 0; k < 2; k++) this.c.clock.setTimeout(() => this.agentLoop(id, service), 50 + this.c.rnd() * 100);
  }

  /** One agent per node: claims the best claimable task, works, renews, finishes (or pauses, fails). */
  private agentLoop(id: string, service: TaskService): void {
    if (this.services.get(id) !== service || !this.agentsOn) return;
    const next = (ms: number): void => void this.c.clock.setTimeout(() => this.agentLoop(id, service), ms);
    const actor = { agent: `agent-${id}`, node: id, role: 'developer' };
    const candidates = service.nextFor(actor);
    const pick = candidates[Math.floor(this.c.rnd() * Math.min(3, candidates.length))];
    if (!pick) return next(100 + this.c.rnd() * 200);
    service
      .claim(pick.id, { hold: 'client' })
      .then(({ task, token }) => {
        this.claims++;
        const key = `${task.id}:${task.attempt}`;
        const known = this.owners.get(key);
        if (known && known.agent !== actor.agent)
          this.violations.push(`two owners of ${key}: ${known.agent} and ${actor.agent}`);
        this.owners.set(key, { agent: actor.agent, token });
        this.acknowledged.push([task.id, 'claimed']);
        this.work(id, service, task, token, () => next(50));
      })
      .catch(() => next(50 + this.c.rnd() * 150));
  }

  private work(id: string, service: TaskService, task: Task, token: string, done: () => void): void {
    const r = this.c.rnd();
    const pauses = r < 0.15; // stops renewing for longer than its lease, then tries to finish
    const duration = pauses ? TTL * 2.5 : 100 + this.c.rnd() * 800;
    const end = this.c.clock.now() + duration;
    const renew = (): void => {
      if (this.services.get(id) !== service) return;
      if (this.c.clock.now() >= end) return finish();
      if (!pauses) service.renew(task.id, { token }).catch(() => {});
      this.c.clock.setTimeout(renew, CONFIG.renewIntervalMs);
    };
    const finish = (): void => {
      const failing = this.c.rnd() < 0.15;
      const op = failing
        ? service.fail(task.id, { token, reason: 'tests failed' })
        : service.complete(task.id, { token, result: `ucxl://${id}:developer@sim:${task.id}/*^/result.md` });
      op.then(({ task: after }) => {
        for (const key of this.owners.keys()) {
          const [other, attempt] = key.split(':');
          if (other === task.id && Number(attempt) > task.attempt)
            this.violations.push(`${id} finished ${task.id} with claim ${token} after claim ${key} was granted`);
        }
        if (!failing) {
          const list = this.completions.get(task.id) ?? [];
          list.push(id);
          this.completions.set(task.id, list);
          if (list.length > 1) this.violations.push(`${task.id} completed twice: ${list.join(', ')}`);
        }
        this.acknowledged.push([task.id, after.state]);
      })
        .catch((err: unknown) => {
          if (err instanceof ChorusError && err.code === 'CLAIM_EXPIRED') this.fenced++;
        })
        .finally(done);
    };
    this.c.clock.setTimeout(renew, Math.min(CONFIG.renewIntervalMs, duration));
  }

  /** Creates a task through a random live node (some depend on, or overlap with, earlier ones). */
  createTask(): void {
    const alive = this.c.alive();
    const id = alive[Math.floor(this.c.rnd() * alive.length)];
    const service = id ? this.services.get(id) : undefined;
    if (!service) return;
    const n = ++this.created;
    const spec: Record<string, unknown> = { title: `task ${n}`, priority: ['low', 'medium', 'high'][n % 3] };
    if (n > 3 && this.c.rnd() < 0.25) spec.dependsOn = [`t-${1 + Math.floor(this.c.rnd() * (n - 1))}`];
    if (this.c.rnd() < 0.2) spec.touches = [`src/module${n % 4}/**`];
    service.create(spec).catch(() => {});
  }

  board(id: string): string {
    return JSON.stringify((this.services.get(id) as TaskService).machine.all());
  }
}

describe('tasks: randomized partition/kill/restart cycles with an invariant checker', () => {
  for (const seed of [11, 13, 17]) {
    test(`5 nodes, agents racing, 110 cycles (seed ${seed})`, async () => {
      const w = new TaskWorld(seed);
      const { c } = w;
      c.startAll();
      await c.clock.advance(2000);
      for (let i = 0; i < 20; i++) w.createTask();
      const pick = (from: string[]): string | undefined => from[Math.floor(c.rnd() * from.length)];
      for (let i = 0; i < 110; i++) {
        const r = c.rnd();
        if (r < 0.25) {
          const shuffled = [...c.ids].sort(() => c.rnd() - 0.5);
          const cut = 1 + Math.floor(c.rnd() * 4);
          c.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
        } else if (r < 0.45) c.heal();
        else if (r < 0.6) {
          const victim = c.rnd() < 0.5 ? (c.leaders()[0] ?? pick(c.alive())) : pick(c.alive());
          if (victim && c.alive().length > 2) c.kill(victim);
        } else if (r < 0.8) {
          const back = pick(c.ids.filter((id) => !c.alive().includes(id)));
          if (back) c.start(back);
        } else for (let k = 0; k < 3; k++) w.createTask();
        await c.clock.advance(200 + c.rnd() * 1500);
        assert.deepEqual(c.violations, [], `cycle ${i}`);
        assert.deepEqual(w.violations, [], `cycle ${i}`);
      }
      // the agents stop; the network heals; every node comes back; lapsed claims end
      w.agentsOn = false;
      c.heal();
      for (const id of c.ids) if (!c.alive().includes(id)) c.start(id);
      await c.clock.advance(TTL * 6);
      assert.deepEqual(c.violations, []);
      assert.deepEqual(w.violations, []);
      const leader = c.leaders()[0] as string;
      assert.ok(leader, 'a leader');
      const board = w.board(leader);
      for (const id of c.ids) assert.equal(w.board(id), board, `${id} holds the same board`);
      const tasks = (w.services.get(leader) as TaskService).machine;
      assert.ok(tasks.size >= 15, `tasks were created (${tasks.size})`);
      assert.ok(w.claims >= 20, `claims were made (${w.claims})`);
      assert.ok(w.fenced >= 1, `a paused owner was fenced off at least once (${w.fenced})`);
      // every acknowledged completion is in the final board, by its agent
      for (const [task, by] of w.completions) {
        const t = tasks.get(task);
        assert.equal(t?.state, 'completed', `${task} acknowledged completed`);
        assert.equal(t?.claim?.owner.node, by[0]);
      }
      // every acknowledged claim is in the task's history
      for (const [key, o] of w.owners) {
        const [task, attempt] = key.split(':');
        const t = tasks.get(task as string) as Task;
        const entry = t.history.find((h) => h.state === 'claimed' && h.note === `attempt ${attempt}`);
        assert.ok(entry, `${key} claimed by ${o.agent} is in the history`);
        assert.equal(entry?.actor.split('@')[0], o.agent);
      }
      // every task rests somewhere a human or an agent can act on
      const resting = (t: Task): boolean =>
        ['completed', 'cancelled', 'escalated'].includes(t.state) ||
        (t.state === 'open' && !t.assignee) ||
        (t.state === 'blocked' &&
          t.blockedBy.every((b) => resting(tasks.get(b.task) as Task) && tasks.get(b.task)?.state !== 'completed'));
      for (const t of tasks.all()) assert.ok(resting(t), `${t.id} rests (${t.state})`);
      assert.ok(
        tasks.all().every((t) => t.state !== 'claimed' && t.state !== 'in_progress'),
        'no claim outlives its owner',
      );
    });
  }
});
