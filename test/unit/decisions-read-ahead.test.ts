// The read-ahead queue (src/core/decisions/read-ahead.ts): one subject at a time, each on an event-loop turn
// of its own; a subject queued twice runs once; at most `max` wait (the longest-waiting dropped); a failure
// does not stop it; nothing runs while the node has no room (it waits what standBack says); stop() drops what
// waits. WriteQuiet, which says how long until writes have been quiet long enough; LoopLoad, which tells busy from
// idle by the event loop's utilization, and loopShareSampler, which gives that share.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { ReadAheadQueue, WriteQuiet } from '../../src/core/decisions/read-ahead.ts';
import { LoopLoad, loopShareSampler } from '../../src/core/loop-load.ts';

/** A warm function whose calls the test finishes one by one. */
function controlled() {
  const started: string[] = [];
  const finish: ((fail?: boolean) => void)[] = [];
  const warm = (subject: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      started.push(subject);
      finish.push((fail) => (fail ? reject(new Error(`cannot read ${subject}`)) : resolve()));
    });
  /** Finishes the oldest call still running, then lets the queue take its next turn. */
  const done = async (fail = false): Promise<void> => {
    finish.shift()?.(fail);
    await nextTurn(); // the call's settlement
    await nextTurn(); // the queue's next turn
  };
  return { started, warm, done };
}

test('one subject at a time, each on a turn of its own, in the order queued', async () => {
  const w = controlled();
  const q = new ReadAheadQueue(w.warm);
  q.schedule('a');
  q.schedule('b');
  assert.deepEqual(w.started, [], 'nothing runs in the turn that queued it');
  await nextTurn();
  assert.deepEqual(w.started, ['a']);
  await nextTurn();
  assert.deepEqual(w.started, ['a'], 'b waits while a runs');
  assert.equal(q.idle, false);
  await w.done();
  assert.deepEqual(w.started, ['a', 'b']);
  await w.done();
  assert.equal(q.idle, true);
});

test('a subject queued again runs once, in its later place; a failure does not stop the queue', async () => {
  const w = controlled();
  const q = new ReadAheadQueue(w.warm);
  q.schedule('a');
  q.schedule('b');
  q.schedule('a');
  assert.equal(q.size, 2);
  await nextTurn();
  await w.done(true);
  await w.done();
  assert.deepEqual(w.started, ['b', 'a']);
  assert.equal(q.idle, true);
});

test('at most max subjects wait: the longest-waiting is dropped', async () => {
  const w = controlled();
  const q = new ReadAheadQueue(w.warm, { max: 2 });
  for (const s of ['a', 'b', 'c']) q.schedule(s);
  assert.equal(q.size, 2);
  await nextTurn();
  await w.done();
  await w.done();
  assert.deepEqual(w.started, ['b', 'c']);
});

test('stop drops what waits and takes nothing more', async () => {
  const w = controlled();
  const q = new ReadAheadQueue(w.warm);
  q.schedule('a');
  q.schedule('b');
  await nextTurn();
  q.stop();
  q.schedule('c');
  await w.done();
  await nextTurn();
  assert.deepEqual(w.started, ['a']);
  assert.equal(q.size, 0);
});

test('nothing runs while the node has no room: the queue waits what standBack says, then asks again', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const w = controlled();
  const waits = [100, 30];
  let asked = 0;
  const q = new ReadAheadQueue(w.warm, {
    standBack: () => {
      asked++;
      return waits.shift() ?? 0;
    },
  });
  q.schedule('a');
  await nextTurn();
  assert.deepEqual([w.started, asked, q.size], [[], 1, 1], 'no room: a waits');
  t.mock.timers.tick(99);
  await nextTurn();
  assert.equal(asked, 1, 'not asked again before the wait it was given');
  t.mock.timers.tick(1);
  await nextTurn();
  assert.deepEqual([w.started, asked], [[], 2], 'still no room, for a shorter while');
  t.mock.timers.tick(29);
  await nextTurn();
  assert.equal(asked, 2);
  t.mock.timers.tick(1);
  await nextTurn();
  assert.deepEqual([w.started, asked], [['a'], 3]);
  await w.done();
  assert.equal(q.idle, true);
});

test('WriteQuiet: waits out what is left of quietMs since the last write, and gives way once every maxWaitMs', () => {
  let now = 10_000;
  const quiet = new WriteQuiet(30, 100, () => now);
  assert.equal(quiet.wait(), 0, 'no write seen yet');
  quiet.note();
  assert.equal(quiet.wait(), 30);
  now += 20;
  assert.equal(quiet.wait(), 10);
  quiet.note();
  assert.equal(quiet.wait(), 30, 'a later write starts the quiet spell again');
  now += 30;
  assert.equal(quiet.wait(), 0);
  // writes that never pause: it waits, and every 100 ms of waiting in a row it gives way once
  const answers: number[] = [];
  for (let i = 0; i < 12; i++) {
    quiet.note();
    answers.push(quiet.wait());
    now += 20;
  }
  assert.deepEqual(answers, [30, 30, 30, 30, 30, 0, 30, 30, 30, 30, 30, 0]);
  // a clock that goes back never makes it wait longer than quietMs
  quiet.note();
  now -= 60_000;
  assert.equal(quiet.wait(), 30);
});

test('a stand-back lasts at most a second, whatever standBack says: the queue then asks again', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const w = controlled();
  let asked = 0;
  const q = new ReadAheadQueue(w.warm, { standBack: () => (++asked === 1 ? 600_000 : 0) });
  q.schedule('a');
  await nextTurn();
  assert.deepEqual([w.started, asked], [[], 1]);
  t.mock.timers.tick(999);
  await nextTurn();
  assert.equal(asked, 1);
  t.mock.timers.tick(1);
  await nextTurn();
  assert.deepEqual([w.started, asked], [['a'], 2]);
  await w.done();
});

test('LoopLoad: busy after the loop ran code for most of a window, not after it waited', async () => {
  await nextTurn(); // inside a running event loop
  const load = new LoopLoad({ windowMs: 50, threshold: 0.5 });
  assert.equal(load.busy(), false, 'the first check only starts a window');
  const start = performance.now();
  while (performance.now() - start < 120) {
    // the loop runs code and waits for nothing
  }
  assert.equal(load.busy(), true);
  await sleep(150); // the loop waits for a timer: idle time
  assert.equal(load.busy(), false);
});

test('loopShareSampler: the share since its last call; 1 where the runtime reports no time (Deno’s stub)', async () => {
  await nextTurn(); // inside a running event loop
  const share = loopShareSampler();
  const start = performance.now();
  while (performance.now() - start < 60) {
    // the loop runs code and waits for nothing
  }
  assert.ok(share() > 0.5, 'a loop that ran code');
  await sleep(80); // the loop waits for a timer: idle time
  assert.ok(share() < 0.5, 'a loop that waited');
  const none = { idle: 0, active: 0, utilization: 0 };
  const stub = loopShareSampler(() => none);
  assert.deepEqual([stub(), stub()], [1, 1], 'no time measured: a loop that never rests');
});
