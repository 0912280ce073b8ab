// One-hop replica writes (src/core/dht/direct.ts) between real libp2p hosts: one value stored under several
// keys in one request and one datastore batch on the receiver, a key refused by its namespace reported on
// its own, and peers of an earlier release (no 'puts' op) still served, one 'put' per key. Creates: stored
// only where no other record is held under any key, under all keys or none; taken back only by their sender.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryDatastore } from 'datastore-core';
import type { Batch, Datastore, Key } from 'interface-datastore';
import { DIRECT_PROTOCOL, DirectReplicas, RecordExistsError } from '../../src/core/dht/direct.ts';
import { readLocalRecord } from '../../src/core/dht/kad.ts';
import { RecordNamespaces } from '../../src/core/dht/namespaces.ts';
import { silentLogger } from '../../src/core/log.ts';
import { serveChannel } from '../../src/core/p2p/rpc.ts';
import { plainHosts, type PlainHost } from '../helpers/cluster.ts';
import { until } from '../helpers/poll.ts';

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
  /** A third peer, to try to take back what another created. */
  let third: PlainHost;
  let other: DirectReplicas;
  const served = new CountingDatastore();
  let direct: DirectReplicas;
  let serving: DirectReplicas;
  /** Requests the earlier-release peer received. */
  const oldRequests: { op: string; key: string }[] = [];
  const oldStore = new Map<string, string>();

  before(async () => {
    [server, client, old, third] = (await plainHosts(4)) as [PlainHost, PlainHost, PlainHost, PlainHost];
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
    other = new DirectReplicas({
      libp2p: third.host,
      datastore: new MemoryDatastore() as Datastore,
      namespaces: namespaces(),
      logger: silentLogger,
    });
    await other.start();
    await third.host.dial(server.host.getMultiaddrs()[0]!);
    await client.host.dial(server.host.getMultiaddrs()[0]!);
    await client.host.dial(old.host.getMultiaddrs()[0]!);
  });
  after(async () => {
    await Promise.all([direct.stop(), other.stop()]);
    await serving.stop();
    await Promise.all([server.stop(), client.stop(), old.stop(), third.stop()]);
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

  test('a create is stored under every key where none is held, again with the same bytes, and nowhere over another record', async () => {
    const server_ = server.host.peerId.toString();
    const [latest, version] = [enc('/t/c-latest'), enc('/t/c-version/1')];
    assert.equal(await direct.createAllTo(server_, [latest, version], enc('first'), signal()), 'created');
    assert.deepEqual(await readLocalRecord(served, latest), enc('first'));
    assert.deepEqual(await readLocalRecord(served, version), enc('first'));
    assert.equal(await direct.createAllTo(server_, [latest, version], enc('first'), signal()), 'created', 'a retry');

    // another record under one key: nothing is stored, under that key or the other
    const fresh = enc('/t/c-version/2');
    assert.equal(await direct.createAllTo(server_, [latest, fresh], enc('second'), signal()), 'exists');
    assert.deepEqual(await readLocalRecord(served, latest), enc('first'));
    assert.equal(await readLocalRecord(served, fresh), undefined);

    // a key its namespace refuses: the other is not stored either
    const other = enc('/t/c-other');
    assert.equal(await direct.createAllTo(server_, [other, enc('/t/c-refused')], enc('x'), signal()), 'refused');
    assert.equal(await readLocalRecord(served, other), undefined);

    // the same rules on this node's own store
    const local = await serving.storeAll([latest, enc('/t/c-local')], enc('third'), { create: true });
    assert.ok(local[0]?.error instanceof RecordExistsError);
    assert.equal(await readLocalRecord(served, enc('/t/c-local')), undefined);
  });

  test('a create is taken back by the peer that sent it, while the same bytes are held, and by nobody else', async () => {
    const to = server.host.peerId.toString();
    const keys = [enc('/t/r-latest'), enc('/t/r-version/1')];
    assert.equal(await direct.createAllTo(to, keys, enc('taken'), signal()), 'created');
    assert.equal(await other.retractFrom(to, keys, enc('taken'), signal()), 0, 'another peer cannot');
    assert.equal(await direct.retractFrom(to, keys, enc('other bytes'), signal()), 0, 'nor other bytes');
    assert.deepEqual(await readLocalRecord(served, keys[0]!), enc('taken'));
    assert.equal(await direct.retractFrom(to, keys, enc('taken'), signal()), 2);
    assert.equal(await readLocalRecord(served, keys[0]!), undefined);
    assert.equal(await readLocalRecord(served, keys[1]!), undefined);
    assert.equal(await direct.retractFrom(to, keys, enc('taken'), signal()), 0, 'once');

    // a record replaced since the create stays
    assert.equal(await direct.createAllTo(to, keys, enc('again'), signal()), 'created');
    assert.deepEqual(await direct.putAllTo(to, keys, enc('newer'), signal()), [true, true]);
    assert.equal(await direct.retractFrom(to, keys, enc('again'), signal()), 0);
    assert.deepEqual(await readLocalRecord(served, keys[1]!), enc('newer'));
    // a plain put is never taken back
    assert.equal(await direct.retractFrom(to, keys, enc('newer'), signal()), 0);
  });

  test('a peer of an earlier release answers a create with bad request: nothing is stored, and it is not asked again', async () => {
    const peer = old.host.peerId.toString();
    oldRequests.length = 0;
    assert.equal(await direct.createAllTo(peer, [enc('/t/e'), enc('/t/f')], enc('v'), signal()), 'unsupported');
    assert.equal(await direct.createAllTo(peer, [enc('/t/e'), enc('/t/f')], enc('v'), signal()), 'unsupported');
    assert.deepEqual(
      oldRequests.map((r) => r.op),
      ['creates'],
      'one request, then none to a peer known to lack creates',
    );
    assert.equal(oldStore.has('/t/e'), false);
  });

  test('a peer of an earlier release answers "puts" with bad request: it gets one put per key, then only puts', async () => {
    const peer = old.host.peerId.toString();
    oldRequests.length = 0;
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

describe('kad-direct channels', () => {
  test("a peer's channel is opened as it connects: its first request opens no stream", async () => {
    const [a, b] = (await plainHosts(2)) as [PlainHost, PlainHost];
    const replicas = [a, b].map(
      (h) =>
        new DirectReplicas({
          libp2p: h.host,
          datastore: new MemoryDatastore() as Datastore,
          namespaces: namespaces(),
          logger: silentLogger,
        }),
    );
    try {
      await Promise.all(replicas.map((r) => r.start()));
      await a.host.dial(b.host.getMultiaddrs()[0]!);
      /** The channel streams `host` has on its connection to `peer`, by direction. */
      const channels = (host: PlainHost, peer: PlainHost, direction: 'inbound' | 'outbound'): number =>
        host.host
          .getConnections(peer.host.peerId)
          .flatMap((c) => c.streams)
          .filter((s) => s.protocol === DIRECT_PROTOCOL && s.direction === direction).length;
      // each side opens its own channel to the other once identify has told it the protocol, before any request
      await until('both channels', () => channels(a, b, 'outbound') === 1 && channels(b, a, 'outbound') === 1, {
        intervalMs: 10,
      });
      const key = enc('/t/first');
      assert.equal(await replicas[0]!.putTo(b.host.peerId.toString(), key, enc('v'), AbortSignal.timeout(5000)), true);
      assert.equal(channels(a, b, 'outbound'), 1, 'the first request took the channel opened ahead');
    } finally {
      await Promise.all(replicas.map((r) => r.stop()));
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
