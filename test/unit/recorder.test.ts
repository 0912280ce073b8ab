// The event recorder: SHHH on every entry, entries batched per turn (one transaction and one signature),
// written() resolving once they are in the log, lifecycle entries written at once.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { EventLog } from '../../src/core/eventlog/eventlog.ts';
import { silentLogger } from '../../src/core/log.ts';
import { EventRecorder } from '../../src/core/node/recorder.ts';
import { signerFor } from '../../src/core/p2p/signer.ts';
import { Redactor } from '../../src/core/shhh/redactor.ts';

async function openLog(): Promise<EventLog> {
  return EventLog.open(
    join(mkdtempSync(join(tmpdir(), 'chorus-rec-')), 'events.db'),
    signerFor(await generateKeyPair('Ed25519')),
  );
}

test('entries of one turn are written in one batch, in order, chained and redacted; written() waits for them', async () => {
  const log = await openLog();
  const recorder = new EventRecorder(log, new Redactor(), silentLogger);
  recorder.record('TaskClaim', { direction: 'in', n: 1 });
  recorder.record('TaskClaim', { direction: 'in', n: 2 });
  recorder.record('message_out', { n: 3, note: 'token ghp_' + 'a1'.repeat(18) });
  assert.equal(log.size, 0, 'entries, outbound ones too, wait for the end of the turn');
  await recorder.written();
  assert.equal(log.size, 3, "written() resolves once the turn's batch is in the log");
  recorder.record('TaskClaim', { direction: 'in', n: 4 });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(log.size, 4);
  await recorder.written(); // nothing queued: resolves at once
  const entries = log.tail(4);
  assert.deepEqual(
    entries.map((e) => (e.data as { n: number }).n),
    [1, 2, 3, 4],
  );
  assert.equal(entries[0]?.type, 'task_claimed');
  assert.ok(!JSON.stringify(entries).includes('ghp_a1'), 'the secret was redacted before it reached the log');
  assert.equal(log.verify().ok, true);
  log.close();
});

test('outbound entries of one turn share one signature; lifecycle entries are written before record() returns', async () => {
  const log = await openLog();
  const recorder = new EventRecorder(log, new Redactor(), silentLogger);
  const published = [1, 2, 3].map(async (n) => {
    recorder.record('message_out', { n });
    await recorder.written();
    return log.size;
  });
  assert.deepEqual(await Promise.all(published), [3, 3, 3], 'each publish saw its entry written');
  const signed = log.tail(3).map((e) => e.signature !== '');
  assert.deepEqual(signed, [false, false, true], 'one signature, on the last entry of the batch');
  recorder.record('node_stopped', {});
  assert.equal(log.size, 4, 'a lifecycle entry is written at once');
  assert.equal(log.verify().ok, true);
  log.close();
});

test('appendMany writes every entry or none and keeps the chain', async () => {
  const log = EventLog.open(
    join(mkdtempSync(join(tmpdir(), 'chorus-rec-')), 'events.db'),
    signerFor(await generateKeyPair('Ed25519')),
  );
  const batch = log.appendMany([
    { type: 'collaboration', data: { a: 1 } },
    { type: 'escalation', data: { a: 2 } },
  ]);
  assert.deepEqual(
    batch.map((e) => e.seq),
    [1, 2],
  );
  assert.equal(batch[1]?.prevHash, batch[0]?.hash);
  assert.throws(
    () =>
      log.appendMany([
        { type: 'collaboration', data: {} },
        { type: 'nope' as never, data: {} },
      ]),
    /unknown event log type/,
  );
  assert.equal(log.size, 2, 'a bad batch writes nothing');
  assert.equal(log.verify().ok, true);
  // appendAll writes the same chain, returning nothing
  log.appendAll([
    { type: 'collaboration', data: { a: 3 } },
    { type: 'escalation', data: { a: 4 } },
  ]);
  assert.throws(() => log.appendAll([{ type: 'nope' as never, data: {} }]), /unknown event log type/);
  const written = log.since(2);
  assert.deepEqual(
    written.map((e) => [e.seq, e.data]),
    [
      [3, { a: 3 }],
      [4, { a: 4 }],
    ],
  );
  assert.equal(written[0]?.prevHash, batch[1]?.hash);
  assert.equal(written[0]?.signature, '', 'one signature per batch, on its last entry');
  assert.notEqual(written[1]?.signature, '');
  assert.equal(log.verify().ok, true);
  log.close();
});
