// Persistent request/response channels over libp2p: one long-lived stream per peer and protocol that
// carries many requests, each a length-prefixed frame with a request id, answered out of order, with a
// bounded number in flight and a deadline per request; a broken channel is reopened by the next request.
//
// Why: opening a libp2p stream costs a multistream-select round trip, a peer-store write on both sides
// and yamux SYN/FIN/window-update frames — ~2 ms on loopback on the development VM, more than the
// request itself. On an open channel a request is one frame each way.
//
// Wire format (both directions): u32 BE length of the rest | u32 BE request id | u8 kind | payload.
// kind 0: request (JSON) · 1: answer (JSON) · 2: error (UTF-8 message). Frames written in one turn of the
// event loop go out as one stream write. A peer that speaks only the older one-stream-per-message protocol
// (UnsupportedProtocolError on open) is served through the caller's `legacy` exchange for a while.
import type { Connection, Libp2p, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { ChorusError, describeError } from '../errors.ts';
import type { Logger } from '../log.ts';

const HEADER = 9;
const KIND_REQUEST = 0;
const KIND_ANSWER = 1;
const KIND_ERROR = 2;
/** How long a peer that answered "unsupported protocol" is served through the legacy exchange. */
const LEGACY_MS = 5 * 60_000;

/** An error the remote handler reported (its message), as opposed to a transport failure. */
export class RemoteError extends ChorusError {
  constructor(message: string) {
    super('REMOTE_ERROR', message);
    this.name = 'RemoteError';
  }
}

/** Splits a byte stream into frames; throws on a frame over `max` bytes. */
class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  push(chunk: Uint8Array, each: (id: number, kind: number, payload: Buffer) => void): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    let at = 0;
    while (this.buf.length - at >= 4) {
      const length = this.buf.readUInt32BE(at);
      if (length < HEADER - 4 || length > this.max + HEADER) throw new Error(`frame of ${length} bytes refused`);
      if (this.buf.length - at < 4 + length) break;
      const id = this.buf.readUInt32BE(at + 4);
      const kind = this.buf.readUInt8(at + 8);
      const payload = this.buf.subarray(at + HEADER, at + 4 + length);
      at += 4 + length;
      each(id, kind, payload);
    }
    this.buf = at === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(at);
  }
}

function frame(id: number, kind: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32BE(HEADER - 4 + payload.length, 0);
  out.writeUInt32BE(id, 4);
  out.writeUInt8(kind, 8);
  payload.copy(out, HEADER);
  return out;
}

/** Writes frames to a stream, those of one turn of the event loop in one write. */
class FrameWriter {
  private readonly stream: Stream;
  private queued: Buffer[] = [];

  constructor(stream: Stream) {
    this.stream = stream;
  }

  write(bytes: Buffer): void {
    this.queued.push(bytes);
    if (this.queued.length === 1) queueMicrotask(() => this.flush());
  }

  private flush(): void {
    const out = this.queued.length === 1 ? (this.queued[0] as Buffer) : Buffer.concat(this.queued);
    this.queued = [];
    if (this.stream.writeStatus !== 'writable') return; // the close handler fails the requests
    try {
      // when the muxer needs to drain, the bytes wait in the stream's buffer (bounded: requests in
      // flight are bounded, and so is every frame)
      this.stream.send(out);
    } catch (err) {
      this.stream.abort(err instanceof Error ? err : new Error(String(err)));
    }
  }
}

/** A signal that never aborts: prepare() waits on an open whose own deadline bounds it, with no timer of its own. */
const NO_ABORT = new AbortController().signal;

/** Settles like `p`, or rejects as soon as the signal fires. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Calls `fn` once the stream has ended, whichever way (closed, reset, aborted, transport gone). */
function onStreamGone(stream: Stream, fn: (why: string) => void): void {
  let done = false;
  const once = (why: string): void => {
    if (done) return;
    done = true;
    fn(why);
  };
  stream.addEventListener('close', (evt) => once(evt.error ? describeError(evt.error) : 'channel closed'));
  stream.addEventListener('remoteCloseWrite', () => once('channel closed by the remote'));
}

export type RpcHandler = (from: string, request: unknown, signal: AbortSignal) => Promise<unknown>;

export interface RpcServeOptions {
  /** Largest request (payload) accepted. */
  maxMessage: number;
  /** Requests of one channel handled at once; beyond that a request is answered with an error. */
  maxInFlight?: number;
  logger?: Logger;
}

