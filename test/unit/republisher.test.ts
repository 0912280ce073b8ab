// The republisher (src/core/decisions/republisher.ts): a peer that joins or leaves makes the node re-put the
// records it stored before it saw that, whose replica set involves the peer — not those it stored since, nor
// those the peer has no part in; a membership event reaches a pass one second later, with its time; a pass asked
// for while one runs is not dropped but runs after it, with every request's changes. The schedule re-puts only
// what was not stored here within the interval, so that of a record's holders one re-puts it, and its first pass
// falls at a random point between half an interval and one and a half.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { DecisionRecord } from '../../src/core/decisions/record.ts';
import { Republisher, type PeerChanges, type RepublishSource } from '../../src/core/decisions/republisher.ts';
import type { HeldRecord } from '../../src/core/decisions/store.ts';
import { createLogger, silentLogger } from '../../src/core/log.ts';

/** A held record under `/ucxlv/<name>` (`/ucxl/<name>` if `latest`) whose replica set is `set`, stored at `storedAt`. */
interface Fake {
  name: string;
  set: string[];
  storedAt: number;
  latest?: boolean;
}

const HOUR = 3_600_000;
const dhtKeyOf = (r: Fake): string => `/${r.latest ? 'ucxl' : 'ucxlv'}/${r.name}`;

