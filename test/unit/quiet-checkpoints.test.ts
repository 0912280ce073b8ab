// WAL checkpoints once writes pause (core/quiet-checkpoints.ts): the connection's in-line bound is raised; a pause
// of `quietMs` after `minCommits` commits copies the log into the database file (seen as the file's size: pages
// reach it only by a checkpoint), commits that keep coming and a busy loop put it off, and a close ends it. The DHT
// datastore counts each of its writes to the file.
import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test, type TestContext } from 'node:test';
import { Key } from 'interface-datastore';
import { ChorusDatastore } from '../../src/core/dht/datastore.ts';
import { INLINE_PAGES, QuietCheckpoints, type QuietCheckpointOptions } from '../../src/core/quiet-checkpoints.ts';

const ROW = new Uint8Array(16 * 1024);

/** A WAL database with one table, and what the file holds so far. */
function walDb(t: TestContext): { db: DatabaseSync; file: string; fileSize: () => number } {
  const file = join(mkdtempSync(join(tmpdir(), 'chorus-ckpt-')), 'test.db');
  const db = new DatabaseSync(file);
  t.after(() => {
    if (db.isOpen) db.close();
  });
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('CREATE TABLE kv (k INTEGER PRIMARY KEY, v BLOB)');
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)'); // the table's own pages in the file: later growth is the rows'
  return { db, file, fileSize: () => statSync(file).size };
}

/**
 * Mock timers and clock (from t = 1,000), a WAL database and its QuietCheckpoints (100 ms pauses, an idle loop unless
 * `opts` says otherwise), and the file's size before any row.
 */
function pausing(t: TestContext, opts: QuietCheckpointOptions = {}) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000 });
  const w = walDb(t);
  const ckpt = new QuietCheckpoints(w.db, { quietMs: 100, busy: () => false, ...opts });
  return { ...w, ckpt, before: w.fileSize() };
}

/** `n` commits of one 16 KiB row each, told to `ckpt`. */
function commit(db: DatabaseSync, ckpt: QuietCheckpoints, n: number): void {
  const insert = db.prepare('INSERT INTO kv (v) VALUES (?)');
  for (let i = 0; i < n; i++) {
    insert.run(ROW);
    ckpt.committed();
  }
}

test("the connection's own bound is raised, so that only sustained writes checkpoint in-line", (t) => {
  const { db } = walDb(t);
  new QuietCheckpoints(db);
  assert.equal(
    (db.prepare('PRAGMA wal_autocheckpoint').get() as { wal_autocheckpoint: number }).wal_autocheckpoint,
    INLINE_PAGES,
  );
  new QuietCheckpoints(db, { inlinePages: 123 });
  assert.equal(
    (db.prepare('PRAGMA wal_autocheckpoint').get() as { wal_autocheckpoint: number }).wal_autocheckpoint,
    123,
  );
});

test('a pause of quietMs after minCommits commits copies the log into the file', (t) => {
  const { db, fileSize, ckpt, before } = pausing(t, { minCommits: 3 });
  commit(db, ckpt, 3);
  assert.equal(ckpt.pending, 3);
  t.mock.timers.tick(99);
  assert.equal(fileSize(), before, 'no checkpoint before the pause has lasted quietMs');
  t.mock.timers.tick(1);
  assert.ok(fileSize() >= before + 3 * ROW.length, `the file holds the rows (${before} -> ${fileSize()} bytes)`);
  assert.equal(ckpt.pending, 0);
});

test('fewer than minCommits: a pause does not checkpoint', (t) => {
  const { db, fileSize, ckpt, before } = pausing(t, { minCommits: 3 });
  commit(db, ckpt, 2);
  t.mock.timers.tick(1_000);
  assert.equal(fileSize(), before);
  commit(db, ckpt, 1); // the third: the next pause checkpoints
  t.mock.timers.tick(100);
  assert.ok(fileSize() > before);
});

test('commits that keep coming put the checkpoint off until quietMs after the last one', (t) => {
  const { db, fileSize, ckpt, before } = pausing(t, { minCommits: 1 });
  commit(db, ckpt, 1); // t = 0: the timer is set for t = 100
  t.mock.timers.tick(50);
  commit(db, ckpt, 1); // t = 50
  t.mock.timers.tick(50); // t = 100: the timer finds 50 ms of pause and waits out the other 50
  assert.equal(fileSize(), before, 'no checkpoint 50 ms after a commit');
  t.mock.timers.tick(49);
  assert.equal(fileSize(), before, 'none 99 ms after it');
  t.mock.timers.tick(1); // t = 150, not 200: only the rest of the pause was waited for
  assert.ok(fileSize() >= before + 2 * ROW.length);
});

