// The kept latest copy: a node that read a decision from its replicas answers the next read of it from the
// record it kept (verified, author admitted) while that is as new as any version it heard of; a newer version
// heard of sends the read to the network again, and the fresh read before a write always goes there. A read
// answered without the network makes no deadline signal. A write's note to a node that stores no copy carries
// the record, so that node's first read of the new version needs no network either; and it is read ahead there
// (verified and decrypted before any read), as is a new version on a node that stores it — not a re-put, and not
// on its writer, whose first read of it is local and decrypts nothing anyway. A first version a replica gave back
// (its create did not take everywhere) is dropped from what it read ahead.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DecisionStore } from '../../src/core/decisions/store.ts';
import { HINT_NOTE } from '../../src/core/decisions/hints.ts';
import { NotFoundError } from '../../src/core/decisions/meta.ts';
import { latestKey, versionKey } from '../../src/core/decisions/record.ts';
import { recordDatastoreKey } from '../../src/core/dht/kad.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { parseAddress, subjectKey } from '../../src/core/ucxl/address.ts';
import { heard, startCluster, stopAll } from '../helpers/cluster.ts';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** Counts the reader's network reads: one-hop replica reads and kad-dht lookups. */
function countReads(node: ChorusNode): () => number {
  let reads = 0;
  const replicas = node.decisions.replicas;
  assert.ok(replicas);
  const getFrom = replicas.getFrom.bind(replicas);
  replicas.getFrom = (...args) => {
    reads++;
    return getFrom(...args);
  };
  const dht = node.libp2p.services.dht;
  const get = dht.get.bind(dht);
  dht.get = (...args) => {
    reads++;
    return get(...args);
  };
  return () => reads;
}

/** Counts the decryptions of a record (by its hash) a node makes from now on: the plaintext cache's misses. */
function countDecrypts(node: ChorusNode): (hash: string) => number {
  const decrypted: string[] = [];
  const cache = node.decisions.plaintexts;
  const read = cache.read.bind(cache);
  cache.read = (hash, reader, decrypt) =>
    read(hash, reader, () => {
      decrypted.push(hash);
      return decrypt();
    });
  return (hash) => decrypted.filter((h) => h === hash).length;
}

/** Counts the subjects `store` queues for read-ahead from now on, by subject (whatever the queue then does). */
function queuedAhead(store: DecisionStore): (subject: string) => number {
  const queued: string[] = [];
  const queue = store.readAheadQueue;
  const schedule = queue.schedule.bind(queue);
  queue.schedule = (subject) => {
    queued.push(subject);
    schedule(subject);
  };
  return (subject) => queued.filter((s) => s === subject).length;
}

/** Settles when `store` has read ahead `version` (or newer) of `subject`; counts every read-ahead of it. */
function readAheads(store: DecisionStore, subject: string) {
  let count = 0;
  let newest = 0;
  const waiting: { version: number; resolve: () => void }[] = [];
  store.on('readAhead', (e) => {
    if (e.subject !== subject) return;
    count++;
    newest = Math.max(newest, e.version);
    for (const w of waiting.filter((x) => x.version <= newest)) w.resolve();
  });
  return {
    count: () => count,
    reached: (version: number) =>
      new Promise<void>((resolve) => (newest >= version ? resolve() : waiting.push({ version, resolve }))),
  };
}

/**
 * An address of a new subject and a node other than the writer that replicates none of its keys for versions
 * 1–3 (latest, and each version's own key), so that node holds no copy of it after writes.
 */
