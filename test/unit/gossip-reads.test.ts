// Tests for src/core/p2p/gossip-reads.ts: GossipSub's inbound RPCs read from the stream's message events reach its
// decode and handler whole, once each and in order, however the bytes are cut into chunks; the read loop's limits and
// endings are kept (an undecodable RPC or a failing handler is counted and the reading goes on; an oversized frame,
// an overlong length prefix, an end inside a frame or a stream error end the reading through
// handlePeerReadStreamError, after the RPCs before it, and an error thrown there is logged); a new stream replaces the
// peer's earlier one, whose readable end is closed. Then on real GossipSub hosts over loopback: messages flow through
// the event reader, and a peer that sends an oversized frame has its reading ended.
import assert from 'node:assert/strict';
import { after, describe, it, test } from 'node:test';
import { RPC } from '@libp2p/gossipsub/message';
import { GossipReadError, readGossipFromEvents, type InboundRawStream } from '../../src/core/p2p/gossip-reads.ts';
import { plainHosts, type PlainHost } from '../helpers/cluster.ts';
import { until } from '../helpers/poll.ts';

class FakeStream extends EventTarget implements InboundRawStream {
  closed = false;
  readClosed = false;
  aborted: Error | undefined;
  listeners = 0;
  override addEventListener(type: string, listener: (evt: Event) => void): void {
    this.listeners++;
    super.addEventListener(type, listener);
  }
  override removeEventListener(type: string, listener: (evt: Event) => void): void {
    this.listeners--;
    super.removeEventListener(type, listener);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  async closeRead(): Promise<void> {
    this.readClosed = true;
  }
  abort(err: Error): void {
    this.aborted = err;
  }
  send(data: Uint8Array | Iterable<Uint8Array>): void {
    this.dispatchEvent(Object.assign(new Event('message'), { data }));
  }
  end(): void {
    this.dispatchEvent(new Event('remoteCloseWrite'));
  }
  fail(error: Error): void {
    this.dispatchEvent(Object.assign(new Event('close'), { error }));
  }
}

/** A stand-in for GossipSub's internals that records what reaches its handler and its read-error path. */
function fakeGossip(opts: { maxInboundDataLength?: number; awaitRpcHandler?: boolean } = {}) {
  const handled: { from: unknown; rpc: RPC }[] = [];
  const readErrors: unknown[] = [];
  const counts = { recv: 0, dataError: 0, recvError: 0, readError: 0 };
  const logged: unknown[] = [];
  const gossip = {
    peers: new Map<string, unknown>([['peer-a', {}]]),
    streamsInbound: new Map<string, { close(): Promise<void> }>(),
    opts,
    isStarted: () => true,
    log: (...args: unknown[]) => void logged.push(args[0]),
    decodeRpc: (bytes: Uint8Array) => RPC.decode(bytes),
    handleReceivedRpc: async (from: unknown, rpc: RPC) => {
      handled.push({ from, rpc });
    },
    handlePeerReadStreamError: (err: unknown, _peer: unknown) => void readErrors.push(err),
    metrics: {
      onRpcRecv: () => counts.recv++,
      onRpcDataError: () => counts.dataError++,
      onRpcRecvError: () => counts.recvError++,
      onPeerReadStreamError: () => counts.readError++,
    },
    createInboundStream: (_peer: unknown, _stream: InboundRawStream) => {
      throw new Error('not replaced');
    },
  };
  readGossipFromEvents(gossip);
  const open = (peer = 'peer-a'): FakeStream => {
    const stream = new FakeStream();
    gossip.createInboundStream({ toString: () => peer }, stream);
    return stream;
  };
  return { gossip, handled, readErrors, counts, logged, open };
}

/** An unsigned varint (the length prefix GossipSub writes). */
function varint(n: number): Uint8Array {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
  out.push(n);
  return Uint8Array.from(out);
}

const rpcOf = (topic: string): RPC => ({ subscriptions: [{ subscribe: true, topic }], messages: [] });
const frame = (bytes: Uint8Array): Uint8Array => Buffer.concat([varint(bytes.byteLength), bytes]);
const topicsOf = (handled: { rpc: RPC }[]): string[] => handled.map((h) => h.rpc.subscriptions[0]?.topic ?? '');

describe('readGossipFromEvents', () => {
  // three RPCs, the middle one with a two-byte length prefix
  const topics = ['a', 'b'.repeat(200), 'c'];
  const wire = Buffer.concat(topics.map((t) => frame(RPC.encode(rpcOf(t)))));

  it('hands every RPC to GossipSub once and in order, wherever the chunks are cut', () => {
    for (let i = 0; i <= wire.length; i++) {
      for (let j = i; j <= wire.length; j++) {
        const { handled, readErrors, open } = fakeGossip();
        const stream = open();
        for (const piece of [wire.subarray(0, i), wire.subarray(i, j), wire.subarray(j)]) stream.send(piece);
        assert.deepEqual(topicsOf(handled), topics, `cut at ${i} and ${j}`);
        assert.deepEqual(readErrors, []);
        assert.ok(handled.every((h) => String(h.from) === 'peer-a'));
      }
    }
  });

  it('reads byte by byte, and a Uint8ArrayList chunk (iterable over its parts) part by part', () => {
    const { handled, counts, open } = fakeGossip();
    const stream = open();
    for (const b of wire) stream.send(Uint8Array.of(b));
    const parts = [wire.subarray(0, 5), wire.subarray(5, 100), wire.subarray(100)];
    stream.send({ [Symbol.iterator]: () => parts[Symbol.iterator]() });
    assert.deepEqual(topicsOf(handled), [...topics, ...topics]);
    assert.equal(counts.recv, 6);
  });

  it('drops an RPC that does not decode, counts it, and reads on', () => {
    const { handled, counts, readErrors, open } = fakeGossip();
    const stream = open();
    stream.send(Buffer.concat([frame(Uint8Array.of(0xff, 0xff, 0xff)), frame(RPC.encode(rpcOf('after')))]));
    assert.deepEqual(topicsOf(handled), ['after']);
    assert.equal(counts.dataError, 1);
    assert.deepEqual(readErrors, []);
  });

  it('ends the reading on a frame over maxInboundDataLength, before its bytes arrive, and reads no more', () => {
    const { handled, counts, readErrors, open } = fakeGossip({ maxInboundDataLength: 100 });
    const stream = open();
    stream.send(varint(101));
    assert.equal(readErrors.length, 1);
    assert.ok(readErrors[0] instanceof GossipReadError && /too long/.test(readErrors[0].message));
    assert.equal(counts.readError, 1);
    assert.equal(stream.listeners, 0, 'no listener left on the stream');
    stream.send(frame(RPC.encode(rpcOf('late'))));
    assert.deepEqual(handled, []);
  });

  it('a frame of exactly maxInboundDataLength is read', () => {
    const rpc = RPC.encode(rpcOf('x'.repeat(50)));
    const { handled, readErrors, open } = fakeGossip({ maxInboundDataLength: rpc.byteLength });
    open().send(frame(rpc));
    assert.equal(handled.length, 1);
    assert.deepEqual(readErrors, []);
  });

  it('reads a length prefix of 8 bytes and ends the reading on a longer one', () => {
    const eight = fakeGossip();
    eight.open().send(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00));
    assert.equal(eight.handled.length, 1, 'an 8-byte prefix of 0: an empty RPC');
    assert.deepEqual(eight.readErrors, []);
    const over = fakeGossip();
    over.open().send(new Uint8Array(8).fill(0x80));
    assert.equal(over.readErrors.length, 1);
    assert.match(String(over.readErrors[0]), /length length too long/);
  });

  it('a zero-length frame is an empty RPC', () => {
    const { handled, open } = fakeGossip();
    open().send(Uint8Array.of(0));
    assert.equal(handled.length, 1);
    assert.deepEqual(handled[0]?.rpc.subscriptions, []);
  });

  it('a handler that fails is counted and logged, and the reading goes on', async () => {
    const { gossip, counts, logged, open } = fakeGossip();
    const seen: string[] = [];
    gossip.handleReceivedRpc = async (_from, rpc) => {
      const topic = rpc.subscriptions[0]?.topic ?? '';
      seen.push(topic);
      if (topic === 'a') throw new Error('handler failed');
    };
    open().send(wire);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(seen, topics);
    assert.equal(counts.recvError, 1);
    assert.ok(logged.some((e) => e instanceof Error && e.message === 'handler failed'));
  });

  it('an end inside a frame, or inside or just after its length prefix, is an error; at a boundary it is not', () => {
    // [bytes sent, ended by]: inside a body; inside a two-byte prefix; just after a prefix; a clean close mid-body
    const first = frame(RPC.encode(rpcOf('a'))).byteLength;
    const cases: [Uint8Array, 'end' | 'close'][] = [
      [wire.subarray(0, wire.length - 1), 'end'],
      [wire.subarray(0, first + 1), 'end'],
      [wire.subarray(0, first + 2), 'end'],
      [wire.subarray(0, first + 10), 'close'],
    ];
    for (const [bytes, how] of cases) {
      const cut = fakeGossip();
      const s1 = cut.open();
      s1.send(bytes);
      if (how === 'end') s1.end();
      else s1.dispatchEvent(new Event('close'));
      assert.equal(cut.readErrors.length, 1, `${bytes.byteLength} bytes, ${how}`);
      assert.match(String(cut.readErrors[0]), /Unexpected end of input/);
      assert.equal(s1.listeners, 0);
    }

    const whole = fakeGossip();
    const s2 = whole.open();
    s2.send(wire);
    s2.end();
    assert.deepEqual(whole.readErrors, []);
    assert.equal(s2.listeners, 0, 'the ended stream is no longer listened to');
    assert.equal(whole.handled.length, 3);
  });

  it('a stream closed with an error ends the reading with that error; a clean close does not', () => {
    const { readErrors, open } = fakeGossip();
    const reset = new Error('stream reset');
    const failed = open();
    failed.fail(reset);
    assert.deepEqual(readErrors, [reset]);
    assert.equal(failed.listeners, 0);
    const clean = fakeGossip();
    const s = clean.open();
    s.dispatchEvent(new Event('close'));
    assert.deepEqual(clean.readErrors, []);
    assert.equal(s.listeners, 0);
  });

  it('a second inbound stream from the peer replaces the first, which is closed, its readable end too', async () => {
    const { gossip, handled, open } = fakeGossip();
    const first = open();
    const second = open();
    await Promise.resolve();
    assert.equal(first.closed, true);
    assert.equal(first.readClosed, true);
    assert.equal(first.listeners, 0);
    assert.equal(gossip.streamsInbound.size, 1);
    first.send(frame(RPC.encode(rpcOf('old'))));
    second.send(frame(RPC.encode(rpcOf('new'))));
    assert.deepEqual(topicsOf(handled), ['new']);
  });

  it('takes no stream from an unknown peer or while stopped, as GossipSub', () => {
    const { gossip, open } = fakeGossip();
    open('peer-z');
    assert.equal(gossip.streamsInbound.size, 0);
    gossip.isStarted = () => false;
    open();
    assert.equal(gossip.streamsInbound.size, 0);
  });

  it('with awaitRpcHandler, each RPC is handled after the one before has finished', async () => {
    const { gossip, open } = fakeGossip({ awaitRpcHandler: true });
    const events: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    gossip.handleReceivedRpc = async (_from, rpc) => {
      const topic = rpc.subscriptions[0]?.topic ?? '';
      events.push(`start ${topic}`);
      if (topic === 'a') await gate;
      events.push(`end ${topic}`);
    };
    open().send(wire);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(events, ['start a']);
    release();
    await until('all handled', () => events.length === 6);
    assert.deepEqual(events, ['start a', 'end a', `start ${topics[1]}`, `end ${topics[1]}`, 'start c', 'end c']);
  });

  it('with awaitRpcHandler, a read error is reported after the handlers of the RPCs before it', async () => {
    const { gossip, readErrors, open } = fakeGossip({ awaitRpcHandler: true, maxInboundDataLength: 1000 });
    const events: string[] = [];
    gossip.handleReceivedRpc = async (_from, rpc) => {
      await new Promise((resolve) => setImmediate(resolve));
      events.push(`handled ${rpc.subscriptions[0]?.topic ?? ''}`);
    };
    gossip.handlePeerReadStreamError = (err) => {
      events.push('read error');
      readErrors.push(err);
    };
    open().send(Buffer.concat([frame(RPC.encode(rpcOf('a'))), frame(RPC.encode(rpcOf('c'))), varint(1001)]));
    assert.deepEqual(events, [], 'nothing reported before the handlers ran');
    await until('the read error', () => events.length === 3);
    assert.deepEqual(events, ['handled a', 'handled c', 'read error']);
  });

  it('an error thrown while the reading ends is logged, not thrown out of the stream event', () => {
    const { gossip, logged, open } = fakeGossip({ maxInboundDataLength: 10 });
    const thrown = new Error('removePeer failed');
    gossip.handlePeerReadStreamError = () => {
      throw thrown;
    };
    assert.doesNotThrow(() => open().send(varint(11)));
    assert.ok(logged.includes(thrown));
  });

  it('leaves an object without GossipSub internals alone', () => {
    const other = { createInboundStream: () => 'own' };
    readGossipFromEvents(other);
    assert.equal(other.createInboundStream(), 'own');
  });
});