/** A store holding `records`, whose re-puts the test sees (and, with `hold`, finishes one by one). */
function fakeStore(records: Fake[], opts: { hold?: boolean } = {}) {
  const reput: string[] = [];
  const decoded: string[] = [];
  let passes = 0;
  const finish: (() => void)[] = [];
  const store: RepublishSource = {
    async *heldRecords(opts = {}): AsyncGenerator<HeldRecord> {
      passes++;
      for (const r of records) {
        const { wanted } = opts;
        if (wanted && !wanted(dhtKeyOf(r), r.storedAt)) continue;
        decoded.push(r.name);
        const record = { subject: r.name, version: 1 } as DecisionRecord;
        yield { dhtKey: dhtKeyOf(r), bytes: new Uint8Array(), record, storedAt: r.storedAt };
      }
    },
    replicate: (key) => {
      const name = new TextDecoder().decode(key).replace(/^\/ucxlv?\//, '');
      reput.push(name);
      for (const r of records) if (r.name === name) r.storedAt = Date.now(); // stored here again, as a re-put does
      if (!opts.hold) return Promise.resolve(['a', 'b', 'c']);
      return new Promise((resolve) => finish.push(() => resolve(['a', 'b', 'c'])));
    },
    operationSignal: () => new AbortController().signal,
    replicated: () => {},
    holdersWanted: (replication) => replication,
    fellShort: () => () => false,
  };
  const sets = new Map(records.map((r) => [dhtKeyOf(r), r.set]));
  const routing = new EventTarget();
  /** Peers the routing table no longer holds (a record's `set` still names them where they were). */
  const gone = new Set<string>();
  const direct = {
    // `set`: the record's peers closest first, as far out as the test names them; those the table let go count
    // only when asked for (`also`)
    replicaSet: (key: Uint8Array, count: number, also: readonly string[] = []) =>
      (sets.get(new TextDecoder().decode(key)) ?? [])
        .filter((peer) => !gone.has(peer) || also.includes(peer))
        .slice(0, count),
    routingEvents: () => routing,
  };
  return { store, direct, routing, gone, reput, decoded, finish, passes: () => passes };
}

function republisher(
  f: ReturnType<typeof fakeStore>,
  membership = new EventTarget(),
  opts: { provide?: (subject: string) => void; random?: () => number } = {},
): Republisher {
  return new Republisher({
    store: f.store,
    membership,
    direct: f.direct,
    replication: 3,
    intervalMs: HOUR,
    provide: opts.provide ?? (() => {}),
    random: opts.random,
    logger: silentLogger,
  });
}

/** Runs `body` with a started republisher over `f` and its membership events; stops it after, and returns it. */
async function whileStarted(
  f: ReturnType<typeof fakeStore>,
  body: (membership: EventTarget) => Promise<void>,
): Promise<Republisher> {
  const membership = new EventTarget();
  const r = republisher(f, membership);
  r.start();
  try {
    await body(membership);
  } finally {
    await r.stop();
  }
  return r;
}

test('a change re-puts the records stored before it that involve the peer, not those stored since', async () => {
  const f = fakeStore([
    { name: 'old-involved', set: ['a', 'p', 'b'], storedAt: 1_000 },
    { name: 'same-ms', set: ['p', 'a', 'b'], storedAt: 2_000 },
    { name: 'old-other', set: ['a', 'b', 'c'], storedAt: 1_000 },
    { name: 'new-involved', set: ['a', 'p', 'b'], storedAt: 2_001 },
    { name: 'unknown-time', set: ['a', 'b', 'p'], storedAt: Number.NaN },
  ]);
  const changes: PeerChanges = new Map([['p', 2_000]]);
  await republisher(f).republish(changes);
  assert.deepEqual(f.reput, ['old-involved', 'same-ms', 'unknown-time']);
  assert.deepEqual(f.decoded, f.reput, 'the others are passed over before they are decoded');
});

test('a peer that joins or leaves beyond the replica sets involves no record', async () => {
  const f = fakeStore([
    { name: 'now-third', set: ['a', 'b', 'p', 'c'], storedAt: 1_000 },
    { name: 'fourth', set: ['a', 'b', 'c', 'p'], storedAt: 1_000 },
    { name: 'far-out', set: ['a', 'b', 'c', 'd', 'e', 'p'], storedAt: 1_000 },
    { name: 'left-first', set: ['q', 'a', 'b', 'c'], storedAt: 1_000 },
    { name: 'left-fourth', set: ['a', 'b', 'c', 'q'], storedAt: 1_000 },
  ]);
  // p joined, q left: a record is re-put only where one of them is among its three closest
  await republisher(f).republish(
    new Map([
      ['p', 2_000],
      ['q', 2_000],
    ]),
  );
  assert.deepEqual(f.reput, ['now-third', 'left-first']);
});

test('each changed peer counts from its own time; the schedule then re-puts what that pass did not', async () => {
  const f = fakeStore([
    { name: 'x', set: ['a', 'p', 'b'], storedAt: 1_500 },
    { name: 'y', set: ['a', 'q', 'b'], storedAt: 1_500 },
  ]);
  const r = republisher(f);
  await r.republish(
    new Map([
      ['p', 1_000],
      ['q', 2_000],
    ]),
  );
  assert.deepEqual(f.reput, ['y'], 'x was stored after p changed, y before q did');
  await r.republish();
  assert.deepEqual(f.reput, ['y', 'x'], 'y was stored here again just now, by its re-put');
});

test('a membership event reaches a pass a second later, with when it happened', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 5_000 });
  const f = fakeStore([
    { name: 'before', set: ['a', 'p', 'b'], storedAt: 4_000 },
    { name: 'after', set: ['a', 'p', 'b'], storedAt: 5_500 },
  ]);
  await whileStarted(f, async (membership) => {
    membership.dispatchEvent(new CustomEvent('peer:connect', { detail: 'p' }));
    t.mock.timers.tick(999);
    await nextTurn();
    assert.deepEqual(f.reput, [], 'nothing before the second is up');
    t.mock.timers.tick(1);
    for (let i = 0; i < 5 && f.reput.length === 0; i++) await nextTurn();
    assert.deepEqual(f.reput, ['before']);
  });
});