function outsider(nodes: ChorusNode[], writer: ChorusNode, name: string, exclude: ReadonlySet<ChorusNode>) {
  const replicas = writer.decisions.replicas;
  assert.ok(replicas);
  for (let i = 0; i < 100; i++) {
    const address = parseAddress(`ucxl://alice:developer@chorus:kept/*^/${name}-${i}.md`);
    const subject = subjectKey(address);
    const keys = [latestKey(subject), ...[1, 2, 3].map((v) => versionKey(subject, v))];
    const holders = new Set(keys.flatMap((k) => replicas.replicaSet(k, 3)));
    const reader = nodes.find((n) => n !== writer && !exclude.has(n) && !holders.has(n.peerId));
    if (reader) return { address, subject, reader };
  }
  throw new Error('no subject leaves a node without copies');
}

/** The address `kept/*^/<name>`, its subject, and a node other than the writer that replicates its latest key. */
function otherReplica(nodes: ChorusNode[], writer: ChorusNode, name: string) {
  const address = parseAddress(`ucxl://alice:developer@chorus:kept/*^/${name}`);
  const subject = subjectKey(address);
  const replicaIds = writer.decisions.replicas?.replicaSet(latestKey(subject), 3) ?? [];
  const replica = nodes.find((n) => n !== writer && replicaIds.includes(n.peerId));
  assert.ok(replica, 'a node other than the writer replicates the subject');
  return { address, subject, replica };
}

