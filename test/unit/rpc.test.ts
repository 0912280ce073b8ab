// Persistent request/response channels (src/core/p2p/rpc.ts) between real libp2p hosts: many requests
// on one stream answered out of order, remote errors, deadlines, a bounded number in flight, a broken
// channel reopened by the next request, and the fallback for peers without the channel protocol.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Stream } from '@libp2p/interface';
import { RemoteError, RpcClient, serveChannel, type RpcHandler } from '../../src/core/p2p/rpc.ts';
import { plainHosts, type PlainHost } from '../helpers/cluster.ts';

const PROTOCOL = '/chorus/test/rpc/1.0.0';
const MISSING = '/chorus/test/rpc-missing/1.0.0';

describe('rpc channels', () => {
  let server: PlainHost;
  let client: PlainHost;
  let handler: RpcHandler = async (_from, req) => req;
  const served: Stream[] = [];

  before(async () => {
    [server, client] = (await plainHosts(2)) as [PlainHost, PlainHost];
    await server.host.handle(
      PROTOCOL,
      (stream, conn) => {
        served.push(stream);
        serveChannel(stream, conn, (from, req, signal) => handler(from, req, signal), { maxMessage: 64 * 1024 });
      },
      { maxInboundStreams: 64 },
    );
    await client.host.dial(server.host.getMultiaddrs()[0]!);
  });
  after(() => Promise.all([server.stop(), client.stop()]));

  const rpc = (opts: Partial<ConstructorParameters<typeof RpcClient>[0]> = {}): RpcClient =>
    new RpcClient({ libp2p: client.host, protocol: PROTOCOL, maxMessage: 64 * 1024, ...opts });
  const to = (): string => server.host.peerId.toString();

  test('many requests share one stream and are answered out of order, each to its caller', async () => {
    served.length = 0;
    handler = async (from, req) => {
      const n = (req as { n: number }).n;
      await new Promise((r) => setTimeout(r, (50 - n) % 7)); // later requests often finish first
      return { n, from };
    };
    const c = rpc();
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, n) => c.request(to(), { n }, AbortSignal.timeout(5000))),
    );
    assert.deepEqual(
      answers.map((a) => (a as { n: number }).n),
      Array.from({ length: 50 }, (_, n) => n),
    );
    assert.ok(answers.every((a) => (a as { from: string }).from === client.host.peerId.toString()));
    assert.equal(served.length, 1, 'one stream for all 50 requests');
    c.stop();
  });

  test('a handler error reaches the caller as a RemoteError; the channel stays usable', async () => {
    handler = async (_from, req) => {
      if ((req as { fail?: boolean }).fail) throw new Error('record refused: stale');
      return 'fine';
    };
    const c = rpc();
    await assert.rejects(c.request(to(), { fail: true }, AbortSignal.timeout(5000)), (err: unknown) => {
      assert.ok(err instanceof RemoteError);
      assert.equal(err.message, 'record refused: stale');
      return true;
    });
    assert.equal(await c.request(to(), {}, AbortSignal.timeout(5000)), 'fine');
    c.stop();
  });

  test('a request past its deadline fails with the signal’s reason; later requests still work', async () => {
    const hung = Promise.withResolvers<void>();
    handler = async (_from, req) => {
      if ((req as { hang?: boolean }).hang) await hung.promise;
      return 'answered';
    };
    const c = rpc();
    const controller = new AbortController();
    const waiting = c.request(to(), { hang: true }, controller.signal);
    controller.abort(new Error('deadline passed'));
    await assert.rejects(waiting, /deadline passed/);
    assert.equal(await c.request(to(), {}, AbortSignal.timeout(5000)), 'answered');
    hung.resolve(); // its late answer is dropped
    assert.equal(await c.request(to(), {}, AbortSignal.timeout(5000)), 'answered');
    c.stop();
  });

  test('at most maxInFlight requests are on the wire at once; the others wait for a slot', async () => {
    let running = 0;
    let most = 0;
    handler = async () => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      return 'ok';
    };
    const c = rpc({ maxInFlight: 3 });
    const all = await Promise.all(Array.from({ length: 12 }, () => c.request(to(), {}, AbortSignal.timeout(5000))));
    assert.equal(all.length, 12);
    assert.equal(most, 3);
    c.stop();
  });

  test('a broken channel fails its requests in flight, and the next request opens a new one', async () => {
    served.length = 0;
    const hung = Promise.withResolvers<void>();
    handler = async (_from, req) => {
      if ((req as { hang?: boolean }).hang) await hung.promise;
      return 'ok';
    };
    const c = rpc();
    assert.equal(await c.request(to(), {}, AbortSignal.timeout(5000)), 'ok');
    const inFlight = c.request(to(), { hang: true }, AbortSignal.timeout(5000));
    served[0]!.abort(new Error('server went away'));
    await assert.rejects(inFlight);
    assert.equal(await c.request(to(), {}, AbortSignal.timeout(5000)), 'ok');
    assert.equal(served.length, 2, 'reopened once');
    hung.resolve();
    c.stop();
  });

  test('a peer without the channel protocol is served through the legacy exchange', async () => {
    const legacy: unknown[] = [];
    const c = rpc({
      protocol: MISSING,
      legacy: async (_peer, req) => {
        legacy.push(req);
        return 'legacy answer';
      },
    });
    assert.equal(await c.request(to(), { q: 1 }, AbortSignal.timeout(5000)), 'legacy answer');
    assert.equal(await c.request(to(), { q: 2 }, AbortSignal.timeout(5000)), 'legacy answer');
    assert.deepEqual(legacy, [{ q: 1 }, { q: 2 }]);
    c.stop();
  });

  test('a channel opened ahead is the one the first request takes; for a peer without the protocol, nothing is opened', async () => {
    served.length = 0;
    handler = async () => 'ok';
    const c = rpc();
    assert.equal(await c.prepare(to()), true);
    assert.equal(c.openChannels, 1, 'the channel is open before any request');
    assert.equal(await c.prepare(to()), true, 'an open channel is kept');
    assert.equal(await c.request(to(), {}, AbortSignal.timeout(5000)), 'ok');
    assert.equal(served.length, 1, 'the request took the channel opened ahead');
    c.stop();
    assert.equal(await c.prepare(to()), false, 'a stopped client opens nothing');

    const legacy = rpc({ protocol: MISSING, legacy: async () => 'legacy answer' });
    assert.equal(await legacy.prepare(to()), false);
    assert.equal(await legacy.request(to(), {}, AbortSignal.timeout(5000)), 'legacy answer');
    legacy.stop();
  });

  test('a peer with no connection is not dialled to open a channel ahead', async () => {
    const [away] = (await plainHosts(1)) as [PlainHost];
    try {
      await away.host.handle(PROTOCOL, (stream, conn) =>
        serveChannel(stream, conn, async () => 'ok', { maxMessage: 1024 }),
      );
      const c = rpc();
      assert.equal(await c.prepare(away.host.peerId.toString()), false);
      assert.equal(client.host.getConnections(away.host.peerId).length, 0, 'no connection was made');
      assert.equal(await c.prepare('not a peer id'), false, 'resolves false, never rejects');
      c.stop();
    } finally {
      await away.stop();
    }
  });

  test('a peer served the legacy way takes the channel once one opens ahead (it was upgraded)', async () => {
    const upgraded = '/chorus/test/rpc-upgraded/1.0.0';
    const legacy: unknown[] = [];
    const c = rpc({ protocol: upgraded, legacy: async (_peer, req) => (legacy.push(req), 'legacy answer') });
    assert.equal(await c.request(to(), { q: 1 }, AbortSignal.timeout(5000)), 'legacy answer');
    await server.host.handle(upgraded, (stream, conn) =>
      serveChannel(stream, conn, async () => 'channel answer', { maxMessage: 1024 }),
    );
    try {
      assert.equal(await c.prepare(to()), true);
      assert.equal(await c.request(to(), { q: 2 }, AbortSignal.timeout(5000)), 'channel answer');
      assert.deepEqual(legacy, [{ q: 1 }]);
    } finally {
      c.stop();
      await server.host.unhandle(upgraded);
    }
  });

  test('a frame over the size limit ends the channel instead of being buffered', async () => {
    served.length = 0;
    handler = async () => 'ok';
    const c = rpc();
    await assert.rejects(c.request(to(), { big: 'x'.repeat(100 * 1024) }, AbortSignal.timeout(5000)));
    assert.equal(served[0]?.status, 'aborted');
    c.stop();
  });
});
