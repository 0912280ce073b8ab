// Event-log retention: the oldest entries go by age and by size, a signed checkpoint anchors the cut, and
// verification still proves every kept entry — and still catches an edit, a drop or a reorder after the cut.
// Also the per-peer rate limit on what is logged of received messages.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { ChorusError } from '../../src/core/errors.ts';
import { EventLog, compactLog, type LogEntry, type LogSigner } from '../../src/core/eventlog/eventlog.ts';
import { PeerRateLimit } from '../../src/core/eventlog/ratelimit.ts';
import { DAY_MS, LogRetention, type RetentionPolicy } from '../../src/core/eventlog/retention.ts';
import { silentLogger } from '../../src/core/log.ts';
import { EventRecorder } from '../../src/core/node/recorder.ts';
import { signerFor } from '../../src/core/p2p/signer.ts';
import { Redactor } from '../../src/core/shhh/redactor.ts';
import { until } from '../helpers/poll.ts';

const KEYS = generateKeyPairSync('ed25519');
const AUTHOR = '12D3KooWRetentionTestAuthor';
const SIGNER: LogSigner = {
  author: AUTHOR,
  sign: (data) => sign(null, data, KEYS.privateKey),
  verify: (data, sig) => verify(null, data, KEYS.publicKey, sig),
};
const byAuthor = (_author: string, data: Uint8Array, sig: Uint8Array): boolean =>
  verify(null, data, KEYS.publicKey, sig);

const root = mkdtempSync(join(tmpdir(), 'chorus-retention-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const freshFile = (): string => join(root, `case-${++counter}`, 'events.db');

/** ~600-byte entries, like a received task message. */
function fill(log: EventLog, n: number): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = 0; i < n; i += 1) out.push(log.append('task_progress', { i, note: 'n'.repeat(500) }));
  return out;
}

const BY_SIZE: RetentionPolicy = { maxAgeMs: 0, maxBytes: 256 * 1024 };

