// Tests for src/core/eventlog: append/read/reopen, tamper detection, cross-process follow, kill -9 durability.

import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setImmediate } from 'node:timers/promises';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalJson as rfc8785 } from '../../src/core/canonical.ts';
import { tolerantCanonicalJson } from '../../src/core/eventlog/canonical.ts';
import { EventLog, ZERO_HASH, canonicalJson, entryHash } from '../../src/core/eventlog/eventlog.ts';
import type { LogEntry, LogSigner } from '../../src/core/eventlog/eventlog.ts';
import { LOG_TYPES, logTypeForMessage } from '../../src/core/eventlog/types.ts';
import { ChorusError } from '../../src/core/errors.ts';
import { garbageInMiddle, truncateFile } from '../helpers/damage.ts';
import { runCli } from '../helpers/run.ts';

const WRITER = join(import.meta.dirname, '..', 'fixtures', 'eventlog-writer.ts');
const AUTHOR = '12D3KooWTestAuthorEventLog';

interface Keys {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

function makeKeys(): Keys {
  return generateKeyPairSync('ed25519');
}

function makeSigner(keys: Keys, author = AUTHOR): LogSigner {
  return {
    author,
    sign: (data) => sign(null, data, keys.privateKey),
    verify: (data, sig) => verify(null, data, keys.publicKey, sig),
  };
}

const KEYS = makeKeys();
const SIGNER = makeSigner(KEYS);
const verifyWith =
  (keys: Keys) =>
  (_author: string, data: Uint8Array, sig: Uint8Array): boolean =>
    verify(null, data, keys.publicKey, sig);

const root = mkdtempSync(join(tmpdir(), 'chorus-eventlog-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
function freshFile(): string {
  counter += 1;
  return join(root, `case-${counter}`, 'events.db');
}

function fill(log: EventLog, n: number): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = 1; i <= n; i += 1) out.push(log.append('task_progress', { i, note: `step ${i}` }));
  return out;
}

function rawDb(file: string): DatabaseSync {
  return new DatabaseSync(file, { timeout: 5000 });
}

function spawnWriter(file: string, count: number): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [WRITER, file, String(count)], {
    env: {
      ...process.env,
      CHORUS_TEST_LOG_KEY: KEYS.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      CHORUS_TEST_LOG_AUTHOR: AUTHOR,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

describe('canonicalJson', () => {
  it('sorts keys recursively, has no whitespace, and matches JSON.stringify otherwise', () => {
    const value = { b: [3, { z: 1, a: undefined, y: 'x' }], a: { d: null, c: true }, n: -0, f: () => 1 };
    assert.equal(canonicalJson(value), '{"a":{"c":true,"d":null},"b":[3,{"y":"x","z":1}],"n":0}');
    assert.equal(canonicalJson({ b: 1, a: 2 }), canonicalJson({ a: 2, b: 1 }));
    assert.equal(canonicalJson([undefined, NaN, new Date(0)]), '[null,null,"1970-01-01T00:00:00.000Z"]');
    assert.throws(() => canonicalJson(1n), ChorusError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(() => canonicalJson(cyclic), ChorusError);
  });

  it('is RFC 8785 for every value RFC 8785 encodes (so logs written before verify unchanged); tolerant otherwise', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        assert.equal(tolerantCanonicalJson(value), rfc8785(value));
        assert.equal(canonicalJson(value), rfc8785(value));
      }),
      { numRuns: 2000 },
    );
    // what RFC 8785 refuses is still logged: a lone surrogate or a non-finite number in a peer's message
    assert.equal(canonicalJson({ s: 'lone \ud800', n: Infinity }), '{"n":null,"s":"lone \\ud800"}');
  });

  it('entry hashes are sha256 over canonicalJson of the six fields', () => {
    const log = EventLog.open(freshFile(), SIGNER);
    const e = log.append('decision', { z: 'last', a: [1, 2] });
    const { seq, time, type, data, author, prevHash } = e;
    const expected = createHash('sha256')
      .update(canonicalJson({ seq, time, type, data, author, prevHash }))
      .digest('hex');
    assert.equal(e.hash, expected);
    assert.equal(entryHash(seq, time, type, canonicalJson(data), author, prevHash), expected);
    assert.ok(verify(null, Buffer.from(e.hash, 'hex'), KEYS.publicKey, Buffer.from(e.signature, 'base64')));
    log.close();
  });
});

