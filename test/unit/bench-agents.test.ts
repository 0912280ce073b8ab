// The figures of `chorus bench agents` from a timeline (pure): idle time counts only while a created task
// waited unclaimed and a slot was free; claim-to-start, the ratio to the ideal, tasks run twice or never
// completed. And the order in which an agent tries claimable tasks (the first few of the best priority
// shuffled, so agents looking at once mostly pick different tasks; the rest in order).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { spread } from '../../src/core/agent/agent.ts';
import { figures, percentiles, type TaskTimeline } from '../../src/bench/agents/measure.ts';
import { fixtureTask } from '../helpers/agent.ts';

describe('bench agents: figures', () => {
  test('one agent, two tasks: idle only while a task waited; claim-to-start; ratio; exactly once', () => {
    const tasks: TaskTimeline[] = [
      {
        id: 't-1',
        workMs: 100,
        createdAt: 0,
        starts: [{ agent: 0, claimedAt: 10, startedAt: 12, endedAt: 112 }],
        completedAt: 150,
      },
      // created while the agent worked; claimed 30 ms after the slot freed: 30 ms idle while it waited
      {
        id: 't-2',
        workMs: 100,
        createdAt: 50,
        starts: [{ agent: 0, claimedAt: 142, startedAt: 145, endedAt: 245 }],
        completedAt: 260,
      },
    ];
    const f = figures(tasks, 1, 0, 260);
    assert.equal(f.idle.totalMs, 10 + 30, 'before the first claim (t-1 waited from 0) and between the tasks');
    assert.equal(f.idle.maxGapMs, 30);
    assert.deepEqual(f.claimToStartMs, { p50: 2, p95: 3, max: 3 });
    assert.equal(f.idealMs, 200);
    assert.equal(f.ratio, 1.3);
    assert.equal(f.completedOnce, 2);
    assert.deepEqual(f.settleMs, { p50: 15, p95: 38, max: 38 });
    assert.deepEqual(f.perAgent, [{ tasks: 2, busyMs: 102 + 103 }]);
  });

  test('a free slot with nothing waiting is not idle; a task run twice or never completed is named', () => {
    const tasks: TaskTimeline[] = [
      {
        id: 't-1',
        workMs: 50,
        createdAt: 0,
        starts: [{ agent: 0, claimedAt: 0, startedAt: 1, endedAt: 51 }],
        completedAt: 60,
      },
      {
        id: 't-2',
        workMs: 50,
        createdAt: 500, // created long after agent 1 was free: agent 1 idled, but nothing waited
        starts: [
          { agent: 1, claimedAt: 505, startedAt: 506, endedAt: 556 },
          { agent: 0, claimedAt: 600, startedAt: 601, endedAt: 651 },
        ],
        completedAt: 700,
      },
      { id: 't-3', workMs: 50, createdAt: 0, starts: [] },
    ];
    const f = figures(tasks.slice(0, 2), 2, 0, 700);
    // only [500, 505) had a task waiting: both agents were free then (5 ms each); before it, nothing waited
    assert.deepEqual(f.idle, { totalMs: 10, maxGapMs: 5, gaps: 2 });
    assert.deepEqual(f.ranTwice, ['t-2']);
    assert.equal(f.completedOnce, 1);
    const all = figures(tasks, 2, 0, 700);
    assert.deepEqual(all.notCompleted, ['t-3']);
    // t-3 waited the whole run: every free moment of both agents counts
    assert.deepEqual(all.idle, { totalMs: 549 + 49 + 505 + 144, maxGapMs: 549, gaps: 4 });
  });

  test('percentiles are nearest-rank', () => {
    assert.deepEqual(percentiles([5, 1, 4, 2, 3]), { p50: 3, p95: 5, max: 5 });
    assert.deepEqual(percentiles([]), { p50: 0, p95: 0, max: 0 });
  });
});

describe('which claimable task an agent tries first', () => {
  const list = [
    ...Array.from({ length: 10 }, (_, i) => fixtureTask({ id: `t-${i + 1}`, priority: 'urgent' })),
    fixtureTask({ id: 't-11', priority: 'low' }),
  ];
  test('the first 8 of the best priority in a random order, then the rest in order', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const order = spread(list).map((t) => t.id);
      assert.deepEqual(order.slice(8), ['t-9', 't-10', 't-11']);
      assert.deepEqual(
        [...order.slice(0, 8)].sort(),
        list
          .slice(0, 8)
          .map((t) => t.id)
          .sort(),
      );
      seen.add(order[0] as string);
    }
    assert.equal(seen.size, 8, 'each of the first 8 comes first sometimes');
  });

  test('a lower priority is never tried before a higher one', () => {
    const mixed = [fixtureTask({ id: 't-1', priority: 'high' }), fixtureTask({ id: 't-2', priority: 'medium' })];
    for (let i = 0; i < 50; i++)
      assert.deepEqual(
        spread(mixed).map((t) => t.id),
        ['t-1', 't-2'],
      );
  });
});