test('a checkpoint that a reader keeps from copying the whole log says so and keeps the count', (t) => {
  const { db, file, ckpt } = pausing(t, { minCommits: 1 });
  commit(db, ckpt, 1);
  const reader = new DatabaseSync(file);
  t.after(() => reader.close());
  reader.exec('BEGIN');
  reader.prepare('SELECT count(*) AS n FROM kv').get(); // a read transaction on the log as it is now
  commit(db, ckpt, 2); // frames the reader's snapshot does not include: they cannot reach the file yet
  assert.equal(ckpt.checkpoint(), false);
  assert.equal(ckpt.pending, 3);
  reader.exec('COMMIT');
  assert.equal(ckpt.checkpoint(), true);
  assert.equal(ckpt.pending, 0);
});

test('a busy loop puts the checkpoint off by quietMs, and it runs once the loop has room', (t) => {
  let busy = true;
  let asked = 0;
  const { db, fileSize, ckpt, before } = pausing(t, {
    minCommits: 1,
    busy: () => {
      asked++;
      return busy;
    },
  });
  commit(db, ckpt, 2);
  t.mock.timers.tick(100);
  assert.equal(fileSize(), before, 'busy: no checkpoint');
  assert.ok(asked >= 2, 'asked when the timer was set and when it fired');
  t.mock.timers.tick(100);
  assert.equal(fileSize(), before, 'still busy');
  busy = false;
  t.mock.timers.tick(100);
  assert.ok(fileSize() >= before + 2 * ROW.length);
});

test('close ends the checkpoints: no timer fires on a closed connection, and checkpoint() says it did not run', (t) => {
  const { db, fileSize, ckpt, before } = pausing(t, { minCommits: 1 });
  commit(db, ckpt, 1);
  ckpt.close();
  t.mock.timers.tick(1_000);
  assert.equal(fileSize(), before);
  assert.equal(ckpt.checkpoint(), false);
  commit(db, ckpt, 1); // a commit after close sets no timer
  t.mock.timers.tick(1_000);
  assert.equal(fileSize(), before);
  const other = new QuietCheckpoints(db, { busy: () => false });
  db.close();
  assert.equal(other.checkpoint(), false, 'a closed connection: nothing to do');
});

test('the DHT datastore counts each write to its file, checkpoints it, and keeps every record across a reopen', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'chorus-ckpt-ds-')), 'dht.db');
  const ds = new ChorusDatastore(file);
  t.after(() => ds.close());
  await ds.put(new Key('/dht/record/a'), ROW);
  await ds.put(new Key('/peers/memory-only'), ROW); // the peer store's keys stay in memory: no commit
  assert.equal(ds.checkpoints.pending, 1);
  await ds.delete(new Key('/dht/record/a'));
  assert.equal(ds.checkpoints.pending, 2);
  const batch = ds.batch();
  batch.put(new Key('/dht/record/b'), ROW);
  batch.put(new Key('/dht/record/c'), ROW);
  await batch.commit();
  assert.equal(ds.checkpoints.pending, 3, 'a batch is one commit');
  const memoryOnly = ds.batch();
  memoryOnly.put(new Key('/peers/other'), ROW);
  await memoryOnly.commit();
  assert.equal(ds.checkpoints.pending, 3, 'a batch with nothing for the file is none');
  const before = statSync(file).size;
  assert.equal(ds.checkpoints.checkpoint(), true);
  assert.ok(statSync(file).size >= before + 2 * ROW.length, 'the records reached the file');
  assert.equal(ds.checkpoints.pending, 0);
  await ds.put(new Key('/dht/record/d'), ROW); // left in the log: the close and the reopen keep it
  ds.close();
  const again = new ChorusDatastore(file);
  try {
    for (const k of ['b', 'c', 'd']) assert.deepEqual(await again.get(new Key(`/dht/record/${k}`)), ROW);
    await assert.rejects(Promise.resolve().then(() => again.get(new Key('/dht/record/a'))));
  } finally {
    again.close();
  }
});