/** Serves one inbound channel: every request frame is handed to `handler`, its result sent back by id. */
export function serveChannel(stream: Stream, conn: Connection, handler: RpcHandler, opts: RpcServeOptions): void {
  const from = conn.remotePeer.toString();
  const decoder = new FrameDecoder(opts.maxMessage);
  const writer = new FrameWriter(stream);
  const gone = new AbortController();
  const maxInFlight = opts.maxInFlight ?? 256;
  let running = 0;
  onStreamGone(stream, (why) => {
    gone.abort(new Error(why));
    if (stream.status === 'open') stream.abort(new Error(why)); // the remote stopped sending: drop the channel
  });
  const answer = (id: number, work: Promise<unknown>): void => {
    running++;
    work
      .then(
        (result) => writer.write(frame(id, KIND_ANSWER, Buffer.from(JSON.stringify(result ?? null)))),
        (err: unknown) => writer.write(frame(id, KIND_ERROR, Buffer.from(describeError(err)))),
      )
      .finally(() => running--);
  };
  stream.addEventListener('message', (evt) => {
    try {
      decoder.push(evt.data.subarray(), (id, kind, payload) => {
        if (kind !== KIND_REQUEST) throw new Error(`unexpected frame kind ${kind}`);
        if (running >= maxInFlight) {
          writer.write(frame(id, KIND_ERROR, Buffer.from('too many requests in flight')));
          return;
        }
        let request: unknown;
        try {
          request = JSON.parse(payload.toString('utf8'));
        } catch {
          writer.write(frame(id, KIND_ERROR, Buffer.from('malformed request')));
          return;
        }
        answer(
          id,
          Promise.resolve().then(() => handler(from, request, gone.signal)),
        );
      });
    } catch (err) {
      opts.logger?.debug('channel refused', { from, error: describeError(err) });
      stream.abort(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/** One open outbound channel to one peer. */
class Channel {
  readonly stream: Stream;
  private readonly writer: FrameWriter;
  private readonly pending = new Map<number, Pending>();
  private readonly waiting: (() => void)[] = [];
  private inFlight = 0;
  private nextId = 1;
  private closedWith: Error | undefined;
  private readonly maxInFlight: number;

  constructor(stream: Stream, maxMessage: number, maxInFlight: number, onGone: () => void) {
    this.stream = stream;
    this.maxInFlight = maxInFlight;
    this.writer = new FrameWriter(stream);
    const decoder = new FrameDecoder(maxMessage);
    onStreamGone(stream, (why) => {
      this.fail(new Error(why));
      onGone();
    });
    stream.addEventListener('message', (evt) => {
      try {
        decoder.push(evt.data.subarray(), (id, kind, payload) => {
          const p = this.pending.get(id);
          if (!p) return; // its caller gave up
          this.pending.delete(id);
          this.release();
          if (kind === KIND_ANSWER) p.resolve(JSON.parse(payload.toString('utf8')));
          else p.reject(new RemoteError(payload.toString('utf8')));
        });
      } catch (err) {
        stream.abort(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  get open(): boolean {
    return this.closedWith === undefined && this.stream.writeStatus === 'writable';
  }

  private fail(err: Error): void {
    this.closedWith ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const w of this.waiting.splice(0)) w(); // each finds the channel closed and gives its slot back
  }

  /** Frees a slot: the next waiter takes it. */
  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.inFlight--;
  }

  /** Takes a slot (at most `maxInFlight` requests in flight), waiting for one within the signal. */
  private slot(signal: AbortSignal): Promise<void> | undefined {
    if (this.inFlight < this.maxInFlight) {
      this.inFlight++;
      return undefined;
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const take = (): void => {
      signal.removeEventListener('abort', onAbort);
      resolve(); // the slot passes from the releasing request to this one
    };
    const onAbort = (): void => {
      const i = this.waiting.indexOf(take);
      if (i >= 0) this.waiting.splice(i, 1);
      reject(signal.reason instanceof Error ? signal.reason : new Error('request aborted'));
    };
    this.waiting.push(take);
    signal.addEventListener('abort', onAbort, { once: true });
    return promise;
  }

  async request(body: unknown, signal: AbortSignal): Promise<unknown> {
    signal.throwIfAborted();
    if (this.closedWith) throw this.closedWith;
    await this.slot(signal);
    if (this.closedWith) {
      this.release();
      throw this.closedWith;
    }
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const onAbort = (): void => {
      if (this.pending.delete(id)) this.release();
      reject(signal.reason instanceof Error ? signal.reason : new Error('request aborted'));
    };
    this.pending.set(id, { resolve, reject });
    signal.addEventListener('abort', onAbort, { once: true });
    this.writer.write(frame(id, KIND_REQUEST, Buffer.from(JSON.stringify(body))));
    try {
      return await promise;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  close(): void {
    this.fail(new Error('channel closed'));
    if (this.stream.status === 'open') void this.stream.close().catch(() => this.stream.abort(new Error('closed')));
  }
}

export interface RpcClientOptions {
  libp2p: Pick<Libp2p, 'dialProtocol' | 'getConnections'>;
  protocol: string;
  /** Largest answer (payload) accepted. */
  maxMessage: number;
  /** Requests in flight per channel (default 64); more wait for a slot. */
  maxInFlight?: number;
  /** The older one-stream-per-message exchange, for peers that do not speak `protocol`. */
  legacy?: (peer: string, request: unknown, signal: AbortSignal) => Promise<unknown>;
  /** Deadline of opening a channel (dial and protocol negotiation), default 10 s. */
  openTimeoutMs?: number;
}

/** The calling side: a channel per peer, opened ahead (prepare) or on first use, and reopened after it broke. */
export class RpcClient {
  private readonly opts: RpcClientOptions;
  private readonly channels = new Map<string, Channel>();
  private readonly opening = new Map<string, Promise<Channel>>();
  private readonly legacyUntil = new Map<string, number>();
  private stopped = false;

  constructor(opts: RpcClientOptions) {
    this.opts = opts;
  }

  /** Sends one request to `peer` and resolves with its answer; rejects on the signal, a broken channel or a remote error. */
  async request(peer: string, body: unknown, signal: AbortSignal): Promise<unknown> {
    signal.throwIfAborted();
    if (this.stopped) throw new Error('rpc client stopped');
    const legacy = this.opts.legacy;
    if (legacy && (this.legacyUntil.get(peer) ?? 0) > Date.now()) return legacy(peer, body, signal);
    let channel: Channel;
    try {
      channel = await this.channel(peer, signal);
    } catch (err) {
      if (legacy && (err as Error | undefined)?.name === 'UnsupportedProtocolError') {
        this.legacyUntil.set(peer, Date.now() + LEGACY_MS);
        return legacy(peer, body, signal);
      }
      throw err;
    }
    return channel.request(body, signal);
  }

  /**
   * Opens the channel to `peer` ahead of its first request (when the peer connects), unless one is open or opening,
   * so that the request does not wait for the stream's negotiation; resolves whether it is open. A failure is only
   * that: the next request opens the channel itself (or goes the legacy way).
   */
  async prepare(peer: string): Promise<boolean> {
    if (this.channels.get(peer)?.open) return true;
    if (this.stopped) return false;
    try {
      // only on a connection that is there: a connection just closed (pruned, refused) is not dialled back for this
      if (this.opts.libp2p.getConnections(peerIdFromString(peer)).length === 0) return false;
      await this.channel(peer, NO_ABORT); // the open has its own deadline (openTimeoutMs)
      this.legacyUntil.delete(peer); // it speaks the protocol now (an upgraded peer): its requests take the channel
      return true;
    } catch {
      return false;
    }
  }

  /** Channels currently open (tests, metrics). */
  get openChannels(): number {
    return [...this.channels.values()].filter((c) => c.open).length;
  }

  private async channel(peer: string, signal: AbortSignal): Promise<Channel> {
    const open = this.channels.get(peer);
    if (open?.open) return open;
    let opening = this.opening.get(peer);
    if (!opening) {
      // one open per peer, bounded by its own deadline: a caller with a short deadline must not fail the
      // open for the others waiting on it
      opening = this.open(peer).finally(() => this.opening.delete(peer));
      this.opening.set(peer, opening);
    }
    return untilAborted(opening, signal);
  }

  private async open(peer: string): Promise<Channel> {
    const stream = await this.opts.libp2p.dialProtocol(peerIdFromString(peer), this.opts.protocol, {
      signal: AbortSignal.timeout(this.opts.openTimeoutMs ?? 10_000),
    });
    if (this.stopped) {
      stream.abort(new Error('rpc client stopped'));
      throw new Error('rpc client stopped');
    }
    const channel: Channel = new Channel(stream, this.opts.maxMessage, this.opts.maxInFlight ?? 64, () => {
      if (this.channels.get(peer) === channel) this.channels.delete(peer);
    });
    this.channels.set(peer, channel);
    return channel;
  }

  /** Accepts requests again after stop(). */
  start(): void {
    this.stopped = false;
  }

  /** Closes every channel; requests in flight fail, and new ones until start(). */
  stop(): void {
    this.stopped = true;
    for (const c of this.channels.values()) c.close();
    this.channels.clear();
  }
}
