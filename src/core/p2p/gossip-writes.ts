// Coalescing of GossipSub's writes: every RPC GossipSub sends to a peer during one event-loop turn leaves in one
// write of its outbound stream (one yamux frame, one Noise message, one window update back) instead of one each.
// The bytes are unchanged — the same length-prefixed RPCs, back to back — so receivers decode them as before.
// GossipSub writes each forwarded message to each mesh peer on its own; under load a peer gets several in a turn,
// and the per-write cost (framing, encryption, socket write, the receiver's window update) was most of a delivery.

/** Bytes as GossipSub hands them over: a Uint8Array or a Uint8ArrayList (whose subarray() copies it out whole). */
type Chunk = Uint8Array | { subarray(): Uint8Array; byteLength: number };

/** The part of GossipSub's OutboundStream this relies on (@libp2p/gossipsub dist/src/stream.js). */
interface OutboundStreamLike {
  rawStream: { send(data: Chunk): boolean; writeStatus?: string };
  pushPrefixed(data: Chunk): void;
  close(options?: unknown): Promise<void>;
}

/**
 * Makes every outbound stream `gossip` opens from now on coalesce its writes per event-loop turn (flushed from
 * setImmediate, after the turn's I/O; before the stream closes). A GossipSub build without the `streamsOutbound`
 * map is left as it is.
 */
export function coalesceGossipWrites(gossip: object): void {
  const outbound = (gossip as { streamsOutbound?: unknown }).streamsOutbound;
  if (!(outbound instanceof Map)) return;
  const set = outbound.set.bind(outbound) as (id: string, stream: unknown) => Map<string, unknown>;
  outbound.set = (id: string, stream: unknown) => set(id, isOutboundStream(stream) ? coalesced(stream) : stream);
}

function isOutboundStream(value: unknown): value is OutboundStreamLike {
  const s = value as Partial<OutboundStreamLike> | null;
  return (
    typeof s?.pushPrefixed === 'function' && typeof s.close === 'function' && typeof s.rawStream?.send === 'function'
  );
}

function coalesced(stream: OutboundStreamLike): OutboundStreamLike {
  let queue: Chunk[] | undefined;
  const flush = (): void => {
    const chunks = queue;
    queue = undefined;
    if (chunks === undefined || chunks.length === 0) return;
    try {
      stream.rawStream.send(
        chunks.length === 1
          ? chunks[0]!
          : Buffer.concat(chunks.map((c) => (c instanceof Uint8Array ? c : c.subarray()))),
      );
    } catch {
      // the stream closed or reset during the turn: GossipSub learns it from the stream's close event, as it
      // does for a stream that breaks after a write
    }
  };
  stream.pushPrefixed = (data) => {
    const status = stream.rawStream.writeStatus;
    // a stream that cannot be written throws at once, as before, so GossipSub keeps its control messages
    if (status === 'closed' || status === 'closing') {
      stream.rawStream.send(data);
      return;
    }
    if (queue === undefined) {
      queue = [];
      setImmediate(flush);
    }
    queue.push(data);
  };
  const close = stream.close.bind(stream);
  stream.close = (options) => {
    flush();
    return close(options);
  };
  return stream;
}