test('a pass asked for while one runs runs after it, with the changes of every such request', async () => {
  const f = fakeStore(
    [
      { name: 'p-record', set: ['a', 'p', 'b'], storedAt: 1_000 },
      { name: 'q-record', set: ['a', 'q', 'b'], storedAt: 1_000 },
      { name: 'r-record', set: ['a', 'r', 'b'], storedAt: 1_000 },
      { name: 'qr-record', set: ['q', 'r', 'b'], storedAt: 1_000 },
    ],
    { hold: true },
  );
  const r = republisher(f);
  const first = r.republish(new Map([['p', 2_000]]));
  await nextTurn();
  assert.deepEqual(f.reput, ['p-record'], 'the first pass is re-putting');
  const second = r.republish(new Map([['q', 2_000]]));
  const third = r.republish(new Map([['r', 2_000]]));
  f.finish.shift()?.();
  await first;
  for (let i = 0; i < 5 && f.reput.length < 2; i++) await nextTurn();
  assert.deepEqual(f.reput, ['p-record', 'q-record'], 'the waiting pass carries both requests');
  for (let n = 3; n <= 4; n++) {
    f.finish.shift()?.();
    for (let i = 0; i < 5 && f.reput.length < n; i++) await nextTurn();
  }
  f.finish.shift()?.();
  await Promise.all([second, third]);
  assert.deepEqual(f.reput, ['p-record', 'q-record', 'r-record', 'qr-record'], 'a record both asked for, once');
  assert.equal(f.passes(), 2, 'one pass after the running one, not one per request');
});

test('a peer the routing table removed counts where it was: the records it was a replica of are re-put', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 5_000 });
  const f = fakeStore([
    { name: 'was-second', set: ['a', 'p', 'b', 'c'], storedAt: 4_000 },
    { name: 'was-fourth', set: ['a', 'b', 'c', 'p'], storedAt: 4_000 },
    { name: 'stored-since', set: ['p', 'a', 'b', 'c'], storedAt: 5_500 },
  ]);
  await whileStarted(f, async () => {
    // the table lets p go (it stopped answering and has no connection): from then on no replica set names it
    f.gone.add('p');
    f.routing.dispatchEvent(new CustomEvent('peer:remove', { detail: 'p' }));
    t.mock.timers.tick(1000);
    for (let i = 0; i < 5 && f.reput.length === 0; i++) await nextTurn();
    assert.deepEqual(f.reput, ['was-second'], 'the record whose replica set held it, stored before it left');
    // and once the table adds it back, it is where it belongs again, as any joining peer
    f.gone.delete('p');
    f.routing.dispatchEvent(new CustomEvent('peer:add', { detail: 'p' }));
    t.mock.timers.tick(1000);
    for (let i = 0; i < 5 && f.reput.length === 1; i++) await nextTurn();
    assert.deepEqual(f.reput, ['was-second', 'was-second', 'stored-since']);
  });
});

test('a peer the routing table adds after it connected counts from the add; nothing runs after stop', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 5_000 });
  const f = fakeStore([
    { name: 'before-connect', set: ['a', 'p', 'b'], storedAt: 4_000 },
    { name: 'between', set: ['a', 'p', 'b'], storedAt: 5_200 },
    { name: 'after-add', set: ['a', 'p', 'b'], storedAt: 5_600 },
  ]);
  const r = await whileStarted(f, async (membership) => {
    membership.dispatchEvent(new CustomEvent('peer:connect', { detail: 'p' }));
    t.mock.timers.tick(500);
    // kad-dht adds the peer to its routing table once it identified it: replica sets change only now
    f.routing.dispatchEvent(new CustomEvent('peer:add', { detail: 'p' }));
    t.mock.timers.tick(1000);
    for (let i = 0; i < 5 && f.reput.length < 2; i++) await nextTurn();
    assert.deepEqual(f.reput, ['before-connect', 'between'], 'stored before the add: placed without p');
  });
  await r.republish();
  assert.equal(f.passes(), 1, 'a republish after stop runs no pass');
});