describe('GossipSub hosts read inbound RPCs from events', () => {
  const started: PlainHost[] = [];
  after(() => Promise.all(started.map((h) => h.stop())));
  const TOPIC = 'CHORUS/test/reads/v1';

  test('messages flow through the event reader, and an oversized frame ends that peer reading', async () => {
    const hosts = await plainHosts(2);
    started.push(...hosts);
    const [a, b] = hosts as [PlainHost, PlainHost];
    await a.host.dial(b.host.getMultiaddrs()[0]!);
    for (const h of hosts) h.host.services.pubsub.subscribe(TOPIC);
    await until('a and b see each other in the topic', () =>
      hosts.every((h) => h.host.services.pubsub.getSubscribers(TOPIC).length === 1),
    );
    const internals = b.host.services.pubsub as unknown as {
      streamsInbound: Map<string, object>;
      handlePeerReadStreamError(err: unknown, peer: unknown): void;
    };
    const inbound = internals.streamsInbound.get(a.host.peerId.toString());
    assert.ok(inbound !== undefined && !('source' in inbound), 'the inbound stream is read from events');

    const got: string[] = [];
    b.host.services.pubsub.addEventListener('message', (evt) => {
      got.push(new TextDecoder().decode(evt.detail.data));
    });
    for (let i = 0; i < 20; i++) await a.host.services.pubsub.publish(TOPIC, new TextEncoder().encode(`m${i}`));
    await until('20 messages', () => got.length === 20);
    assert.deepEqual(
      got,
      Array.from({ length: 20 }, (_, i) => `m${i}`),
    );

    const readError = new Promise<unknown>((resolve) => {
      const original = internals.handlePeerReadStreamError.bind(internals);
      internals.handlePeerReadStreamError = (err, peer) => {
        resolve(err);
        original(err, peer);
      };
    });
    const raw = await a.host.dialProtocol(b.host.peerId, '/meshsub/1.2.0');
    raw.send(varint(5 * 1024 * 1024));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no read error within 15 s')), 15_000);
    });
    const err = await Promise.race([readError, deadline]).finally(() => clearTimeout(timer));
    assert.ok(err instanceof GossipReadError && /too long/.test(err.message));
  });
});