describe('the kept latest copy of a read', () => {
  const keyring = join(mkdtempSync(join(tmpdir(), 'chorus-keys-')), 'keyring.json');
  let nodes: ChorusNode[] = [];
  /** Readers that refuse write notes (the first test's), left out of the second. */
  const deaf = new Set<ChorusNode>();
  before(async () => {
    nodes = await startCluster(5, { config: () => ({ keys: { keyring } }) });
  });
  after(() => stopAll(nodes));

  test('a second read is answered without the network; a newer version heard of, and a fresh read, ask it', async () => {
    const writer = nodes[0] as ChorusNode;
    const { address, subject, reader } = outsider(nodes, writer, 'adr', deaf);
    // hints reach this reader only through the hints topic, which carries no record
    reader.decisions.replicas?.onNote(HINT_NOTE, undefined);
    deaf.add(reader);
    await writer.decisions.put(address, text('v1'));
    assert.equal(await reader.decisions.localRecord(latestKey(subject)), undefined, 'the reader holds no copy');
    const reads = countReads(reader);

    assert.equal(str((await reader.decisions.get(address)).content), 'v1');
    const first = reads();
    assert.ok(first > 0, 'the first read asks the network');
    // the deadline (a timer and a composite signal) is made only when the network is asked
    let deadlines = 0;
    const operationSignal = reader.decisions.operationSignal.bind(reader.decisions);
    reader.decisions.operationSignal = (signal) => {
      deadlines++;
      return operationSignal(signal);
    };
    assert.equal(str((await reader.decisions.get(address)).content), 'v1');
    assert.equal(reads(), first, 'the second read is answered from the kept copy');
    assert.equal(deadlines, 0, 'a read answered from the kept copy makes no deadline');

    // a newer version is written elsewhere: its hint reaches the reader, whose next read asks the network
    await writer.decisions.put(address, text('v2'));
    await heard(reader, subject, 2);
    assert.equal(str((await reader.decisions.get(address)).content), 'v2');
    const second = reads();
    assert.ok(second > first, 'a newer version heard of sends the read to the network');
    assert.equal(deadlines, 1);
    assert.equal(str((await reader.decisions.get(address)).content), 'v2');
    assert.equal(reads(), second);

    // a write reads the latest version fresh from the network first, kept copy or not
    const receipt = await reader.decisions.put(address, text('v3'));
    assert.equal(receipt.version, 3);
    assert.ok(reads() > second, 'the read before a write goes to the network');
  });

  test('a write note carries the record: a node without a copy reads the new version without the network', async () => {
    const writer = nodes[1] as ChorusNode;
    const { address, subject, reader } = outsider(nodes, writer, 'noted', deaf);
    const reads = countReads(reader);
    for (const [version, content] of [
      [1, 'first'],
      [2, 'second'],
    ] as const) {
      await writer.decisions.put(address, text(content));
      await heard(reader, subject, version);
      assert.equal(await reader.decisions.localRecord(versionKey(subject, version)), undefined);
      const read = await reader.decisions.get(address);
      assert.deepEqual([read.meta.version, str(read.content)], [version, content]);
    }
    assert.equal(reads(), 0, 'no replica was asked');
  });

  test(
    'a write note is read ahead: the new version is verified and decrypted before the first read',
    { timeout: 60_000 },
    async () => {
      const writer = nodes[2] as ChorusNode;
      const { address, subject, reader } = outsider(nodes, writer, 'ahead', deaf);
      const ahead = readAheads(reader.decisions, subject);
      const reads = countReads(reader);
      const decrypts = countDecrypts(reader);
      const { hash } = await writer.decisions.put(address, text('read me'));
      await ahead.reached(1);
      assert.equal(decrypts(hash), 1, 'decrypted once, ahead of any read');
      const read = await reader.decisions.get(address);
      assert.deepEqual([read.meta.version, str(read.content)], [1, 'read me']);
      assert.equal(decrypts(hash), 1, 'the first read decrypts nothing');
      assert.equal(reads(), 0, 'no replica was asked');
    },
  );

  test(
    'a replica reads ahead a new version stored there, not a re-put of the version it holds',
    { timeout: 60_000 },
    async () => {
      const writer = nodes[3] as ChorusNode;
      const { address, subject, replica } = otherReplica(nodes, writer, 'replica.md');
      const ahead = readAheads(replica.decisions, subject);
      const { hash } = await writer.decisions.put(address, text('held here'));
      await ahead.reached(1);
      assert.equal(ahead.count(), 1);
      const decrypts = countDecrypts(replica);
      assert.equal(str((await replica.decisions.get(address)).content), 'held here');
      assert.equal(decrypts(hash), 0, 'the first read decrypts nothing');

      // republication re-puts the same version: the replica validates it again but has nothing new to read ahead
      const bytes = await writer.decisions.localRecord(latestKey(subject));
      assert.ok(bytes);
      const queued = queuedAhead(replica.decisions);
      const quiet = replica.decisions.writeQuiet;
      const note = quiet.note.bind(quiet);
      let notes = 0;
      quiet.note = () => void (notes++, note());
      try {
        const holders = await writer.decisions.replicate(latestKey(subject), bytes, AbortSignal.timeout(10_000));
        assert.ok(holders.includes(replica.peerId), 'the replica took the re-put');
      } finally {
        quiet.note = note;
      }
      assert.equal(ahead.count(), 1, 'no read-ahead of a version already held');
      assert.equal(queued(subject), 0, 'and none queued');
      assert.equal(notes, 0, 'nor does a re-put hold read-ahead back as a write would');
    },
  );

  test(
    'a replica notes the writes it stores, and reads a new version ahead only once they have been quiet a moment',
    { timeout: 60_000 },
    async () => {
      const writer = nodes[1] as ChorusNode;
      const { address, subject, replica } = otherReplica(nodes, writer, 'quiet.md');
      const store = replica.decisions;
      const ahead = readAheads(store, subject);
      const quiet = store.writeQuiet;
      const [note, wait] = [quiet.note.bind(quiet), quiet.wait.bind(quiet)];
      let notes = 0;
      quiet.note = () => {
        notes++;
        note();
      };
      // from the write on, writes never pause as far as the replica can tell: read-ahead is told to wait each time
      let onAsk = (): void => {};
      quiet.wait = () => (onAsk(), 5);
      try {
        await writer.decisions.put(address, text('after the writes'));
        assert.ok(notes >= 1, 'the replica noted the write it stored');
        // read-ahead asks twice more after the store, and is told to wait both times
        const askedTwice = new Promise<void>((resolve) => {
          let asks = 0;
          onAsk = () => void (++asks === 2 && resolve());
        });
        const never = sleep(10_000, 'never', { ref: false });
        assert.equal(await Promise.race([askedTwice, never]), undefined, 'read-ahead asked whether writes had paused');
        assert.equal(ahead.count(), 0, 'nothing was read ahead while writes kept coming');
      } finally {
        quiet.wait = wait;
        quiet.note = note;
      }
      await ahead.reached(1); // writes are quiet: the version is read ahead
      const decrypts = countDecrypts(replica);
      const read = await store.get(address);
      assert.equal(str(read.content), 'after the writes');
      assert.equal(decrypts(read.meta.hash), 0, 'its first read decrypts nothing');
    },
  );

  test(
    'a writer reads nothing ahead of its own versions, and its first read of one is local without a decryption',
    { timeout: 60_000 },
    async () => {
      const writer = nodes[0] as ChorusNode;
      const { address, subject, replica } = otherReplica(nodes, writer, 'own.md');
      const own = readAheads(writer.decisions, subject);
      const queued = queuedAhead(writer.decisions);
      const theirs = readAheads(replica.decisions, subject);
      const reads = countReads(writer);
      const decrypts = countDecrypts(writer);
      // a create (version 1), then an update (version 2): each is stored on the writer too
      for (const version of [1, 2]) {
        const receipt = await writer.decisions.put(address, text(`mine ${version}`));
        assert.equal(receipt.version, version);
        assert.ok(await writer.decisions.localRecord(versionKey(subject, version)), 'the writer stored it');
        assert.equal(queued(subject), 0, 'the writer queued nothing for read-ahead');
        assert.equal(own.count(), 0, 'and read nothing ahead');
        await theirs.reached(version); // a replica of it still does
        const [readsBefore, kept] = [reads(), decrypts(receipt.hash)]; // the writer keeps the plaintext it wrote
        const read = await writer.decisions.get(address);
        assert.deepEqual([read.meta.version, str(read.content)], [version, `mine ${version}`]);
        assert.equal(reads(), readsBefore, 'the writer read it from its own copy');
        assert.equal(decrypts(receipt.hash), kept, 'and decrypted nothing');
      }
    },
  );

  test(
    'a create taken back from a replica that read it ahead is not served from its kept copy',
    { timeout: 60_000 },
    async () => {
      const writer = nodes[4] as ChorusNode;
      const address = parseAddress('ucxl://alice:developer@chorus:kept/*^/given-back.md');
      const subject = subjectKey(address);
      const keys = [latestKey(subject), versionKey(subject, 1)];
      const direct = writer.decisions.replicas;
      assert.ok(direct);
      const latestReplicas = direct.replicaSet(latestKey(subject), 3);
      const replica = nodes.find((n) => n !== writer && latestReplicas.includes(n.peerId));
      assert.ok(replica, 'a node other than the writer replicates the subject');
      const replicaIds = new Set(keys.flatMap((k) => direct.replicaSet(k, 3)));
      const ahead = readAheads(replica.decisions, subject);
      const writes: boolean[] = [];
      writer.decisions.on('write', (w) => w.subject === subject && writes.push(w.create));
      await writer.decisions.put(address, text('given back'));
      assert.deepEqual(writes, [true], 'the first version went out as a create');
      await ahead.reached(1);

      // every peer that took the create gives it back, and the writer drops its own copy: no replica holds it
      const bytes = await writer.decisions.localRecord(latestKey(subject));
      assert.ok(bytes);
      const signal = AbortSignal.timeout(10_000);
      for (const peer of replicaIds) if (peer !== writer.peerId) await direct.retractFrom(peer, keys, bytes, signal);
      for (const key of keys) await writer.datastore.delete(recordDatastoreKey(key));
      assert.equal(await replica.decisions.localRecord(latestKey(subject)), undefined, 'the replica gave it back');

      await assert.rejects(replica.decisions.get(address), NotFoundError, 'not served from the read-ahead copy');
    },
  );
});
