// WAL checkpoints on a worker thread (core/checkpoint-thread.ts): the worker copies a WAL database's log into its file
// on a connection of its own (seen as the file's size: pages reach it only by a checkpoint), says when a reader kept
// it from copying everything, never creates a file that is gone, and stops when idle. A writer asks once every
// `everyPages` pages of log (estimated from its commits), one request at a time; the event log asks for its own file.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test, type TestContext } from 'node:test';
import {
  CheckpointThread,
  WalCheckpointer,
  type CheckpointOutcome,
  type CheckpointRequests,
} from '../../src/core/checkpoint-thread.ts';
import { EventLog } from '../../src/core/eventlog/eventlog.ts';

const ROW = new Uint8Array(16 * 1024);

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'chorus-ckthread-'));
}

/** A WAL database with one table whose pages are in the file, and `rows` rows more in the log only. */
function walDb(t: TestContext, rows: number): { db: DatabaseSync; file: string; fileSize: () => number } {
  const file = join(tempDir(), 'test.db');
  const db = new DatabaseSync(file);
  t.after(() => {
    if (db.isOpen) db.close();
  });
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA wal_autocheckpoint = 0'); // no in-line checkpoint: pages reach the file only from the worker
  db.exec('CREATE TABLE kv (k INTEGER PRIMARY KEY, v BLOB)');
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  const insert = db.prepare('INSERT INTO kv (v) VALUES (?)');
  for (let i = 0; i < rows; i++) insert.run(ROW);
  return { db, file, fileSize: () => statSync(file).size };
}

function thread(t: TestContext, opts: ConstructorParameters<typeof CheckpointThread>[0] = {}): CheckpointThread {
  const th = new CheckpointThread(opts);
  t.after(() => th.stop());
  return th;
}

test("the worker copies a database's log into its file on a connection of its own", async (t) => {
  const { file, fileSize } = walDb(t, 8);
  const before = fileSize();
  const th = thread(t);
  assert.equal(th.running, false, 'no worker before the first request');
  assert.deepEqual(await th.checkpoint(file), { complete: true, restarted: true });
  assert.equal(th.running, true);
  assert.equal(th.completed, 1);
  assert.ok(fileSize() >= before + 8 * ROW.length, `the rows reached the file (${before} → ${fileSize()} bytes)`);
});

test('a reader that holds an older snapshot keeps the checkpoint from completing, and it says so', async (t) => {
  const { db, file } = walDb(t, 2);
  const reader = new DatabaseSync(file);
  t.after(() => reader.close());
  reader.exec('BEGIN');
  reader.prepare('SELECT count(*) FROM kv').get(); // the snapshot: two rows
  db.prepare('INSERT INTO kv (v) VALUES (?)').run(ROW); // a frame the reader's snapshot must not see in the file
  const th = thread(t);
  assert.deepEqual(await th.checkpoint(file), { complete: false, restarted: false });
  assert.equal(th.completed, 0);
  reader.exec('COMMIT');
  assert.deepEqual(
    await th.checkpoint(file),
    { complete: true, restarted: true },
    'once the reader is done, the rest goes',
  );
});

test('a file that is gone is an error, and no empty database is made in its place', async (t) => {
  const file = join(tempDir(), 'gone.db');
  const outcome = await thread(t).checkpoint(file);
  assert.equal(outcome.complete, false);
  assert.match(outcome.error ?? '', /unable to open/);
  assert.equal(existsSync(file), false);
});

test('a path with characters that mean something in a URL reaches the right file', async (t) => {
  const dir = join(tempDir(), 'a b?c#d%20e');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir);
  const file = join(dir, 'x.db');
  const db = new DatabaseSync(file);
  t.after(() => db.close());
  db.exec('PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE kv (v BLOB)');
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  const before = statSync(file).size;
  db.prepare('INSERT INTO kv (v) VALUES (?)').run(ROW);
  assert.deepEqual(await thread(t).checkpoint(file), { complete: true, restarted: true });
  assert.ok(statSync(file).size > before);
});