function raw(file: string, sql: string, ...params: (string | number)[]): void {
  const db = new DatabaseSync(file, { timeout: 5000 });
  try {
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

describe('retention by size', () => {
  it('keeps the live data under the limit and the file bounded while the log keeps growing', async () => {
    const file = freshFile();
    const log = EventLog.open(file, SIGNER);
    let removed = 0;
    for (let round = 0; round < 8; round += 1) {
      fill(log, 500); // ~300 KiB a round: more than the whole limit
      const r = await compactLog(log, BY_SIZE);
      removed += r.removed;
      assert.ok(r.liveBytesAfter <= BY_SIZE.maxBytes, `round ${round}: ${r.liveBytesAfter} live bytes`);
    }
    assert.equal(log.head.seq, 4000);
    assert.ok(removed > 3000, `removed ${removed}`);
    // freed pages are reused: the file stays near the limit instead of growing with everything ever written
    assert.ok(log.bytes().file < 3 * BY_SIZE.maxBytes, `file ${log.bytes().file} bytes`);
    const report = log.verify();
    assert.equal(report.ok, true, JSON.stringify(report.problem));
    assert.equal(report.from, 4000 - report.entries + 1);
    assert.equal(report.checkpoint?.seq, report.from - 1);
    assert.equal(report.headSeq, 4000);
    log.close();
    const offline = EventLog.verifyFile(file, byAuthor);
    assert.equal(offline.ok, true);
    assert.equal(offline.from, report.from);
  });

  it('log compact gives the freed space back to the file system', async () => {
    const file = freshFile();
    const log = EventLog.open(file, SIGNER);
    fill(log, 3000); // ~1.8 MiB
    log.close();
    const before = statSync(file).size;
    const again = EventLog.open(file, SIGNER);
    const r = await compactLog(again, BY_SIZE, { release: true });
    again.close(); // checkpoints the WAL into the file
    assert.ok(r.removed > 2000);
    assert.ok(r.fileBytesAfter < r.fileBytesBefore / 3, `${r.fileBytesBefore} → ${r.fileBytesAfter}`);
    assert.ok(statSync(file).size < before / 3, `${before} → ${statSync(file).size} bytes on disk`);
  });
});

describe('retention by age', () => {
  it('removes exactly the entries older than maxAge and never the newest', async () => {
    const log = EventLog.open(freshFile(), SIGNER);
    const entries = fill(log, 300);
    // "now" is a day after entry 150 was written: entries written before that moment are over the limit
    const pivot = entries[149] as LogEntry;
    const now = new Date(Date.parse(pivot.time) + DAY_MS + 1);
    const cutoff = new Date(now.getTime() - DAY_MS).toISOString();
    const r = await compactLog(log, { maxAgeMs: DAY_MS, maxBytes: 0 }, { now });
    const kept = log.since(0);
    assert.ok(r.removed >= 150, `removed ${r.removed}`);
    assert.equal(kept[0]?.seq, r.from);
    assert.ok(kept.every((e) => e.time >= cutoff));
    assert.ok((r.checkpoint?.entryTime ?? '') < cutoff, 'the last removed entry was over the limit');
    // everything is old a year later, yet the newest entry stays: it carries the chain on
    const later = await compactLog(
      log,
      { maxAgeMs: DAY_MS, maxBytes: 0 },
      { now: new Date(Date.now() + 365 * DAY_MS) },
    );
    assert.ok(later.removed > 0);
    assert.deepEqual(
      log.since(0).map((e) => e.seq),
      [300],
    );
    assert.equal(log.verify().ok, true);
    const next = log.append('decision', { after: 'compaction' });
    assert.equal(next.seq, 301);
    assert.equal(log.verify().ok, true);
    log.close();
  });

  it("LogRetention (the node's periodic pass) compacts; an empty policy is switched off", async () => {
    const file = freshFile();
    const log = EventLog.open(file, SIGNER);
    const newest = fill(log, 100).at(-1) as LogEntry;
    // the policy below keeps what is under 1 ms old: every entry but the newest must be past that (entry times
    // have millisecond precision, so the clock waits out one more)
    await until('the entries are over 1 ms old', () => Date.now() >= Date.parse(newest.time) + 2, { intervalMs: 1 });
    const none = new LogRetention(log, { policy: { maxAgeMs: 0, maxBytes: 0 } });
    assert.equal(none.enabled, false);
    const retention = new LogRetention(log, { policy: { maxAgeMs: 1, maxBytes: 0 }, logger: silentLogger });
    await retention.runOnce();
    assert.deepEqual(
      log.since(0).map((e) => e.seq),
      [100],
    );
    retention.stop();
    log.close();
  });
});

describe('verification after compaction', () => {
  const ALL_OVER: RetentionPolicy = { maxAgeMs: 0, maxBytes: 1 };

  /** 60 entries, cut at entry 40 (one step of 40), closed; 41..60 are kept. */
  function compacted(): { file: string; entries: LogEntry[] } {
    const file = freshFile();
    const log = EventLog.open(file, SIGNER);
    const entries = fill(log, 60);
    const step = log.compactStep(ALL_OVER, { batch: 40 });
    assert.equal(step.removed, 40);
    assert.equal(step.checkpoint?.seq, 40);
    assert.equal(step.checkpoint?.hash, entries[39]?.hash);
    log.close();
    return { file, entries };
  }

  it('passes, and says it verifies from the entry after the checkpoint', async () => {
    const { file } = compacted();
    const r = EventLog.verifyFile(file, byAuthor);
    assert.equal(r.ok, true, JSON.stringify(r.problem));
    assert.equal(r.from, 41);
    assert.equal(r.checkpoint?.seq, 40);
    assert.equal(r.checkpoint?.author, AUTHOR);
    assert.equal(r.entries, 20);
    assert.equal(r.headSeq, 60);
  });

  it('an edited entry after the cut → edited', async () => {
    const { file } = compacted();
    const from = EventLog.verifyFile(file, byAuthor).from;
    raw(file, 'UPDATE entries SET data = ? WHERE seq = ?', '{"i":-1}', from + 5);
    const r = EventLog.verifyFile(file, byAuthor);
    assert.equal(r.problem?.kind, 'edited');
    assert.equal(r.problem?.seq, from + 5);
    assert.equal(r.entries, 5);
  });

  it('the first entry after the cut dropped → dropped, naming the missing entries', async () => {
    const { file } = compacted();
    const from = EventLog.verifyFile(file, byAuthor).from;
    raw(file, 'DELETE FROM entries WHERE seq <= ?', from + 2);
    const r = EventLog.verifyFile(file, byAuthor);
    assert.equal(r.problem?.kind, 'dropped');
    assert.equal(r.problem?.seq, from);
    assert.match(
      r.problem?.message ?? '',
      new RegExp(`entries ${from}\\.\\.${from + 2} are missing.*checkpoint is at entry ${from - 1}`),
    );
  });

  it('a middle entry dropped → dropped', async () => {
    const { file } = compacted();
    const from = EventLog.verifyFile(file, byAuthor).from;
    raw(file, 'DELETE FROM entries WHERE seq = ?', from + 4);
    const r = EventLog.verifyFile(file, byAuthor);
    assert.equal(r.problem?.kind, 'dropped');
    assert.equal(r.problem?.seq, from + 4);
  });

  it('two entries after the cut swapped → reordered', async () => {
    const { file } = compacted();
    const from = EventLog.verifyFile(file, byAuthor).from;
    const [a, b] = [from + 3, from + 4];
    raw(file, 'UPDATE entries SET seq = -1 WHERE seq = ?', a);
    raw(file, 'UPDATE entries SET seq = ? WHERE seq = ?', a, b);
    raw(file, 'UPDATE entries SET seq = ? WHERE seq = -1', b);
    const r = EventLog.verifyFile(file, byAuthor);
    assert.equal(r.problem?.kind, 'reordered');
    assert.equal(r.problem?.seq, a);
  });

  it('the checkpoint deleted → the log no longer verifies (the cut is not explained)', async () => {
    const { file } = compacted();
    raw(file, 'DELETE FROM checkpoint');
    const r = EventLog.verifyFile(file, byAuthor);
    assert.equal(r.problem?.kind, 'dropped');
    assert.equal(r.problem?.seq, 1);
    assert.match(r.problem?.message ?? '', /no checkpoint covers/);
  });

  it('a forged checkpoint (moved further, signature not by the node) → bad_checkpoint', async () => {
    const { file } = compacted();
    raw(file, 'UPDATE checkpoint SET signature = ?', randomBytes(64).toString('base64'));
    assert.equal(EventLog.verifyFile(file, byAuthor).problem?.kind, 'bad_checkpoint');
  });

  it('an old checkpoint put back after a later cut → the first kept entry does not link', async () => {
    const file = freshFile();
    const log = EventLog.open(file, SIGNER);
    fill(log, 50);
    log.compactStep(ALL_OVER, { batch: 10 }); // checkpoint at 10
    log.close();
    const db = new DatabaseSync(file, { timeout: 5000 });
    const first = db.prepare('SELECT * FROM checkpoint').get();
    db.close();
    assert.ok(first);
    const again = EventLog.open(file, SIGNER);
    fill(again, 30);
    again.compactStep(ALL_OVER, { batch: 20 }); // checkpoint at 30
    again.close();
    assert.equal(EventLog.verifyFile(file, byAuthor).ok, true);
    // replay the earlier, genuinely signed checkpoint
    raw(file, 'DELETE FROM checkpoint');
    raw(
      file,
      'INSERT INTO checkpoint (seq, hash, entry_time, time, author, signature) VALUES (?, ?, ?, ?, ?, ?)',
      Number(first.seq),
      String(first.hash),
      String(first.entry_time),
      String(first.time),
      String(first.author),
      String(first.signature),
    );
    const r = EventLog.verifyFile(file, byAuthor);
    assert.equal(r.ok, false);
    assert.equal(r.problem?.kind, 'dropped');
    assert.match(
      r.problem?.message ?? '',
      /entries 11\.\.30 are missing: the log starts at entry 31 but the checkpoint is at entry 10/,
    );
  });

  it('reopening a compacted log continues its chain; a tampered stretch is never compacted away', async () => {
    const { file } = compacted();
    const log = EventLog.open(file, SIGNER);
    const next = log.append('decision', { n: 61 });
    assert.equal(next.seq, 61);
    assert.equal(log.verify().ok, true);
    const from = log.verify().from;
    raw(file, 'UPDATE entries SET data = ? WHERE seq = ?', '{"i":"rewritten"}', from + 2);
    await assert.rejects(
      compactLog(log, ALL_OVER),
      (err: unknown) => err instanceof ChorusError && err.code === 'EVENTLOG_CORRUPT' && /edited/.test(err.message),
    );
    assert.equal(log.verify().from, from, 'nothing was removed');
    log.close();
  });
});

describe('per-peer rate limit on what is logged', () => {
  it('a flooding peer is counted (one summary per window) while another peer is logged message by message', async () => {
    const log = EventLog.open(freshFile(), signerFor(await generateKeyPair('Ed25519')));
    let now = 1_000_000;
    const limit = new PeerRateLimit({ perWindow: 50, windowMs: 60_000, now: () => now });
    const recorder = new EventRecorder(log, new Redactor(), silentLogger, limit);
    const message = (from: string, n: number) => ({ direction: 'in', topic: 'CHORUS/coordination/v1', from, n });
    for (let n = 0; n < 5000; n += 1) {
      recorder.record('TaskProgress', message('flooder', n));
      if (n % 100 === 0) recorder.record('TaskProgress', message('quiet', n));
    }
    recorder.flush();
    const logged = (from: string) => log.since(0).filter((e) => (e.data as { from?: string }).from === from);
    assert.equal(logged('flooder').length, 50);
    assert.equal(logged('quiet').length, 50);
    assert.equal(log.since(0).filter((e) => e.type === 'rate_limited').length, 0, 'the window has not ended');
    // the next window: the flooder's first message closes the last one with one summary entry
    now += 60_000;
    recorder.record('TaskProgress', message('flooder', 5000));
    recorder.flush();
    const summaries = log.since(0).filter((e) => e.type === 'rate_limited');
    assert.equal(summaries.length, 1);
    assert.deepEqual(summaries[0]?.data, {
      peer: 'flooder',
      dropped: 4950,
      logged: 50,
      limit: 50,
      window_start: new Date(1_000_000).toISOString(),
      window_ms: 60_000,
    });
    assert.equal(logged('flooder').length, 51);
    // stopping sums up the window in progress, before the stop entry
    for (let n = 0; n < 80; n += 1) recorder.record('TaskProgress', message('flooder', n));
    recorder.record('node_stopped', {});
    recorder.flush();
    const tail = log.tail(2);
    assert.equal(tail[0]?.type, 'rate_limited');
    assert.equal((tail[0]?.data as { dropped: number }).dropped, 31);
    assert.equal(tail[1]?.type, 'node_stopped');
    assert.ok(log.size < 200, `${log.size} entries for 5,000+ messages`);
    assert.equal(log.verify().ok, true);
    log.close();
  });

  it('own messages and local events are never limited; the shared bucket bounds memory', () => {
    let now = 0;
    const limit = new PeerRateLimit({ perWindow: 1, maxPeers: 2, now: () => now });
    assert.equal(limit.admit('a'), true);
    assert.equal(limit.admit('b'), true);
    assert.equal(limit.admit('c'), true, 'the third peer opens the shared bucket');
    assert.equal(limit.admit('d'), false, 'and the fourth shares it');
    now = 60_000;
    assert.deepEqual(
      limit.roll().map((s) => [s.peer, s.dropped]),
      [['*', 1]],
    );
    assert.equal(new PeerRateLimit({ perWindow: 0 }).enabled, false);
  });
});
