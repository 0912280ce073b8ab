// One-hop replica writes (src/core/dht/direct.ts) between real libp2p hosts: one value stored under several
// keys in one request and one datastore batch on the receiver, a key refused by its namespace reported on
// its own, and peers of an earlier release (no 'puts' op) still served, one 'put' per key.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryDatastore } from 'datastore-core';
import type { Batch, Datastore, Key } from 'interface-datastore';
import { DIRECT_PROTOCOL, DirectReplicas } from '../../src/core/dht/direct.ts';
import { readLocalRecord } from '../../src/core/dht/kad.ts';
import { RecordNamespaces } from '../../src/core/dht/namespaces.ts';
import { silentLogger } from '../../src/core/log.ts';
import { serveChannel } from '../../src/core/p2p/rpc.ts';
import { plainHosts, type PlainHost } from '../helpers/cluster.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
/** A datastore that counts single writes and committed batches. */
class CountingDatastore extends MemoryDatastore {
  puts = 0;
  batches = 0;
  override put(key: Key, value: Uint8Array): Key | Promise<Key> {
    this.puts++;
    return super.put(key, value);
  }
  override batch(): Batch {
    const inner = super.batch();
    return { ...inner, commit: async (o) => (this.batches++, inner.commit(o)) };
  }
}

/** Namespace /t/: any value, except under a key ending in "refused". */
function namespaces(): RecordNamespaces {
  const ns = new RecordNamespaces();
  ns.register({
    name: 't',
    validate: async (key) => {
      if (new TextDecoder().decode(key).endsWith('refused')) throw new Error('refused by the test namespace');
    },
    select: () => 0,
  });
  return ns;
}

describe('kad-direct replica writes', () => {
  let server: PlainHost;
  let client: PlainHost;
  let old: PlainHost;
  const served = new CountingDatastore();
  let direct: DirectReplicas;
  let serving: DirectReplicas;
  /** Requests the earlier-release peer received. */
  const oldRequests: { op: string; key: string }[] = [];
  const oldStore = new Map<string, string>();

  before(async () => {
    [server, client, old] = (await plainHosts(3)) as [PlainHost, PlainHost, PlainHost];
    serving = new DirectReplicas({
      libp2p: server.host,
      datastore: served,
      namespaces: namespaces(),
      logger: silentLogger,
    });
    await serving.start();
    direct = new DirectReplicas({
      libp2p: client.host,
      datastore: new MemoryDatastore() as Datastore,
      namespaces: namespaces(),
      logger: silentLogger,
    });
    await direct.start();
    // a peer running the release before 'puts': get, put and note only, anything else "bad request"
    await old.host.handle(DIRECT_PROTOCOL, (stream, conn) =>
      serveChannel(
        stream,
        conn,
        async (_from, req) => {
          const r = req as { op: string; key: string; value?: string };
          oldRequests.push({ op: r.op, key: r.key });
          if (r.op === 'put' && typeof r.value === 'string') {
            oldStore.set(Buffer.from(r.key, 'base64').toString(), r.value);
            return { ok: true };
          }
          return { ok: false, error: 'bad request' };
        },
        { maxMessage: 1 << 20 },
      ),
    );
    await client.host.dial(server.host.getMultiaddrs()[0]!);
    await client.host.dial(old.host.getMultiaddrs()[0]!);
  });
  after(async () => {
    await direct.stop();
    await serving.stop();
    await Promise.all([server.stop(), client.stop(), old.stop()]);
  });

  const signal = (): AbortSignal => AbortSignal.timeout(5000);

  test('one value under two keys: one request, one datastore batch on the receiver, both stored', async () => {
    const [puts, batches] = [served.puts, served.batches];
    const value = enc('record bytes');
    const ok = await direct.putAllTo(
      server.host.peerId.toString(),
      [enc('/t/latest'), enc('/t/version/1')],
      value,
      signal(),
    );
    assert.deepEqual(ok, [true, true]);
    assert.deepEqual(await readLocalRecord(served, enc('/t/latest')), value);
    assert.deepEqual(await readLocalRecord(served, enc('/t/version/1')), value);
    assert.equal(served.batches - batches, 1, 'both records in one batch');
    assert.equal(served.puts - puts, 2, 'the batch wrote the two records, nothing else was written');
  });

  test('a key its namespace refuses is reported on its own; the other key is stored', async () => {
    const value = enc('second record');
    const ok = await direct.putAllTo(
      server.host.peerId.toString(),
      [enc('/t/refused'), enc('/t/other')],
      value,
      signal(),
    );
    assert.deepEqual(ok, [false, true]);
    assert.equal(await readLocalRecord(served, enc('/t/refused')), undefined);
    assert.deepEqual(await readLocalRecord(served, enc('/t/other')), value);
  });

  test('a single key still goes as a plain put, which a current receiver stores', async () => {
    const [puts, batches] = [served.puts, served.batches];
    assert.deepEqual(await direct.putAllTo(server.host.peerId.toString(), [enc('/t/one')], enc('x'), signal()), [true]);
    assert.equal(served.batches - batches, 0);
    assert.equal(served.puts - puts, 1);
  });

  test('a peer of an earlier release answers "puts" with bad request: it gets one put per key, then only puts', async () => {
    const peer = old.host.peerId.toString();
    const first = await direct.putAllTo(peer, [enc('/t/a'), enc('/t/b')], enc('v1'), signal());
    assert.deepEqual(first, [true, true]);
    assert.deepEqual(
      oldRequests.map((r) => r.op),
      ['puts', 'put', 'put'],
    );
    assert.deepEqual([...oldStore.keys()].sort(), ['/t/a', '/t/b']);
    oldRequests.length = 0;
    assert.deepEqual(await direct.putAllTo(peer, [enc('/t/c'), enc('/t/d')], enc('v2'), signal()), [true, true]);
    assert.deepEqual(
      oldRequests.map((r) => r.op),
      ['put', 'put'],
      'no second "puts" to a peer known to lack it',
    );
  });
});