test('the worker stops once no request came for idleMs, and starts again with the next', async (t) => {
  const { file } = walDb(t, 1);
  let stops = 0;
  let stopped: () => void = () => {};
  const th = thread(t, {
    idleMs: 20,
    onStop: () => {
      stops++;
      stopped();
    },
  });
  const firstStop = new Promise<void>((resolve) => (stopped = resolve));
  assert.equal((await th.checkpoint(file)).complete, true);
  await firstStop;
  assert.equal(th.running, false);
  assert.equal(stops, 1);
  assert.equal((await th.checkpoint(file)).complete, true);
  assert.equal(th.running, true);
  assert.equal(th.completed, 2);
});

/** A thread that holds each request until the test answers it. */
function heldRequests(): CheckpointRequests & { asked: string[]; answer: () => void } {
  const waiting: ((o: CheckpointOutcome) => void)[] = [];
  return {
    available: true,
    asked: [],
    checkpoint(file) {
      this.asked.push(file);
      return new Promise((resolve) => waiting.push(resolve));
    },
    answer() {
      waiting.shift()?.({ complete: true, restarted: true });
    },
  };
}

test('a writer asks once its commits come to everyPages pages, and not again while its request is out', async () => {
  const requests = heldRequests();
  // a commit is two pages besides its data (a page is 4 KiB)
  const ckpt = new WalCheckpointer('/data/events.db', { everyPages: 10, thread: requests });
  ckpt.committed(0);
  ckpt.committed(4096);
  assert.deepEqual(requests.asked, [], '2 + 3 pages');
  ckpt.committed(3 * 4096);
  assert.deepEqual(requests.asked, ['/data/events.db'], '10 pages');
  assert.equal(ckpt.pending, 0);
  ckpt.committed(40 * 4096);
  assert.equal(requests.asked.length, 1, 'one request at a time, however large the commits');
  assert.equal(ckpt.pending, 42);
  requests.answer();
  await Promise.resolve();
  await Promise.resolve();
  ckpt.committed(0);
  assert.equal(requests.asked.length, 2, 'the pages counted while it was out start the next');
  ckpt.close();
  requests.answer();
  for (let i = 0; i < 9; i++) ckpt.committed(4096);
  assert.equal(requests.asked.length, 2, 'none after close');
});

test('a writer asks nothing of a thread that is not available (its checkpoints stay in-line)', () => {
  const requests = { ...heldRequests(), available: false };
  const ckpt = new WalCheckpointer('/data/events.db', { everyPages: 1, thread: requests });
  for (let i = 0; i < 5; i++) ckpt.committed(0);
  assert.deepEqual(requests.asked, []);
});

test('the event log has its own file checkpointed on the thread as entries go in, and every entry stays', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const signer = {
    author: 'ckpt-test',
    sign: (data: Uint8Array) => sign(null, data, privateKey),
    verify: (data: Uint8Array, sig: Uint8Array) => verify(null, data, publicKey, sig),
  };
  const file = join(tempDir(), 'events.db');
  const th = thread(t);
  const outcomes: Promise<CheckpointOutcome>[] = [];
  const requests: CheckpointRequests = {
    available: true,
    checkpoint: (f) => {
      assert.equal(f, file);
      const outcome = th.checkpoint(f);
      outcomes.push(outcome);
      return outcome;
    },
  };
  const log = EventLog.open(file, signer, { checkpoints: requests });
  t.after(() => log.close());
  const before = statSync(file).size;
  // each append: 2 pages and ~4,300 bytes of entry, ~3.05 pages: 160 pages after the 53rd
  for (let i = 0; i < 52; i++) log.append('message_in', { i, body: 'x'.repeat(4000) });
  assert.equal(outcomes.length, 0, 'fewer pages than everyPages ask nothing');
  log.append('message_in', { i: 52, body: 'x'.repeat(4000) });
  assert.equal(outcomes.length, 1);
  assert.deepEqual(await outcomes[0], { complete: true, restarted: true });
  assert.ok(statSync(file).size >= before + 52 * 4000, 'the entries reached the database file');
  assert.equal(log.size, 53);
  assert.equal(log.verify().ok, true);
});