test('a scheduled pass skips what was stored here within the interval, and still announces latest records', async () => {
  const now = Date.now();
  const f = fakeStore([
    { name: 'old', set: ['a', 'b', 'c'], storedAt: now - 2 * HOUR },
    { name: 'recent', set: ['a', 'b', 'c'], storedAt: now - 10 * 60_000 },
    { name: 'nearly-an-hour', set: ['a', 'b', 'c'], storedAt: now - 0.97 * HOUR },
    { name: 'unknown-time', set: ['a', 'b', 'c'], storedAt: Number.NaN },
    { name: 'ahead-of-clock', set: ['a', 'b', 'c'], storedAt: now + HOUR },
    { name: 'old-latest', set: ['a', 'b', 'c'], storedAt: now - 2 * HOUR, latest: true },
    { name: 'recent-latest', set: ['a', 'b', 'c'], storedAt: now - 60_000, latest: true },
    { name: 'recent-short', set: ['a', 'b', 'c'], storedAt: now - 60_000 },
    { name: 'recent-latest-short', set: ['a', 'b', 'c'], storedAt: now - 60_000, latest: true },
  ]);
  const provided: string[] = [];
  f.store.fellShort = () => (dhtKey) => dhtKey.endsWith('-short'); // its last write or re-put here fell short
  await republisher(f, new EventTarget(), { provide: (s) => provided.push(s) }).republish();
  assert.deepEqual(f.reput, [
    'old',
    'nearly-an-hour',
    'unknown-time',
    'ahead-of-clock',
    'old-latest',
    'recent-short',
    'recent-latest-short',
  ]);
  assert.deepEqual(
    provided,
    ['old-latest', 'recent-latest', 'recent-latest-short'],
    'every latest record held is announced',
  );
  assert.deepEqual(
    f.decoded,
    [
      'old',
      'nearly-an-hour',
      'unknown-time',
      'ahead-of-clock',
      'old-latest',
      'recent-latest',
      'recent-short',
      'recent-latest-short',
    ],
    'a recent version record is passed over undecoded',
  );
});

/**
 * Holders of one record `r`, stored at 0 on each; a re-put by any of them stores it on all again, now (a network of
 * three, faked). Each has its republisher.
 */
function holdersOfOneRecord() {
  const holders = ['a', 'b', 'c'].map((name) => ({ name, storedAt: 0, reput: 0 }));
  const republishers = holders.map(
    (h) =>
      new Republisher({
        store: {
          async *heldRecords(opts = {}): AsyncGenerator<HeldRecord> {
            if (opts.wanted && !opts.wanted('/ucxlv/r', h.storedAt)) return;
            const record = { subject: 'r', version: 1 } as DecisionRecord;
            yield { dhtKey: '/ucxlv/r', bytes: new Uint8Array(), record, storedAt: h.storedAt };
          },
          replicate: async () => {
            h.reput++;
            for (const each of holders) each.storedAt = Date.now();
            return holders.map((each) => each.name);
          },
          operationSignal: () => new AbortController().signal,
          replicated: () => {},
          holdersWanted: (replication) => replication,
          fellShort: () => () => false,
        },
        membership: new EventTarget(),
        replication: 3,
        intervalMs: HOUR,
        provide: () => {},
        logger: silentLogger,
      }),
  ) as [Republisher, Republisher, Republisher];
  return { republishers, reputs: (): number[] => holders.map((h) => h.reput) };
}

test("of a record's holders, the one whose scheduled pass comes first re-puts it, hour after hour", async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 10 * HOUR });
  const {
    republishers: [a, b, c],
    reputs,
  } = holdersOfOneRecord();
  // the holders' passes, 20 minutes apart: a's first
  await a.republish();
  t.mock.timers.tick(20 * 60_000);
  await b.republish();
  t.mock.timers.tick(20 * 60_000);
  await c.republish();
  assert.deepEqual(reputs(), [1, 0, 0], 'b and c skip it: a has just re-put it to them');
  t.mock.timers.tick(19 * 60_000); // a's next pass reaches it a minute early (its timer, a faster pass before it)
  await a.republish();
  t.mock.timers.tick(20 * 60_000);
  await b.republish();
  assert.deepEqual(reputs(), [2, 0, 0], 'an hour later a re-puts it again, and b still skips it');
  // a is gone: b's next pass finds the record an hour old and re-puts it
  t.mock.timers.tick(60 * 60_000);
  await b.republish();
  t.mock.timers.tick(20 * 60_000);
  await c.republish();
  assert.deepEqual(reputs(), [2, 1, 0], 'without a, b re-puts it, and c skips it');
});

