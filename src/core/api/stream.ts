// Streaming responses of the control API — NDJSON (subscribe, election watch) and server-sent events (the
// portal) — with a bounded buffer per client. A client that stops reading (a paused pipe, a stopped process) no
// longer makes the daemon buffer without limit: once more than `maxBuffered` bytes wait for it, the stream is
// closed with a last frame saying why, and the connection is cut if even that cannot be delivered. Also the
// client side: a close frame becomes a StreamClosedError with the node's reason.
import type { ServerResponse } from 'node:http';
import { ChorusError } from '../errors.ts';

/** Bytes that may wait for one client before it is dropped (4 MiB: thousands of messages of headroom). */
export const DEFAULT_MAX_BUFFERED = 4 * 1024 * 1024;
/** After the close frame, how long a client has to take what is buffered before its connection is cut. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

export type StreamFormat = 'ndjson' | 'sse';

/** Why a stream ended from the node's side (the last frame of the stream). */
export interface StreamClose {
  /** SLOW_CLIENT: over maxBuffered bytes waited for the client; others as the route says (e.g. NODE_STOPPING). */
  code: string;
  message: string;
}

/** The last NDJSON line of a stream the node closed: `{"closed":{"code":…,"message":…}}`. */
export interface CloseFrame {
  closed: StreamClose;
}

export interface StreamOptions {
  format?: StreamFormat;
  maxBuffered?: number;
  drainTimeoutMs?: number;
  /** The request's signal: aborted when the client goes away. */
  signal: AbortSignal;
}

/**
 * One client's stream. send() queues a value unless the client is too far behind, in which case the stream is
 * dropped (once) with a SLOW_CLIENT close frame. `done` resolves when the client went away or the stream ended.
 */
export class BoundedStream {
  readonly #res: ServerResponse;
  readonly #format: StreamFormat;
  readonly #maxBuffered: number;
  readonly #drainTimeoutMs: number;
  readonly #ended = Promise.withResolvers<StreamClose | undefined>();
  #open = true;
  /** Most bytes that waited for this client at once (tests and metrics read it). */
  maxBufferedSeen = 0;

  constructor(res: ServerResponse, opts: StreamOptions) {
    this.#res = res;
    this.#format = opts.format ?? 'ndjson';
    this.#maxBuffered = opts.maxBuffered ?? DEFAULT_MAX_BUFFERED;
    this.#drainTimeoutMs = opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    const contentType = this.#format === 'sse' ? 'text/event-stream' : 'application/x-ndjson';
    res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
    const gone = (): void => {
      this.#open = false;
      this.#ended.resolve(undefined);
    };
    if (opts.signal.aborted) gone();
    else opts.signal.addEventListener('abort', gone, { once: true });
    res.once('close', gone);
  }

  /** Resolves when the stream is over: with the close reason when the node closed it, else undefined. */
  get done(): Promise<StreamClose | undefined> {
    return this.#ended.promise;
  }

  get open(): boolean {
    return this.#open;
  }

  /** Queues one value (an SSE `event` name optional); false when the stream is over or was just dropped. */
  send(value: unknown, event?: string): boolean {
    if (!this.#open) return false;
    const frame = this.#frame(value, event);
    const waiting = this.#res.writableLength;
    if (waiting + Buffer.byteLength(frame) > this.#maxBuffered) {
      this.close({
        code: 'SLOW_CLIENT',
        message: `the client fell behind: over ${this.#maxBuffered} bytes waited for it, so the node stopped sending; reconnect and read faster`,
      });
      return false;
    }
    this.#res.write(frame);
    this.maxBufferedSeen = Math.max(this.maxBufferedSeen, this.#res.writableLength);
    return true;
  }

  /**
   * Ends the stream: with a reason, a last close frame says why (and the connection is cut if the client does
   * not take it within the drain timeout); without one, it just ends. Idempotent.
   */
  close(reason?: StreamClose): void {
    if (!this.#open) return;
    this.#open = false;
    if (reason) this.#res.write(this.#frame({ closed: reason } satisfies CloseFrame, 'close'));
    this.#res.end();
    if (reason && !this.#res.writableFinished) {
      const cut = setTimeout(() => this.#res.destroy(), this.#drainTimeoutMs);
      cut.unref();
      this.#res.once('close', () => clearTimeout(cut));
    }
    this.#ended.resolve(reason);
  }

  #frame(value: unknown, event?: string): string {
    const json = JSON.stringify(value);
    if (this.#format === 'ndjson') return `${json}\n`;
    return `${event ? `event: ${event}\n` : ''}data: ${json}\n\n`;
  }
}

/** Starts a bounded stream on a route's response (see BoundedStream). */
export function openStream(res: ServerResponse, opts: StreamOptions): BoundedStream {
  return new BoundedStream(res, opts);
}

/** The node closed the stream (e.g. this client read too slowly); the message says why. */
export class StreamClosedError extends ChorusError {
  readonly reason: StreamClose;
  constructor(reason: StreamClose) {
    super('STREAM_CLOSED', `the node closed the stream: ${reason.message}`);
    this.name = 'StreamClosedError';
    this.reason = reason;
  }
}

function closeFrame(value: unknown): StreamClose | undefined {
  const closed = (value as Partial<CloseFrame> | null)?.closed;
  if (typeof closed !== 'object' || closed === null) return undefined;
  const { code, message } = closed as Partial<StreamClose>;
  return typeof code === 'string' && typeof message === 'string' ? { code, message } : undefined;
}

/** Parses one NDJSON line of a stream; a close frame throws StreamClosedError with the node's reason. */
export function parseStreamLine<T>(line: string): T {
  const value = JSON.parse(line) as unknown;
  const closed = closeFrame(value);
  if (closed) throw new StreamClosedError(closed);
  return value as T;
}
