// GossipSub's inbound RPCs, read from the stream's message events. GossipSub (@libp2p/gossipsub 17) reads a peer's
// inbound stream through three async iterations: the stream's own iterator (a pushable fed by its message events),
// it-length-prefixed's decoder (an async generator over a Uint8ArrayList) and a pipe. Every chunk and every RPC then
// costs promises, iterator results, list copies and microtask turns before GossipSub decodes it. Here each message
// event's bytes are split into length-prefixed RPCs at once, and each RPC goes to GossipSub's own decode and handler,
// in order, with the read loop's limits:
// - an RPC that does not decode is dropped and counted, and the stream reads on;
// - a frame over maxInboundDataLength, a length prefix over 8 bytes, a stream that ends inside a frame or closes with
//   an error ends the reading through handlePeerReadStreamError, after the RPCs before it (with awaitRpcHandler, after
//   their handlers). An error thrown there is logged, as GossipSub's read loop logged it.
// Two outcomes differ from GossipSub's loop, on purpose:
// - a stream that ends just after a length prefix is an error too (it-length-prefixed took that as a clean end);
// - closing the reader (GossipSub replaces a peer's inbound stream, removes the peer or stops) also closes the
//   stream's readable end: later bytes are dropped and a later reset of that stream no longer removes the peer. The
//   loop read on until the remote closed, and its error could remove a peer whose new stream was fine.
// A frame split across chunks is kept as its chunks, joined once it is whole. @libp2p/utils' LengthPrefixedDecoder is
// not used for the framing: it buffers every chunk in a Uint8ArrayList (a sublist per frame), drops empty frames and
// sets no limit on a prefix's length. Installed on each host's GossipSub by createHost.

/** Bytes of a stream's message event: a Uint8Array, or a Uint8ArrayList (iterable over its Uint8Arrays). */
type Chunk = Uint8Array | Iterable<Uint8Array>;

/** The part of a libp2p stream this reads from (@libp2p/utils AbstractMessageStream). */
export interface InboundRawStream {
  addEventListener(type: 'message' | 'close' | 'remoteCloseWrite', listener: (evt: Event) => void): void;
  removeEventListener(type: 'message' | 'close' | 'remoteCloseWrite', listener: (evt: Event) => void): void;
  close(): Promise<void>;
  closeRead?(): Promise<void>;
  abort(err: Error): void;
}

/** The part of GossipSub this relies on (@libp2p/gossipsub dist/src/gossipsub.js). */
interface ReadingGossip {
  createInboundStream(peerId: { toString(): string }, stream: InboundRawStream): void;
  isStarted(): boolean;
  peers: Map<string, unknown>;
  streamsInbound: Map<string, { close(): Promise<void> }>;
  decodeRpc(bytes: Uint8Array): unknown;
  handleReceivedRpc(from: unknown, rpc: unknown): Promise<void>;
  handlePeerReadStreamError(err: unknown, peerId: unknown): void;
  metrics?: {
    onRpcRecv(rpc: unknown, bytes: number): void;
    onRpcRecvError(): void;
    onRpcDataError(): void;
    onPeerReadStreamError(): void;
  } | null;
  opts: { awaitRpcHandler?: boolean; maxInboundDataLength?: number };
  log: (...args: unknown[]) => void;
}

function isReading(value: object): value is ReadingGossip {
  const g = value as Partial<ReadingGossip>;
  return (
    typeof g.createInboundStream === 'function' &&
    typeof g.isStarted === 'function' &&
    typeof g.decodeRpc === 'function' &&
    typeof g.handleReceivedRpc === 'function' &&
    typeof g.handlePeerReadStreamError === 'function' &&
    typeof g.log === 'function' &&
    typeof g.opts === 'object' &&
    g.opts !== null &&
    g.streamsInbound instanceof Map &&
    g.peers instanceof Map
  );
}

/** it-length-prefixed's limits, which GossipSub's read loop used: a prefix of at most 8 bytes, frames ≤ 4 MiB. */
const MAX_PREFIX_BYTES = 8;
const DEFAULT_MAX_DATA = 4 * 1024 * 1024;

/** Ends the reading of a stream (the errors it-length-prefixed's decoder threw for the same input). */
export class GossipReadError extends Error {
  override readonly name = 'GossipReadError';
}

/**
 * The unsigned varint at `at`: [value, its byte count], or undefined when the bytes end first. Throws on a prefix
 * longer than 8 bytes.
 */
function readPrefix(buf: Uint8Array, at: number): [number, number] | undefined {
  let value = 0;
  let scale = 1;
  for (let i = at; i < buf.length; i++) {
    const b = buf[i] as number;
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [value, i - at + 1];
    if (i - at + 1 >= MAX_PREFIX_BYTES) throw new GossipReadError('Message length length too long');
    scale *= 128;
  }
  return undefined;
}

/**
 * Makes `gossip` read every inbound stream it takes from now on from the stream's message events (see the header).
 * A GossipSub build without these internals is left as it is.
 */
