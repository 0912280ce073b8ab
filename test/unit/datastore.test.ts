// The DHT datastore: records persist in node:sqlite, and a query visits each record once even when the
// consumer rewrites records while it iterates (as republish does); a miss can be answered without an exception.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { Record as DhtRecord } from '@libp2p/kad-dht';
import { Key } from 'interface-datastore';
import { ChorusDatastore } from '../../src/core/dht/datastore.ts';
import { readLocalRecord, recordDatastoreKey } from '../../src/core/dht/kad.ts';
import { StoreDamagedError } from '../../src/core/store-check.ts';
import { truncateFile } from '../helpers/damage.ts';

test('a query visits each record once while the consumer rewrites the records it reads', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'chorus-ds-')), 'dht.db');
  const ds = new ChorusDatastore(file);
  try {
    for (let i = 0; i < 200; i++)
      await ds.put(new Key(`/dht/record/k${String(i).padStart(3, '0')}`), new Uint8Array([1]));
    const visits = new Map<string, number>();
    let total = 0;
    for await (const { key, value } of ds.query({ prefix: '/dht/record/' })) {
      if (++total > 1000) break; // a cursor that revisits rewritten rows would go on for a long time
      visits.set(key.toString(), (visits.get(key.toString()) ?? 0) + 1);
      // what republish does: store the record again (a new value under the same key), and add another
      await ds.put(key, new Uint8Array([...value, 2]));
    }
    assert.ok(total <= 200, `${total} visits for 200 records`);
    assert.equal(visits.size, 200);
    assert.ok(
      [...visits.values()].every((n) => n === 1),
      'no record visited twice',
    );
    // and the rewrites landed
    assert.deepEqual(await ds.get(new Key('/dht/record/k000')), new Uint8Array([1, 2]));
  } finally {
    ds.close();
  }
});

test('records survive reopening; keys outside /dht stay in memory', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'chorus-ds-')), 'dht.db');
  const first = new ChorusDatastore(file);
  await first.put(new Key('/dht/record/a'), new Uint8Array([7]));
  await first.put(new Key('/peers/x'), new Uint8Array([8]));
  first.close();
  const second = new ChorusDatastore(file);
  try {
    assert.deepEqual(await second.get(new Key('/dht/record/a')), new Uint8Array([7]));
    assert.equal(await second.has(new Key('/peers/x')), false);
  } finally {
    second.close();
  }
});

test('the file is held exclusively while open, its WAL index in memory; closed, another connection reads it', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'chorus-ds-')), 'dht.db');
  const ds = new ChorusDatastore(file);
  await ds.put(new Key('/dht/record/a'), Uint8Array.of(7));
  const other = new DatabaseSync(file, { readOnly: true, timeout: 0 });
  try {
    assert.throws(() => other.prepare('SELECT value FROM kv').all(), /locked/);
    assert.equal(existsSync(`${file}-shm`), false, 'no shared-memory index file');
    ds.close();
    assert.deepEqual(
      other
        .prepare('SELECT key FROM kv')
        .all()
        .map((r) => r.key),
      ['/dht/record/a'],
    );
  } finally {
    other.close();
    ds.close();
  }
});

test('getIfPresent answers a miss with undefined where get() throws; readLocalRecord reads through it', async () => {
  const ds = new ChorusDatastore(join(mkdtempSync(join(tmpdir(), 'chorus-ds-')), 'dht.db'));
  try {
    await ds.put(new Key('/dht/record/a'), Uint8Array.of(7));
    await ds.put(new Key('/peers/x'), Uint8Array.of(8));
    assert.deepEqual(await ds.getIfPresent(new Key('/dht/record/a')), Uint8Array.of(7));
    assert.equal(await ds.getIfPresent(new Key('/dht/record/b')), undefined);
    assert.deepEqual(await ds.getIfPresent(new Key('/peers/x')), Uint8Array.of(8));
    assert.equal(await ds.getIfPresent(new Key('/peers/y')), undefined);
    await assert.rejects(async () => ds.get(new Key('/dht/record/b')), { name: 'NotFoundError' });

    const held = new TextEncoder().encode('/decision/held');
    await ds.put(recordDatastoreKey(held), new DhtRecord(held, Uint8Array.of(1, 2), new Date()).serialize());
    const get = ds.get.bind(ds);
    let gets = 0;
    ds.get = (key) => {
      gets++;
      return get(key);
    };
    assert.deepEqual(await readLocalRecord(ds, held), Uint8Array.of(1, 2));
    assert.equal(await readLocalRecord(ds, new TextEncoder().encode('/decision/missing')), undefined);
    assert.equal(gets, 0, 'readLocalRecord went through get()');
  } finally {
    ds.close();
  }
});

test('a truncated dht.db is a StoreDamagedError naming the file, not a bare "database disk image is malformed"', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'chorus-ds-')), 'dht.db');
  const ds = new ChorusDatastore(file);
  for (let i = 0; i < 2000; i++) await ds.put(new Key(`/dht/record/k${i}`), new Uint8Array(500).fill(i % 251));
  ds.close();
  truncateFile(file);
  assert.throws(
    () => new ChorusDatastore(file),
    (err: unknown) =>
      err instanceof StoreDamagedError &&
      err.kind === 'fatal' &&
      err.message.startsWith(`${file} is damaged (database disk image is malformed): `) &&
      /chorus node --repair/.test(err.message),
  );
});

test('a batch commits its /dht/ writes in one transaction: all of them, or none when one fails', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'chorus-ds-')), 'dht.db');
  const ds = new ChorusDatastore(file);
  try {
    await ds.put(new Key('/dht/record/a'), new Uint8Array([1]));
    const ok = ds.batch();
    ok.put(new Key('/dht/record/b'), new Uint8Array([2]));
    ok.put(new Key('/dht/record/c'), new Uint8Array([3]));
    ok.put(new Key('/peers/y'), new Uint8Array([4]));
    ok.delete(new Key('/dht/record/a'));
    await ok.commit();
    assert.deepEqual(await ds.get(new Key('/dht/record/b')), new Uint8Array([2]));
    assert.deepEqual(await ds.get(new Key('/dht/record/c')), new Uint8Array([3]));
    assert.deepEqual(await ds.get(new Key('/peers/y')), new Uint8Array([4]));
    assert.equal(await ds.has(new Key('/dht/record/a')), false);

    const failing = ds.batch();
    failing.put(new Key('/dht/record/d'), new Uint8Array([5]));
    failing.put(new Key('/dht/record/e'), undefined as unknown as Uint8Array); // SQLite refuses the value
    await assert.rejects(async () => failing.commit());
    assert.equal(await ds.has(new Key('/dht/record/d')), false, 'the batch was rolled back');
    await ds.put(new Key('/dht/record/f'), new Uint8Array([6])); // no transaction left open
  } finally {
    ds.close();
  }
  const reopened = new ChorusDatastore(file);
  try {
    assert.deepEqual(await reopened.get(new Key('/dht/record/f')), new Uint8Array([6]));
    assert.deepEqual(await reopened.get(new Key('/dht/record/c')), new Uint8Array([3]));
  } finally {
    reopened.close();
  }
});
