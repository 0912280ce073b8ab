// WAL checkpoints on a worker thread (core/checkpoint-thread.ts): the worker copies a WAL database's log into its file
// on a connection of its own (seen as the file's size: pages reach it only by a checkpoint), says when a reader kept
// it from copying everything, never creates a file that is gone nor opens one whose gate is closed, keeps every
// commit made meanwhile, and stops when idle. A writer asks once every `everyPages` pages of log (estimated from its
// commits), one request at a time, and finishes the copy of a long log on its own connection; the event log asks for
// its own file and finishes its own copies.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test, type TestContext } from 'node:test';
import {
  CheckpointThread,
  FileGate,
  WalCheckpointer,
  type CheckpointOutcome,
  type CheckpointRequests,
} from '../../src/core/checkpoint-thread.ts';
import { EventLog, type LogSigner } from '../../src/core/eventlog/eventlog.ts';

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
  const outcome = await th.checkpoint(file);
  assert.equal(outcome.complete, true);
  assert.ok(outcome.frames >= 8 * 4, `the log's length in frames (${outcome.frames})`);
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
  assert.equal((await th.checkpoint(file)).complete, false);
  assert.equal(th.completed, 0);
  reader.exec('COMMIT');
  assert.equal((await th.checkpoint(file)).complete, true, 'once the reader is done, the rest goes');
});

test('a closed gate keeps the worker from opening the file, and no -wal or -shm file appears', async (t) => {
  const { db, file } = walDb(t, 2);
  db.close(); // the last connection: SQLite copies the log and removes -wal and -shm
  assert.equal(existsSync(`${file}-wal`), false);
  const gate = new FileGate();
  gate.close();
  assert.equal(gate.closed, true);
  const outcome = await thread(t).checkpoint(file, gate);
  assert.deepEqual(outcome, { complete: false, frames: 0, error: 'the file was closed' });
  assert.equal(existsSync(`${file}-wal`) || existsSync(`${file}-shm`), false);
  const open = new FileGate();
  assert.equal((await thread(t).checkpoint(file, open)).complete, true, 'an open gate lets it in');
  assert.equal(open.closed, false);
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
  assert.equal((await thread(t).checkpoint(file)).complete, true);
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
function heldRequests(): CheckpointRequests & { asked: string[]; answer: (o?: CheckpointOutcome) => void } {
  const waiting: ((o: CheckpointOutcome) => void)[] = [];
  return {
    available: true,
    asked: [],
    checkpoint(file) {
      this.asked.push(file);
      return new Promise((resolve) => waiting.push(resolve));
    },
    answer(outcome = { complete: true, frames: 100 }) {
      waiting.shift()?.(outcome);
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

test('a writer finishes the copy itself only after a long log was copied whole, and not once closed', async () => {
  const requests = heldRequests();
  let finished = 0;
  const ckpt = new WalCheckpointer('/data/events.db', {
    everyPages: 1,
    restartFrames: 500,
    thread: requests,
    finish: () => finished++,
  });
  const answered = async (outcome: CheckpointOutcome): Promise<void> => {
    ckpt.committed(0);
    requests.answer(outcome);
    await new Promise((resolve) => setImmediate(resolve));
  };
  await answered({ complete: true, frames: 400 });
  assert.equal(finished, 0, 'a short log starts again by itself');
  await answered({ complete: false, frames: 900 });
  assert.equal(finished, 0, 'a log not copied whole');
  await answered({ complete: true, frames: 900 });
  assert.equal(finished, 1);
  ckpt.committed(0);
  ckpt.close();
  requests.answer({ complete: true, frames: 900 });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(finished, 1, 'not after close');
});

test('commits that go on while the worker checkpoints and the writer finishes its copies lose nothing', async (t) => {
  const file = join(tempDir(), 'busy.db');
  const db = new DatabaseSync(file, { timeout: 5000 });
  t.after(() => db.close());
  db.exec('PRAGMA journal_mode = WAL; CREATE TABLE kv (k INTEGER PRIMARY KEY, v BLOB)');
  const th = thread(t);
  const outcomes: Promise<CheckpointOutcome>[] = [];
  const requests: CheckpointRequests = {
    available: true,
    checkpoint: (f, gate) => {
      const outcome = th.checkpoint(f, gate);
      outcomes.push(outcome);
      return outcome;
    },
  };
  // every log copied whole is finished on this connection, as the event log does
  const finish = () => db.exec('PRAGMA wal_checkpoint(PASSIVE)');
  const ckpt = new WalCheckpointer(file, { thread: requests, everyPages: 20, restartFrames: 0, finish });
  const insert = db.prepare('INSERT INTO kv (v) VALUES (?)');
  for (let i = 0; i < 2000; i++) {
    insert.run(ROW.subarray(0, 3000));
    ckpt.committed(3000);
    if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve)); // the worker's answers come in
  }
  const done = await Promise.all(outcomes);
  ckpt.close();
  assert.ok(done.length >= 10, `requests went out while commits went on (${done.length})`);
  assert.deepEqual(
    done.filter((o) => o.error !== undefined),
    [],
    'every checkpoint ran (whether it copied everything depends on the timing)',
  );
  assert.equal((db.prepare('SELECT count(*) AS n FROM kv').get() as { n: number }).n, 2000);
  assert.deepEqual(
    db
      .prepare('PRAGMA integrity_check')
      .all()
      .map((row) => row.integrity_check),
    ['ok'],
  );
});

/** An event log's signer and a path for its file. */
function newLog(): { signer: LogSigner; file: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const signer = {
    author: 'ckpt-test',
    sign: (data: Uint8Array) => sign(null, data, privateKey),
    verify: (data: Uint8Array, sig: Uint8Array) => verify(null, data, publicKey, sig),
  };
  return { signer, file: join(tempDir(), 'events.db') };
}

test('the event log has its own file checkpointed on the thread as entries go in, and every entry stays', async (t) => {
  const { signer, file } = newLog();
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
  assert.equal((await (outcomes[0] as Promise<CheckpointOutcome>)).complete, true);
  assert.ok(statSync(file).size >= before + 52 * 4000, 'the entries reached the database file');
  assert.equal(log.size, 53);
  assert.equal(log.verify().ok, true);
});

test("the event log finishes a long log's copy on its own connection", async (t) => {
  const { signer, file } = newLog();
  // a thread that copies nothing but says it copied a long log whole: only the log's own finish can move pages
  let answered: Promise<CheckpointOutcome> | undefined;
  const requests: CheckpointRequests = {
    available: true,
    checkpoint: () => (answered = Promise.resolve({ complete: true, frames: 10_000 })),
  };
  const log = EventLog.open(file, signer, { checkpoints: requests });
  t.after(() => log.close());
  const before = statSync(file).size;
  for (let i = 0; i < 53; i++) log.append('message_in', { i, body: 'x'.repeat(4000) });
  assert.ok(answered, 'a request went out');
  await (answered as Promise<CheckpointOutcome>);
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(statSync(file).size >= before + 52 * 4000, 'the log reached the database file');
  assert.equal(log.verify().ok, true);
});
