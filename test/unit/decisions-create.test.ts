// A subject's first version as a create (src/core/decisions/replicate.ts createAll) between real libp2p hosts:
// stored on every peer of the replica set and here when none holds a record; when one does, nothing is kept
// anywhere: the peers that took it give it back (and tell their listener, onRetracted) and this node stores nothing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryDatastore } from 'datastore-core';
import type { Datastore } from 'interface-datastore';
import { createAll } from '../../src/core/decisions/replicate.ts';
import { DirectReplicas } from '../../src/core/dht/direct.ts';
import { readLocalRecord } from '../../src/core/dht/kad.ts';
import { RecordNamespaces } from '../../src/core/dht/namespaces.ts';
import { silentLogger } from '../../src/core/log.ts';
import { plainHosts, type PlainHost } from '../helpers/cluster.ts';
import { until } from '../helpers/poll.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Namespace /t/: any value. */
function namespaces(): RecordNamespaces {
  const ns = new RecordNamespaces();
  ns.register({ name: 't', validate: async () => {}, select: () => 0 });
  return ns;
}

describe('a first version as a create', () => {
  let hosts: PlainHost[] = [];
  const stores: Datastore[] = [];
  const replicas: DirectReplicas[] = [];
  const signal = (): AbortSignal => AbortSignal.timeout(5000);
  const create = (keys: Uint8Array[], value: Uint8Array): Promise<string[][] | undefined> =>
    createAll(
      { libp2p: hosts[0]!.host, direct: replicas[0], replication: 3, logger: silentLogger },
      keys,
      value,
      signal(),
    );
  const held = (i: number, key: Uint8Array): Promise<Uint8Array | undefined> => readLocalRecord(stores[i]!, key);

  before(async () => {
    hosts = await plainHosts(3);
    for (const h of hosts) {
      const datastore = new MemoryDatastore() as Datastore;
      stores.push(datastore);
      const direct = new DirectReplicas({ libp2p: h.host, datastore, namespaces: namespaces(), logger: silentLogger });
      await direct.start();
      replicas.push(direct);
    }
    for (const other of hosts.slice(1)) await hosts[0]!.host.dial(other.host.getMultiaddrs()[0]!);
    // with three hosts and replication 3, every key's replica set is all of them
    await until('the writer knows both peers', () => replicas[0]!.replicaSet(enc('/t/any'), 3).length === 3);
  });
  after(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await Promise.all(hosts.map((h) => h.stop()));
  });

  test('stored on both peers and here when nobody holds a record under its keys', async () => {
    const keys = [enc('/t/new'), enc('/t/new/1')];
    const holders = await create(keys, enc('first'));
    assert.ok(holders);
    assert.deepEqual(
      holders.map((h) => h.length),
      [3, 3],
    );
    for (const i of [0, 1, 2]) for (const key of keys) assert.deepEqual(await held(i, key), enc('first'));
  });

  test('a peer holds another record: the other peer gives the create back, and this node stores nothing', async () => {
    const keys = [enc('/t/known'), enc('/t/known/1')];
    await replicas[1]!.storeAll([keys[0]!], enc('the real one')); // the subject's record, held by one peer
    const givenBack: [string, string][] = [];
    const told = (i: number) => (key: Uint8Array, value: Uint8Array) =>
      givenBack.push([`${i} ${Buffer.from(key).toString()}`, Buffer.from(value).toString()]);
    for (const i of [1, 2]) replicas[i]!.onRetracted(told(i));
    assert.equal(await create(keys, enc('a stray')), undefined);
    assert.deepEqual(
      givenBack.sort(),
      [
        ['2 /t/known', 'a stray'],
        ['2 /t/known/1', 'a stray'],
      ],
      'the peer that gave it back says so, once per key; the holder has nothing to say',
    );
    for (const key of keys) {
      assert.equal(await held(0, key), undefined, 'nothing stored here');
      assert.equal(await held(2, key), undefined, 'the peer that took it gave it back');
    }
    assert.deepEqual(await held(1, keys[0]!), enc('the real one'));
    assert.equal(await held(1, keys[1]!), undefined);
  });
});
