// Length-prefixed reads without an exception per received chunk.
// @libp2p/utils' LengthPrefixedDecoder (the frame reader of every Noise connection) takes frames off its buffer
// until it cannot read another length prefix, and it learns that by catching the RangeError its length decoder
// throws. After a chunk's last whole frame the buffer is empty, so every chunk a connection receives cost one
// Error and its captured stack trace: ~2.7 % of the nodes' CPU under decision writes (perf, 5 node processes).
// An empty buffer now reads as a zero length, which ends the loop on the same branch that a short buffer takes
// (a zero-length frame still needs its prefix's bytes). A partial prefix still throws and is caught as before.
// Installed once per process, by createHost.
import { LengthPrefixedDecoder } from '@libp2p/utils';

interface DecoderFields {
  lengthDecoder: (data: { byteLength: number }) => number;
  encodingLength: (length: number) => number;
}

const PATCHED = Symbol.for('chorus.lengthPrefixedDecoder.emptyReads');
const WRAPPED = Symbol('chorus.lengthPrefixedDecoder.wrapped');

/** Makes every LengthPrefixedDecoder of this process read an empty buffer as "no frame yet" without a throw. Idempotent. */
export function installQuietEmptyReads(): void {
  const proto = LengthPrefixedDecoder.prototype as unknown as Record<PropertyKey, unknown> & {
    decode: (this: DecoderFields, buf: Uint8Array) => Generator<unknown>;
  };
  if (proto[PATCHED]) return;
  const original = proto.decode;
  proto.decode = function decode(this: DecoderFields, buf: Uint8Array): Generator<unknown> {
    const self = this as DecoderFields & { [WRAPPED]?: true };
    if (!self[WRAPPED]) {
      self[WRAPPED] = true;
      quietEmptyReads(self);
    }
    return original.call(this, buf);
  };
  proto[PATCHED] = true;
}

function quietEmptyReads(decoder: DecoderFields): void {
  // only where a zero length still needs prefix bytes: otherwise a zero would take an empty frame forever
  if (!(decoder.encodingLength(0) > 0)) return;
  const read = decoder.lengthDecoder;
  decoder.lengthDecoder = (data) => (data.byteLength === 0 ? 0 : read(data));
}