test('the first scheduled pass falls between half an interval and one and a half after start, then each interval', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 10 * HOUR });
  for (const [random, first] of [
    [0, 0.5 * HOUR],
    [0.75, 1.25 * HOUR],
  ] as const) {
    const f = fakeStore([{ name: 'r', set: ['a', 'b', 'c'], storedAt: 0 }]);
    const r = republisher(f, new EventTarget(), { random: () => random });
    r.start();
    try {
      const passesAfter = async (ms: number): Promise<number> => {
        t.mock.timers.tick(ms);
        for (let i = 0; i < 5; i++) await nextTurn();
        return f.passes();
      };
      assert.equal(await passesAfter(first - 1), 0, `random ${random}: not before ${first} ms`);
      assert.equal(await passesAfter(1), 1, `random ${random}: the first pass at ${first} ms`);
      assert.equal(await passesAfter(HOUR - 1), 1);
      assert.equal(await passesAfter(1), 2, `random ${random}: the next one an interval later`);
      await r.stop();
      assert.equal(await passesAfter(HOUR), 2, `random ${random}: none after stop`);
    } finally {
      await r.stop();
    }
  }
});

test('a scheduled pass and a change waiting behind a running pass run as one, with both rules', async () => {
  const now = Date.now();
  const f = fakeStore(
    [
      { name: 'q-old', set: ['a', 'q', 'b'], storedAt: now - 2 * HOUR },
      { name: 'due-old', set: ['a', 'b', 'c'], storedAt: now - 2 * HOUR },
      { name: 'p-recent', set: ['a', 'p', 'b'], storedAt: now - 10 * 60_000 },
      { name: 'recent', set: ['a', 'b', 'c'], storedAt: now - 10 * 60_000 },
    ],
    { hold: true },
  );
  const r = republisher(f);
  const first = r.republish(new Map([['q', now]]));
  await nextTurn();
  assert.deepEqual(f.reput, ['q-old'], 'the first pass is re-putting');
  const scheduled = r.republish();
  const change = r.republish(new Map([['p', now]]));
  for (let n = 1; n <= 3; n++) {
    f.finish.shift()?.();
    for (let i = 0; i < 5 && f.reput.length <= n; i++) await nextTurn();
  }
  await Promise.all([first, scheduled, change]);
  assert.deepEqual(f.reput, ['q-old', 'due-old', 'p-recent'], 'due on the schedule, or stored before p changed');
  assert.equal(f.passes(), 2);
});

test('a record whose re-put fails does not end the pass', async () => {
  const f = fakeStore([
    { name: 'refused', set: ['a', 'b', 'c'], storedAt: 0 },
    { name: 'next', set: ['a', 'b', 'c'], storedAt: 0 },
  ]);
  const replicate = f.store.replicate;
  f.store.replicate = (key, value, signal) =>
    new TextDecoder().decode(key).endsWith('/refused')
      ? Promise.reject(new Error('this node holds a newer version'))
      : replicate(key, value, signal);
  await republisher(f).republish();
  assert.deepEqual(f.reput, ['next']);
});

test('a re-put is under-replicated below the holders the store wants: all three, or a lone node itself', async () => {
  const warnings: { message: string; fields: unknown }[] = [];
  const logger = createLogger({
    level: 'warn',
    format: 'json',
    sink: (line) => warnings.push(JSON.parse(line) as { message: string; fields: unknown }),
  });
  const f = fakeStore([{ name: 'kept', set: ['self'], storedAt: 0, latest: true }]);
  const reported: [number, number][] = [];
  f.store.replicate = () => Promise.resolve(['self']); // nobody else to hold it
  f.store.replicated = (_subject, holders, want) => void reported.push([holders, want]);
  const pass = (wanted: number) => {
    f.store.holdersWanted = () => wanted;
    return new Republisher({
      store: f.store,
      membership: new EventTarget(),
      direct: f.direct,
      replication: 3,
      intervalMs: HOUR,
      provide: () => {},
      logger,
    }).republish();
  };
  await pass(1); // a lone node
  assert.equal(warnings.length, 0);
  await pass(3); // a member of a cluster that knows no peer now
  assert.deepEqual(
    warnings.map((w) => [w.message, w.fields]),
    [['decision under-replicated', { subject: 'kept', version: 1, holders: 1, want: 3 }]],
  );
  assert.deepEqual(
    reported,
    [
      [1, 3],
      [1, 3],
    ],
    'the store is told of dht.replication; it judges what it needs',
  );
});