export function readGossipFromEvents(gossip: object): void {
  if (!isReading(gossip)) return;
  gossip.createInboundStream = (peerId, stream) => {
    // as GossipSub's own: only for a started router and a known peer; a new stream replaces the peer's earlier one
    if (!gossip.isStarted()) return;
    const id = peerId.toString();
    if (!gossip.peers.has(id)) return;
    const prior = gossip.streamsInbound.get(id);
    if (prior !== undefined) {
      gossip.log('replacing existing inbound stream %s', id);
      prior.close().catch((err: unknown) => gossip.log(err));
    }
    gossip.log('create inbound stream %s', id);
    gossip.streamsInbound.set(id, new EventReader(gossip, peerId, stream));
  };
}

/** One peer's inbound stream, read from its events. */
class EventReader {
  readonly #gossip: ReadingGossip;
  readonly #peerId: unknown;
  readonly #raw: InboundRawStream;
  readonly #maxData: number;
  /** The bytes of an unfinished frame, as they came; #pendingBytes in all. */
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** Bytes the unfinished frame needs in all (prefix included) once its prefix is known, else 0. */
  #need = 0;
  #done = false;
  /** The last RPC handler's completion (awaitRpcHandler: each waits for the one before). */
  #handled: Promise<void> = Promise.resolve();

  constructor(gossip: ReadingGossip, peerId: unknown, raw: InboundRawStream) {
    this.#gossip = gossip;
    this.#peerId = peerId;
    this.#raw = raw;
    this.#maxData = gossip.opts.maxInboundDataLength ?? DEFAULT_MAX_DATA;
    raw.addEventListener('message', this.#onMessage);
    raw.addEventListener('close', this.#onClose);
    raw.addEventListener('remoteCloseWrite', this.#onEnd);
  }

  /** Stops reading and closes the stream, its readable end too (see the header). */
  async close(): Promise<void> {
    this.#stop();
    await Promise.all([this.#raw.close(), this.#raw.closeRead?.()]).catch((err: Error) => this.#raw.abort(err));
  }

  #stop(): void {
    if (this.#done) return;
    this.#done = true;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#raw.removeEventListener('message', this.#onMessage);
    this.#raw.removeEventListener('close', this.#onClose);
    this.#raw.removeEventListener('remoteCloseWrite', this.#onEnd);
  }

  readonly #onClose = (evt: Event): void => {
    const error = (evt as Event & { error?: unknown }).error;
    if (error !== undefined && error !== null) this.#fail(error);
    else this.#onEnd();
  };

  /** The remote end finished writing: clean at a frame's boundary, an error inside a frame. */
  readonly #onEnd = (): void => {
    if (this.#done) return;
    if (this.#pendingBytes > 0) this.#fail(new GossipReadError('Unexpected end of input'));
    else this.#stop();
  };

  /** Ends the reading with `err`: reported once the RPCs before it are handed over (awaited ones, handled). */
  #fail(err: unknown): void {
    if (this.#done) return;
    this.#stop();
    const g = this.#gossip;
    const report = (): void => {
      try {
        g.metrics?.onPeerReadStreamError();
        g.handlePeerReadStreamError(err, this.#peerId);
      } catch (thrown) {
        g.log(thrown);
      }
    };
    if (g.opts.awaitRpcHandler) this.#handled = this.#handled.then(report);
    else report();
  }

  readonly #onMessage = (evt: Event): void => {
    const data = (evt as Event & { data: Chunk }).data;
    if (data instanceof Uint8Array) this.#onBytes(data);
    else for (const part of data) this.#onBytes(part);
  };

  #onBytes(chunk: Uint8Array): void {
    if (this.#done || chunk.byteLength === 0) return;
    let buf = chunk;
    if (this.#pendingBytes > 0) {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.byteLength;
      // a large frame arrives in many chunks: they are joined once, when it is whole
      if (this.#pendingBytes < this.#need) return;
      buf = Buffer.concat(this.#pending, this.#pendingBytes);
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    this.#need = 0;
    let at = 0;
    try {
      while (at < buf.byteLength) {
        const prefix = readPrefix(buf, at);
        if (prefix === undefined) break;
        const [length, prefixBytes] = prefix;
        if (length > this.#maxData) throw new GossipReadError('Message length too long');
        if (buf.byteLength - at - prefixBytes < length) {
          this.#need = prefixBytes + length;
          break;
        }
        this.#handle(buf.subarray(at + prefixBytes, at + prefixBytes + length));
        if (this.#done) return;
        at += prefixBytes + length;
      }
    } catch (err) {
      this.#fail(err);
      return;
    }
    if (at < buf.byteLength) {
      this.#pending = [buf.subarray(at)];
      this.#pendingBytes = buf.byteLength - at;
    }
  }

  /** One RPC, as GossipSub's read loop handles it. */
  #handle(rpcBytes: Uint8Array): void {
    const g = this.#gossip;
    let rpc: unknown;
    try {
      rpc = g.decodeRpc(rpcBytes);
      g.metrics?.onRpcRecv(rpc, rpcBytes.byteLength);
    } catch (err) {
      g.metrics?.onRpcDataError();
      g.log(err);
      return;
    }
    const onError = (err: unknown): void => {
      g.metrics?.onRpcRecvError();
      g.log(err);
    };
    if (g.opts.awaitRpcHandler) {
      this.#handled = this.#handled.then(() => g.handleReceivedRpc(this.#peerId, rpc)).catch(onError);
    } else {
      g.handleReceivedRpc(this.#peerId, rpc).catch(onError);
    }
  }
}