describe('log types', () => {
  it('maps pubsub message types to log types', () => {
    assert.equal(LOG_TYPES.length, 24);
    assert.equal(logTypeForMessage('TaskAnnouncement'), 'task_announced');
    assert.equal(logTypeForMessage('TaskClaim'), 'task_claimed');
    assert.equal(logTypeForMessage('TaskProgress'), 'task_progress');
    assert.equal(logTypeForMessage('TaskComplete'), 'task_completed');
    assert.equal(logTypeForMessage('CapabilityBcast'), 'capability_broadcast');
    assert.equal(logTypeForMessage('AvailabilityBcast'), 'network_event');
    assert.equal(logTypeForMessage('EscalationTrigger'), 'escalation');
    assert.equal(logTypeForMessage('FeedbackEvent'), 'context_feedback');
    assert.equal(logTypeForMessage('ContextUsage'), 'context_feedback');
    assert.equal(logTypeForMessage('ContextRelevance'), 'context_feedback');
    assert.equal(logTypeForMessage('ContextRequest'), 'context_request');
    assert.equal(logTypeForMessage('ContextResponse'), 'context_response');
    for (const m of ['SlurpEventGenerated', 'SlurpEventAck', 'SlurpContextUpdate']) {
      assert.equal(logTypeForMessage(m), 'slurp_event');
    }
    for (const m of [
      'MetaDiscussion',
      'TaskHelpRequest',
      'CoordinationComplete',
      'DependencyAlert',
      'DeliverableReady',
    ]) {
      assert.equal(logTypeForMessage(m), 'collaboration');
    }
    assert.equal(logTypeForMessage('SomethingElse'), 'message_in');
  });
});

