// Tests for src/core/p2p/gossip-writes.ts: GossipSub's writes to one peer in one event-loop turn leave in one write,
// unchanged and in order; a stream that cannot be written still fails at once; closing flushes what is queued.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { coalesceGossipWrites } from '../../src/core/p2p/gossip-writes.ts';

interface FakeStream {
  rawStream: { writeStatus: string; sent: Uint8Array[]; send(data: Uint8Array | { subarray(): Uint8Array }): boolean };
  pushPrefixed(data: Uint8Array | { subarray(): Uint8Array; byteLength: number }): void;
  close(): Promise<void>;
  closed: boolean;
}

function fakeStream(): FakeStream {
  const stream: FakeStream = {
    closed: false,
    rawStream: {
      writeStatus: 'writable',
      sent: [],
      send(data) {
        if (this.writeStatus !== 'writable') throw new Error(`Cannot write to a stream that is ${this.writeStatus}`);
        this.sent.push(data instanceof Uint8Array ? data : data.subarray());
        return true;
      },
    },
    // as GossipSub's OutboundStream: one write per RPC
    pushPrefixed(data) {
      this.rawStream.send(data);
    },
    async close() {
      this.closed = true;
      this.rawStream.writeStatus = 'closed';
    },
  };
  return stream;
}

function coalescing(): { outbound: Map<string, FakeStream>; stream: FakeStream } {
  const gossip = { streamsOutbound: new Map<string, FakeStream>() };
  coalesceGossipWrites(gossip);
  const stream = fakeStream();
  gossip.streamsOutbound.set('peer-a', stream);
  return { outbound: gossip.streamsOutbound, stream };
}

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const list = (...b: number[]) => ({ byteLength: b.length, subarray: () => Uint8Array.from(b) });

describe('coalesceGossipWrites', () => {
  it('RPCs written to one peer in one turn leave in one write, byte for byte and in order', async () => {
    const { outbound, stream } = coalescing();
    const s = outbound.get('peer-a')!;
    assert.equal(s, stream);
    s.pushPrefixed(bytes(1, 2));
    s.pushPrefixed(list(3, 4, 5));
    s.pushPrefixed(bytes(6));
    assert.equal(stream.rawStream.sent.length, 0, 'nothing leaves before the turn ends');
    await nextTurn();
    assert.deepEqual(stream.rawStream.sent, [Buffer.from([1, 2, 3, 4, 5, 6])]);
    s.pushPrefixed(bytes(7));
    await nextTurn();
    assert.deepEqual(
      stream.rawStream.sent.map((b) => [...b]),
      [[1, 2, 3, 4, 5, 6], [7]],
    );
  });

  it('a write to a closed stream throws at once, as before (GossipSub keeps its control messages for a retry)', () => {
    const { stream } = coalescing();
    stream.rawStream.writeStatus = 'closing';
    assert.throws(() => stream.pushPrefixed(bytes(1)), /closing/);
  });

  it('closing the stream first sends what was queued in this turn', async () => {
    const { stream } = coalescing();
    stream.pushPrefixed(bytes(9, 9));
    await stream.close();
    assert.equal(stream.closed, true);
    assert.deepEqual(
      stream.rawStream.sent.map((b) => [...b]),
      [[9, 9]],
    );
    await nextTurn();
    assert.equal(stream.rawStream.sent.length, 1, 'nothing is sent twice');
  });

  it('leaves a GossipSub without the streamsOutbound map, and values that are no outbound stream, alone', () => {
    assert.doesNotThrow(() => coalesceGossipWrites({}));
    const gossip = { streamsOutbound: new Map<string, unknown>() };
    coalesceGossipWrites(gossip);
    const other = { something: true };
    gossip.streamsOutbound.set('x', other);
    assert.equal(gossip.streamsOutbound.get('x'), other);
  });
});
