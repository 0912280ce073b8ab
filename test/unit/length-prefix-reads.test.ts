// Tests for src/core/p2p/length-prefix-reads.ts: once installed, a LengthPrefixedDecoder configured as Noise's (a
// 2-byte big-endian length) and one with the default varint length take the same frames out of every split of a
// byte stream — chunks ending inside a prefix, inside a body, and exactly on frame boundaries — and never ask
// their length decoder about an empty buffer (the call that threw a RangeError per received chunk). A decoder
// whose zero length would need no prefix bytes is left as the library made it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LengthPrefixedDecoder } from '@libp2p/utils';
import * as varint from 'uint8-varint';
import { installQuietEmptyReads } from '../../src/core/p2p/length-prefix-reads.ts';

/** What a decoder hands its length decoder (its buffer: @libp2p/utils' own Uint8ArrayList). */
type Lengths = Parameters<
  NonNullable<NonNullable<ConstructorParameters<typeof LengthPrefixedDecoder>[0]>['lengthDecoder']>
>[0];

/** Noise's length prefix (@chainsafe/libp2p-noise's uint16BEDecode), with the same RangeError on a short buffer. */
function uint16BE(data: Lengths): number {
  if (data.byteLength < 2) throw new RangeError('Could not decode int16BE');
  return data instanceof Uint8Array ? (data[0]! << 8) + data[1]! : data.getUint16(0);
}

/** Wraps a length decoder, recording the buffer sizes it was asked about and how often it threw. */
function spied(read: (data: Lengths) => number) {
  const asked: number[] = [];
  let threw = 0;
  const fn = (data: Lengths): number => {
    asked.push(data.byteLength);
    try {
      return read(data);
    } catch (err) {
      threw++;
      throw err;
    }
  };
  return { fn, asked, threw: () => threw };
}

const BODIES = [1, 2, 3, 127, 128, 300, 1000].map((n, i) => new Uint8Array(n).map((_, j) => (i * 7 + j) % 256));

function stream(prefix: (n: number) => Uint8Array): Uint8Array {
  return Buffer.concat(BODIES.flatMap((b) => [prefix(b.byteLength), b]));
}

/** Feeds `bytes` in chunks cut at `cuts`, collecting every frame the decoder yields. */
function decodeAll(decoder: LengthPrefixedDecoder, bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (const end of [...cuts, bytes.byteLength]) {
    for (const frame of decoder.decode(bytes.subarray(at, end))) out.push(frame.subarray());
    at = end;
  }
  return out;
}

/** Cut points: every single offset (one byte per chunk), frame boundaries only, and a few irregular sizes. */
function splits(bytes: Uint8Array, boundaries: number[]): number[][] {
  const every = Array.from({ length: bytes.byteLength - 1 }, (_, i) => i + 1);
  const irregular: number[] = [];
  for (let at = 0, step = 1; at + step < bytes.byteLength; step = (step * 5 + 3) % 97) irregular.push((at += step));
  return [[], every, boundaries, irregular];
}

function boundariesOf(prefixBytes: (n: number) => number): number[] {
  const out: number[] = [];
  let at = 0;
  for (const b of BODIES) out.push((at += prefixBytes(b.byteLength) + b.byteLength));
  return out.slice(0, -1);
}

describe('length-prefixed reads', () => {
  installQuietEmptyReads();
  installQuietEmptyReads(); // idempotent

  const cases = [
    {
      name: "Noise's 2-byte prefix",
      make: (read: (d: Lengths) => number) =>
        new LengthPrefixedDecoder({ lengthDecoder: read, encodingLength: () => 2, maxBufferSize: 1 << 20 }),
      read: uint16BE,
      prefix: (n: number) => Uint8Array.of(n >> 8, n & 0xff),
      prefixBytes: () => 2,
    },
    {
      name: 'the default varint prefix',
      make: (read: (d: Lengths) => number) => new LengthPrefixedDecoder({ lengthDecoder: read }),
      read: (d: Lengths) => varint.decode(d as Parameters<typeof varint.decode>[0]),
      prefix: (n: number) => varint.encode(n),
      prefixBytes: (n: number) => varint.encodingLength(n),
    },
  ];

  for (const c of cases) {
    test(`${c.name}: every split gives the same frames, and no empty buffer reaches the length decoder`, () => {
      const bytes = stream(c.prefix);
      for (const cuts of splits(bytes, boundariesOf(c.prefixBytes))) {
        const spy = spied(c.read);
        const frames = decodeAll(c.make(spy.fn), bytes, cuts);
        assert.deepEqual(
          frames.map((f) => Buffer.from(f).toString('hex')),
          BODIES.map((b) => Buffer.from(b).toString('hex')),
        );
        assert.ok(spy.asked.length > 0);
        assert.equal(spy.asked.filter((n) => n === 0).length, 0, `cuts ${cuts.length}: an empty buffer was decoded`);
      }
    });
  }

  test('a chunk holding whole frames costs no thrown error; a chunk ending inside a prefix still does', () => {
    const spy = spied(uint16BE);
    const decoder = cases[0]!.make(spy.fn);
    const frame = Buffer.concat([Uint8Array.of(0, 3), Uint8Array.of(1, 2, 3)]);
    assert.equal([...decoder.decode(Buffer.concat([frame, frame]))].length, 2);
    assert.equal(spy.threw(), 0);
    assert.equal([...decoder.decode(frame.subarray(0, 1))].length, 0); // half a prefix: wait for more
    assert.equal(spy.threw(), 1);
    assert.equal([...decoder.decode(frame.subarray(1))].length, 1);
  });

  test('a decoder whose zero length needs no prefix bytes is left alone', () => {
    const spy = spied(uint16BE);
    const decoder = new LengthPrefixedDecoder({ lengthDecoder: spy.fn, encodingLength: () => 0 });
    assert.equal([...decoder.decode(Uint8Array.of())].length, 0);
    assert.deepEqual(spy.asked, [0]);
    assert.equal(spy.threw(), 1);
  });
});