describe('EventLog basics', () => {
  it('append / tail / since / head / size', () => {
    const log = EventLog.open(freshFile(), SIGNER);
    assert.equal(log.size, 0);
    assert.deepEqual(log.head, { seq: 0, hash: ZERO_HASH });
    assert.deepEqual(log.tail(5), []);

    const first = log.append('node_started', undefined);
    assert.equal(first.seq, 1);
    assert.equal(first.prevHash, ZERO_HASH);
    assert.equal(first.author, AUTHOR);
    assert.equal(first.data, null);
    assert.match(first.hash, /^[0-9a-f]{64}$/);

    const rest = fill(log, 9);
    assert.deepEqual(
      rest.map((e) => e.seq),
      [2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    assert.equal(rest[0]?.prevHash, first.hash);
    for (let i = 1; i < rest.length; i += 1) assert.equal(rest[i]?.prevHash, rest[i - 1]?.hash);
    for (let i = 1; i < rest.length; i += 1) assert.ok((rest[i]?.time ?? '') >= (rest[i - 1]?.time ?? ''));

    assert.equal(log.size, 10);
    assert.deepEqual(log.head, { seq: 10, hash: rest[8]?.hash });
    assert.deepEqual(log.tail(3), rest.slice(6));
    assert.deepEqual(log.tail(100).length, 10);
    assert.deepEqual(log.since(7), rest.slice(6));
    assert.deepEqual(log.since(2, 2), rest.slice(1, 3));
    assert.deepEqual(log.since(10), []);
    assert.deepEqual(log.since(0)[0], first);
    assert.throws(
      () => log.append('not_a_type' as never, {}),
      (err: unknown) => err instanceof ChorusError && err.code === 'EVENTLOG_BAD_TYPE',
    );
    assert.deepEqual(log.verify(), { ok: true, from: 1, entries: 10, headSeq: 10, headHash: rest[8]?.hash });
    log.close();
    assert.throws(
      () => log.append('decision', {}),
      (err: unknown) => err instanceof ChorusError,
    );
  });

  it('entries survive close + reopen and the chain continues', () => {
    const file = freshFile();
    const log = EventLog.open(file, SIGNER);
    const written = fill(log, 5);
    log.close();

    const again = EventLog.open(file, SIGNER);
    assert.equal(again.size, 5);
    assert.deepEqual(again.since(0), written);
    const next = again.append('decision', { x: 1 });
    assert.equal(next.seq, 6);
    assert.equal(next.prevHash, written[4]?.hash);
    assert.equal(again.verify().ok, true);
    again.close();
    assert.equal(EventLog.verifyFile(file, verifyWith(KEYS)).headSeq, 6);
  });

  it('creates the file with mode 0600 (and its WAL too)', () => {
    const file = freshFile();
    const log = EventLog.open(file, SIGNER);
    log.append('node_started', {});
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(existsSync(`${file}-wal`));
    assert.equal(statSync(`${file}-wal`).mode & 0o777, 0o600);
    log.close();
  });

  it('refuses to open a log whose last entry was tampered with', () => {
    const file = freshFile();
    const log = EventLog.open(file, SIGNER);
    fill(log, 3);
    log.close();
    const db = rawDb(file);
    db.prepare('UPDATE entries SET data = ? WHERE seq = 3').run('{"i":999}');
    db.close();
    assert.throws(
      () => EventLog.open(file, SIGNER),
      (err: unknown) => err instanceof ChorusError && err.code === 'EVENTLOG_CORRUPT',
    );
  });

  it('measures append throughput', () => {
    const log = EventLog.open(freshFile(), SIGNER);
    const n = 1000;
    const start = performance.now();
    fill(log, n);
    const ms = performance.now() - start;
    console.log(`eventlog append throughput: ${Math.round((n / ms) * 1000)} entries/s (${n} in ${ms.toFixed(0)} ms)`);
    assert.equal(log.size, n);
    log.close();
  });
});

describe('EventLog tamper detection', () => {
  function tampered(mutate: (db: DatabaseSync) => void): { log: EventLog; file: string; entries: LogEntry[] } {
    const file = freshFile();
    const log = EventLog.open(file, SIGNER);
    const entries = fill(log, 10);
    assert.equal(log.verify().ok, true);
    const db = rawDb(file);
    mutate(db);
    db.close();
    return { log, file, entries };
  }

  it('an edited data field → edited at that seq', () => {
    const { log, file } = tampered((db) => db.prepare('UPDATE entries SET data = ? WHERE seq = 5').run('{"i":500}'));
    const report = log.verify();
    assert.equal(report.ok, false);
    assert.equal(report.problem?.kind, 'edited');
    assert.equal(report.problem?.seq, 5);
    assert.equal(report.entries, 4);
    assert.equal(report.headSeq, 4);
    assert.deepEqual(EventLog.verifyFile(file, verifyWith(KEYS)).problem?.kind, 'edited');
    log.close();
  });

  it('a deleted middle row → dropped at that seq', () => {
    const { log } = tampered((db) => db.prepare('DELETE FROM entries WHERE seq = 4').run());
    const report = log.verify();
    assert.equal(report.ok, false);
    assert.equal(report.problem?.kind, 'dropped');
    assert.equal(report.problem?.seq, 4);
    log.close();
  });

  it('a deleted middle row with the rest renumbered → dropped at that seq', () => {
    const { log } = tampered((db) => {
      db.prepare('DELETE FROM entries WHERE seq = 4').run();
      for (let s = 5; s <= 10; s += 1) db.prepare('UPDATE entries SET seq = ? WHERE seq = ?').run(s - 1, s);
    });
    const report = log.verify();
    assert.equal(report.problem?.kind, 'dropped');
    assert.equal(report.problem?.seq, 4);
    log.close();
  });

  it('two rows swapped → reordered at the first of them', () => {
    const { log } = tampered((db) => {
      db.exec('UPDATE entries SET seq = -1 WHERE seq = 6; UPDATE entries SET seq = 6 WHERE seq = 7;');
      db.exec('UPDATE entries SET seq = 7 WHERE seq = -1;');
    });
    const report = log.verify();
    assert.equal(report.ok, false);
    assert.equal(report.problem?.kind, 'reordered');
    assert.equal(report.problem?.seq, 6);
    log.close();
  });

  it('a forged signature → bad_signature', () => {
    const forged = randomBytes(64).toString('base64');
    const { log } = tampered((db) => db.prepare('UPDATE entries SET signature = ? WHERE seq = 8').run(forged));
    const report = log.verify();
    assert.equal(report.problem?.kind, 'bad_signature');
    assert.equal(report.problem?.seq, 8);
    log.close();
  });

  it('an edited entry re-hashed and re-signed with the real key → bad_link at the next entry', () => {
    const { log } = tampered((db) => {
      const row = db.prepare('SELECT * FROM entries WHERE seq = 5').get();
      assert.ok(row);
      const data = canonicalJson({ i: 5, note: 'rewritten history' });
      const hash = entryHash(5, String(row.time), String(row.type), data, String(row.author), String(row.prev_hash));
      const signature = sign(null, Buffer.from(hash, 'hex'), KEYS.privateKey).toString('base64');
      db.prepare('UPDATE entries SET data = ?, hash = ?, signature = ? WHERE seq = 5').run(data, hash, signature);
    });
    const report = log.verify();
    assert.equal(report.problem?.kind, 'bad_link');
    assert.equal(report.problem?.seq, 6);
    assert.equal(report.headSeq, 5);
    log.close();
  });

  it('an edited entry re-hashed without the key → bad_signature', () => {
    const { log } = tampered((db) => {
      const row = db.prepare('SELECT * FROM entries WHERE seq = 2').get();
      assert.ok(row);
      const data = canonicalJson({ i: 2, note: 'forged' });
      const hash = entryHash(2, String(row.time), String(row.type), data, String(row.author), String(row.prev_hash));
      db.prepare('UPDATE entries SET data = ?, hash = ? WHERE seq = 2').run(data, hash);
    });
    assert.equal(log.verify().problem?.kind, 'bad_signature');
    assert.equal(log.verify().problem?.seq, 2);
    log.close();
  });

  it('a malformed row → malformed', () => {
    const { log } = tampered((db) => db.prepare('UPDATE entries SET data = ? WHERE seq = 3').run('{not json'));
    assert.equal(log.verify().problem?.kind, 'malformed');
    assert.equal(log.verify().problem?.seq, 3);
    log.close();
  });

  it('verifyFile with the wrong public key fails; with the right one it passes', () => {
    const file = freshFile();
    const log = EventLog.open(file, SIGNER);
    fill(log, 4);
    // The node still holds the file open while it is verified read-only.
    const good = EventLog.verifyFile(file, verifyWith(KEYS));
    assert.deepEqual(good, { ok: true, from: 1, entries: 4, headSeq: 4, headHash: log.head.hash });
    const bad = EventLog.verifyFile(file, verifyWith(makeKeys()));
    assert.equal(bad.ok, false);
    assert.equal(bad.problem?.kind, 'bad_signature');
    assert.equal(bad.problem?.seq, 1);
    // A log opened under another identity cannot vouch for these entries either.
    log.close();
    const other = EventLog.open(file, makeSigner(makeKeys(), 'someone-else'));
    assert.equal(other.verify().problem?.kind, 'bad_signature');
    other.close();
    assert.throws(
      () => EventLog.verifyFile(join(root, 'missing.db'), verifyWith(KEYS)),
      (err: unknown) => err instanceof ChorusError && err.code === 'EVENTLOG_NOT_FOUND',
    );
  });

  it('a truncated tail is not detectable by the chain alone, only against an anchored head', () => {
    const { log, entries } = tampered((db) => db.prepare('DELETE FROM entries WHERE seq > 7').run());
    const anchored = { seq: 10, hash: entries[9]?.hash }; // e.g. published to peers before the truncation
    const report = log.verify();
    assert.equal(report.ok, true); // documented limitation
    assert.equal(report.headSeq, 7);
    assert.notDeepEqual({ seq: report.headSeq, hash: report.headHash }, anchored);
    log.close();
  });
});

describe('EventLog: one signature per batch (format 2)', () => {
  const items = (n: number, from = 1): { type: 'task_progress'; data: unknown }[] =>
    Array.from({ length: n }, (_, k) => ({ type: 'task_progress' as const, data: { i: from + k } }));

  /** A log of three batches: entries 1–4, 5–8 (signed at 4 and 8) and a single entry 9. */
  function batched(mutate?: (db: DatabaseSync) => void): { log: EventLog; file: string } {
    const file = freshFile();
    const log = EventLog.open(file, SIGNER);
    log.appendMany(items(4));
    log.appendMany(items(4, 5));
    log.append('task_progress', { i: 9 });
    assert.equal(log.verify().ok, true);
    if (mutate) {
      const db = rawDb(file);
      mutate(db);
      db.close();
    }
    return { log, file };
  }

  it('signs the last entry of each appendMany only; its signature covers the batch, and the log verifies', () => {
    const file = freshFile();
    const log = EventLog.open(file, SIGNER);
    const entries = log.appendMany(items(5));
    assert.deepEqual(
      entries.map((e) => e.signature === ''),
      [true, true, true, true, false],
    );
    const last = entries[4]!;
    assert.ok(verify(null, Buffer.from(last.hash, 'hex'), KEYS.publicKey, Buffer.from(last.signature, 'base64')));
    assert.deepEqual(
      log.since(0).map((e) => e.signature),
      entries.map((e) => e.signature),
    );
    const format = rawDb(file).prepare("SELECT value FROM meta WHERE key = 'format'").get()?.value;
    assert.equal(format, 'chorus-eventlog/2');
    assert.deepEqual(EventLog.verifyFile(file, verifyWith(KEYS)), {
      ok: true,
      from: 1,
      entries: 5,
      headSeq: 5,
      headHash: last.hash,
    });
    log.close();
  });

  it('an unsigned entry edited → edited; re-hashed → bad_link; the batch re-hashed to its end → bad_signature', () => {
    const edit = batched((db) => db.prepare('UPDATE entries SET data = ? WHERE seq = 6').run('{"i":600}'));
    assert.equal(edit.log.verify().problem?.kind, 'edited');
    assert.equal(edit.log.verify().problem?.seq, 6);
    edit.log.close();
    const rehash = (db: DatabaseSync, seq: number, data: string, prev?: string): string => {
      const row = db.prepare('SELECT * FROM entries WHERE seq = ?').get(seq)!;
      const hash = entryHash(
        seq,
        String(row.time),
        String(row.type),
        data,
        String(row.author),
        prev ?? String(row.prev_hash),
      );
      db.prepare('UPDATE entries SET data = ?, hash = ?, prev_hash = ? WHERE seq = ?').run(
        data,
        hash,
        prev ?? String(row.prev_hash),
        seq,
      );
      return hash;
    };
    const one = batched((db) => rehash(db, 6, '{"i":600}'));
    assert.equal(one.log.verify().problem?.kind, 'bad_link');
    assert.equal(one.log.verify().problem?.seq, 7);
    one.log.close();
    const chain = batched((db) => {
      let prev = rehash(db, 6, '{"i":600}');
      for (const seq of [7, 8])
        prev = rehash(db, seq, String(db.prepare('SELECT data FROM entries WHERE seq = ?').get(seq)!.data), prev);
    });
    const report = chain.log.verify();
    assert.equal(report.problem?.kind, 'bad_signature');
    assert.equal(report.problem?.seq, 8);
    assert.equal(report.headSeq, 4, 'nothing after the last intact signature is vouched for');
    chain.log.close();
  });

  it('an unsigned entry deleted → dropped; two swapped → reordered', () => {
    const dropped = batched((db) => {
      db.prepare('DELETE FROM entries WHERE seq = 2').run();
      for (let s = 3; s <= 9; s += 1) db.prepare('UPDATE entries SET seq = ? WHERE seq = ?').run(s - 1, s);
    });
    assert.equal(dropped.log.verify().problem?.kind, 'dropped');
    assert.equal(dropped.log.verify().problem?.seq, 2);
    dropped.log.close();
    const swapped = batched((db) => {
      db.exec('UPDATE entries SET seq = -1 WHERE seq = 5; UPDATE entries SET seq = 5 WHERE seq = 6;');
      db.exec('UPDATE entries SET seq = 6 WHERE seq = -1;');
    });
    assert.equal(swapped.log.verify().problem?.kind, 'reordered');
    assert.equal(swapped.log.verify().problem?.seq, 5);
    swapped.log.close();
  });

  it('entries no signature covers (the last signature stripped) → bad_signature, and the log refuses to open', () => {
    const { log, file } = batched((db) => {
      db.prepare('DELETE FROM entries WHERE seq = 9').run();
      db.prepare("UPDATE entries SET signature = '' WHERE seq = 8").run();
    });
    const report = log.verify();
    assert.equal(report.problem?.kind, 'bad_signature');
    assert.equal(report.problem?.seq, 5);
    assert.match(report.problem?.message ?? '', /entries 5\.\.8 carry no signature/);
    assert.equal(report.headSeq, 4);
    log.close();
    assert.throws(
      () => EventLog.open(file, SIGNER),
      (err: unknown) =>
        err instanceof ChorusError && err.code === 'EVENTLOG_CORRUPT' && /carries no signature/.test(err.message),
    );
  });

  it('a file of format 1 still verifies, is appended to with a signature per entry, and an unsigned entry in it fails', () => {
    const file = freshFile();
    const first = EventLog.open(file, SIGNER);
    fill(first, 3); // one signed entry each: a valid format-1 log
    first.close();
    const db = rawDb(file);
    db.prepare("UPDATE meta SET value = 'chorus-eventlog/1' WHERE key = 'format'").run();
    db.close();
    const log = EventLog.open(file, SIGNER);
    const more = log.appendMany(items(3, 4));
    assert.ok(more.every((e) => e.signature !== ''));
    assert.equal(EventLog.verifyFile(file, verifyWith(KEYS)).ok, true);
    const edit = rawDb(file);
    edit.prepare("UPDATE entries SET signature = '' WHERE seq = 4").run();
    edit.close();
    const report = log.verify();
    assert.equal(report.problem?.kind, 'bad_signature');
    assert.equal(report.problem?.seq, 4);
    log.close();
  });

  it('compaction cutting inside a batch leaves a log that verifies from its checkpoint', () => {
    const { log } = batched();
    const step = log.compactStep({ maxAgeMs: 0, maxBytes: 1 }, { batch: 6 });
    assert.equal(step.removed, 6);
    const report = log.verify();
    assert.equal(report.ok, true, report.problem?.message ?? '');
    assert.equal(report.from, 7);
    assert.equal(report.headSeq, 9);
    log.close();
  });
});

describe('EventLog.follow', () => {
  it('streams the backlog and in-process appends, and ends when aborted', { timeout: 10_000 }, async () => {
    const log = EventLog.open(freshFile(), SIGNER);
    fill(log, 3);
    const controller = new AbortController();
    const seen: number[] = [];
    const waiters = new Map<number, () => void>();
    const seenSeq = (seq: number): Promise<void> =>
      seen.includes(seq) ? Promise.resolve() : new Promise((r) => waiters.set(seq, r));
    // A long poll interval: in-process appends must wake the follower, not the timer.
    const consumer = (async () => {
      for await (const e of log.follow(1, controller.signal, 60_000)) {
        seen.push(e.seq);
        waiters.get(e.seq)?.();
      }
      return 'ended';
    })();
    await seenSeq(3);
    for (const seq of [4, 5]) {
      await setImmediate(); // drain microtasks: the follower is now parked waiting for a change
      log.append('decision', { n: seq });
      await seenSeq(seq);
    }
    assert.deepEqual(seen, [2, 3, 4, 5]);
    await setImmediate();
    controller.abort(); // the follower is parked waiting for more
    assert.equal(await consumer, 'ended');
    log.close();
  });

  it('receives entries appended by another process', { timeout: 30_000 }, async () => {
    const file = freshFile();
    const log = EventLog.open(file, SIGNER);
    const controller = new AbortController();
    const count = 25;
    const seen: LogEntry[] = [];
    let gotAll!: () => void;
    const allSeen = new Promise<void>((r) => (gotAll = r));
    const consumer = (async () => {
      for await (const e of log.follow(0, controller.signal, 20)) {
        seen.push(e);
        if (seen.length === count) gotAll();
      }
      return 'ended';
    })();
    const child = spawnWriter(file, count);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, stderr);
    await allSeen;
    assert.deepEqual(
      seen.map((e) => e.seq),
      Array.from({ length: count }, (_, i) => i + 1),
    );
    assert.deepEqual(seen[count - 1]?.data, { writer: child.pid, i: count });
    controller.abort();
    assert.equal(await consumer, 'ended');
    assert.equal(log.verify().ok, true);
    log.close();
  });

  it('ends when the log is closed', { timeout: 10_000 }, async () => {
    const log = EventLog.open(freshFile(), SIGNER);
    const consumer = (async () => {
      let n = 0;
      for await (const _ of log.follow(0, new AbortController().signal, 60_000)) n += 1;
      return n;
    })();
    log.append('decision', {});
    await Promise.resolve();
    log.close();
    assert.ok((await consumer) <= 1);
  });
});

describe('EventLog durability', () => {
  it('kill -9 mid-append loses no acknowledged entry and the chain continues', { timeout: 60_000 }, async () => {
    const file = freshFile();
    EventLog.open(file, SIGNER).close(); // create the directory and schema up front
    const child = spawnWriter(file, 0);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const acked: number[] = [];
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      acked.push(Number(line));
      if (acked.length === 200) child.kill('SIGKILL');
    });
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    assert.equal(signal, 'SIGKILL', `writer exited early (code ${code}): ${stderr}`);
    assert.ok(acked.length >= 200);

    const log = EventLog.open(file, SIGNER);
    const report = log.verify();
    assert.equal(report.ok, true, JSON.stringify(report.problem));
    const present = new Set(log.since(0).map((e) => e.seq));
    for (const seq of acked) assert.ok(present.has(seq), `acknowledged seq ${seq} is missing`);
    assert.deepEqual(
      acked,
      Array.from({ length: acked.length }, (_, i) => i + 1),
    );
    const head = log.head;
    assert.ok(head.seq >= acked.length);
    const next = log.append('node_started', { after: 'crash' });
    assert.equal(next.seq, head.seq + 1);
    assert.equal(next.prevHash, head.hash);
    assert.equal(log.verify().ok, true);
    log.close();
  });
});

