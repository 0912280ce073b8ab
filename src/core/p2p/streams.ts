// Small helpers for request/response protocols over libp2p streams: read a whole message, bounded.
import type { Stream } from '@libp2p/interface';

/** Reads a stream to its end; throws when it carries more than `max` bytes. */
export async function readAll(stream: Stream, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = Buffer.from(chunk.subarray());
    size += buf.length;
    if (size > max) throw new Error('message too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}
