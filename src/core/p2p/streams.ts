// Small helpers for request/response protocols over libp2p streams: read a whole message, bounded in
// size and in time (a peer that stops answering must not hold a caller, or a handler, forever).
//
// Reads use the stream's events, not its async iterator: the iterator ends only on a
// 'remoteCloseWrite' (or 'close') it sees itself, so a handler that starts iterating after the
// remote already sent its request and closed its end waits forever with the request in its buffer
// (@libp2p/utils 7.4; seen on loaded nodes: admission challenges stalled until they timed out).
import type { Stream } from '@libp2p/interface';

function asError(reason: unknown, fallback: string): Error {
  return reason instanceof Error ? reason : new Error(fallback);
}

/**
 * Reads a stream until the remote closes its end; throws when it carries more than `max` bytes, or
 * is reset. When `signal` aborts first, the stream is aborted and the read throws the signal's reason.
 */
export function readAll(stream: Stream, max: number, signal?: AbortSignal): Promise<Buffer> {
  const { promise, resolve, reject } = Promise.withResolvers<Buffer>();
  const chunks: Buffer[] = [];
  let size = 0;
  const cleanup = (): void => {
    stream.removeEventListener('message', onMessage);
    stream.removeEventListener('end', onEnd);
    stream.removeEventListener('close', onClose);
    signal?.removeEventListener('abort', onAbort);
  };
  const fail = (err: Error): void => {
    cleanup();
    reject(err);
  };
  const onMessage = (evt: { data: { subarray(): Uint8Array } }): void => {
    const buf = Buffer.from(evt.data.subarray());
    size += buf.length;
    if (size > max) {
      const err = new Error('message too large');
      fail(err);
      stream.abort(err);
      return;
    }
    chunks.push(buf);
  };
  const onEnd = (): void => {
    // an abort or a reset ends the readable side too: that is a failure, not the end of the message
    if (stream.status === 'aborted' || stream.status === 'reset') return fail(new Error(`stream ${stream.status}`));
    cleanup();
    resolve(Buffer.concat(chunks));
  };
  const onClose = (evt: { error?: Error }): void => {
    if (evt.error) fail(evt.error);
    else onEnd();
  };
  const onAbort = (): void => {
    const err = asError(signal?.reason, 'stream read timed out');
    fail(err);
    stream.abort(err);
  };
  if (signal?.aborted) {
    onAbort();
    return promise;
  }
  if (stream.readableEnded || (stream.readStatus === 'closed' && stream.readBufferLength === 0)) {
    resolve(Buffer.alloc(0));
    return promise;
  }
  signal?.addEventListener('abort', onAbort, { once: true });
  stream.addEventListener('end', onEnd);
  stream.addEventListener('close', onClose);
  stream.addEventListener('message', onMessage); // last: dispatches anything already buffered
  return promise;
}

/** Reads a whole JSON message (a request, on the serving side), bounded by `max` bytes and `signal`. */
export async function readJson(stream: Stream, max: number, signal: AbortSignal): Promise<unknown> {
  return JSON.parse((await readAll(stream, max, signal)).toString('utf8')) as unknown;
}

/**
 * One request/response exchange on a stream the caller opened: sends `request` as JSON, closes the
 * writable end and reads the JSON answer, all within `signal`.
 */
export async function requestJson(
  stream: Stream,
  request: unknown,
  max: number,
  signal: AbortSignal,
): Promise<unknown> {
  stream.send(Buffer.from(JSON.stringify(request)));
  await stream.close({ signal });
  return readJson(stream, max, signal);
}