describe('a damaged event log file', () => {
  /** A closed log of 400 entries (~150 KiB, WAL checkpointed into the file), damaged by `damage`. */
  function damagedLog(damage: (file: string) => void): string {
    const file = freshFile();
    const log = EventLog.open(file, SIGNER);
    for (let i = 0; i < 400; i += 1) log.append('task_progress', { i, note: 'x'.repeat(300) });
    log.close();
    assert.equal(existsSync(`${file}-wal`), false, 'closing checkpointed the WAL into the file');
    damage(file);
    return file;
  }

  for (const [name, damage] of [
    ['garbage in the middle', garbageInMiddle],
    ['truncated', truncateFile],
  ] as const) {
    it(`${name}: verifyFile reports it damaged, naming the file and SQLite's reason`, () => {
      const file = damagedLog(damage);
      const report = EventLog.verifyFile(file, verifyWith(KEYS));
      assert.equal(report.ok, false);
      assert.equal(report.problem?.kind, 'damaged');
      assert.equal(report.entries, 0);
      assert.ok(report.problem?.message.startsWith(`${file} is damaged: `), report.problem?.message);
    });

    it(`${name}: \`chorus log verify\` exits 3 with one line naming the file, the reason and the fix`, async () => {
      const file = damagedLog(damage);
      const r = await runCli(['--data-dir', join(file, '..'), 'log', 'verify']);
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(
        r.stderr,
        /^chorus: event log verification failed: .*events\.db is damaged: (database disk image is malformed|file is not a database)/,
      );
      assert.match(r.stderr, /chorus node --repair/);
    });
  }
});
