// Tests for src/core/p2p/yamux-window.ts between real libp2p hosts: a receiver sends no window update per data
// frame (small messages leave the sender's window consumed), and a transfer of many windows still completes
// intact, the window being restored as the receiver consumes it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Stream } from '@libp2p/interface';
import { installHalfWindowUpdates } from '../../src/core/p2p/yamux-window.ts';
import { plainHosts, type PlainHost } from '../helpers/cluster.ts';

const PROTOCOL = '/chorus/test/window/1.0.0';

/** The parts of @chainsafe/libp2p-yamux's stream this reads. */
interface YamuxWindow {
  sendWindowCapacity: number;
}

/** Resolves with the first message the stream receives. */
function firstMessage(stream: Stream, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    stream.addEventListener(
      'message',
      (evt) => {
        signal.removeEventListener('abort', onAbort);
        resolve(Buffer.from(evt.data.subarray()));
      },
      { once: true },
    );
  });
}

describe('yamux receive windows', () => {
  let a: PlainHost;
  let b: PlainHost;

  before(async () => {
    installHalfWindowUpdates();
    [a, b] = (await plainHosts(2)) as [PlainHost, PlainHost];
    // the receiver counts and hashes what arrives; once it has the byte count named in the protocol's first
    // 8 bytes, it answers with the count and the hash on the same stream
    await b.host.handle(PROTOCOL, (stream) => {
      let expected = -1;
      let got = 0;
      const hash = createHash('sha256');
      stream.addEventListener('message', (evt) => {
        let bytes = Buffer.from(evt.data.subarray());
        if (expected < 0) {
          expected = Number(bytes.readBigUInt64BE(0));
          bytes = bytes.subarray(8);
        }
        got += bytes.length;
        hash.update(bytes);
        if (got === expected) stream.send(Buffer.from(`${got} ${hash.digest('hex')}`));
      });
    });
    await a.host.dial(b.host.getMultiaddrs()[0]!);
  });
  after(() => Promise.all([a.stop(), b.stop()]));

  /** Sends `payload` (announced by its length) on a new stream; resolves with the stream and the receiver's answer. */
  async function transfer(payload: Buffer, chunk: number): Promise<{ stream: Stream; answer: string; window: number }> {
    const signal = AbortSignal.timeout(20_000);
    const stream = await a.host.dialProtocol(b.host.peerId, PROTOCOL, { signal });
    const window = (stream as unknown as YamuxWindow).sendWindowCapacity;
    const answered = firstMessage(stream, signal);
    const length = Buffer.alloc(8);
    length.writeBigUInt64BE(BigInt(payload.length));
    stream.send(length);
    for (let at = 0; at < payload.length; at += chunk) {
      if (!stream.send(payload.subarray(at, at + chunk))) await stream.onDrain({ signal });
    }
    return { stream, answer: (await answered).toString(), window };
  }

  const digest = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

  test('small messages get no window update each', async () => {
    const payload = Buffer.alloc(10_000, 7);
    const { stream, answer, window } = await transfer(payload, 1000);
    assert.equal(answer, `10000 ${digest(payload)}`);
    // the answer left the receiver after every frame it took, and frames of a connection arrive in order: any
    // window update it sent for them has reached the sender by now
    assert.equal(
      (stream as unknown as YamuxWindow).sendWindowCapacity,
      window - 8 - 10_000,
      'no window update came back for 10 KB of a 256 KiB window',
    );
    stream.abort(new Error('done'));
  });

  test('a transfer of many windows completes intact, the window restored as it is consumed', async () => {
    const payload = createHash('sha512').update('seed').digest();
    const big = Buffer.concat(Array.from({ length: (2 << 20) / payload.length }, (_, i) => payload.map((x) => x ^ i)));
    const { stream, answer, window } = await transfer(big, 64 * 1024);
    assert.equal(answer, `${big.length} ${digest(big)}`);
    // 8 windows went through: the sender could only send them because updates came back
    assert.ok(big.length > 4 * window);
    stream.abort(new Error('done'));
  });
});
