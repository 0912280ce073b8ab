// Reopening of GossipSub's outbound streams. GossipSub (@libp2p/gossipsub 17) opens its one outbound stream to a
// peer when the connection opens, or when the peer opens one to it, and never again: a stream that failed to open,
// or that closed later (reset by the peer, or aborted when its write buffer passed maxOutboundBufferSize under
// load), leaves the peer in GossipSub's router with nothing to send to it on. Publishes and forwards then skip that
// peer silently until the connection itself closes and a new one is made. Here, on each GossipSub heartbeat, every
// peer GossipSub knows that has an open connection but no outbound stream is queued for a new stream through
// GossipSub's own queue (which opens them one at a time and skips a peer that has one by then). A peer is queued
// only after a grace period (the stream GossipSub opens on connect may still be on its way), then with backoff while
// its streams keep failing.
import type { Connection, PeerId } from '@libp2p/interface';

/** The first reopening waits this long after the peer was first seen without a stream (ms). */
export const REOPEN_GRACE_MS = 1_000;
/** The longest wait between reopenings of a peer whose new streams keep failing (ms). */
export const REOPEN_MAX_BACKOFF_MS = 30_000;

/** The parts of GossipSub's implementation this relies on (dist/src/gossipsub.js). */
interface GossipInternals {
  peers: Map<string, PeerId>;
  streamsOutbound: Map<string, unknown>;
  outboundInflightQueue?: { push(item: { peerId: PeerId; connection: Connection }): void };
  addEventListener(type: 'gossipsub:heartbeat', listener: () => void): void;
  removeEventListener(type: 'gossipsub:heartbeat', listener: () => void): void;
}

export interface GossipStreamKeeper {
  /** Outbound streams queued for reopening so far. */
  readonly reopened: number;
  /** Stops watching (GossipSub's own behaviour is left as it was). */
  stop(): void;
}

function internals(gossip: object): GossipInternals | undefined {
  const g = gossip as Partial<GossipInternals>;
  const ok =
    g.peers instanceof Map &&
    g.streamsOutbound instanceof Map &&
    typeof g.addEventListener === 'function' &&
    typeof g.removeEventListener === 'function';
  return ok ? (g as GossipInternals) : undefined;
}

/**
 * Keeps an outbound stream open to every peer GossipSub routes to, as long as a connection to it is open.
 * `connectionsTo` names the open connections to a peer (libp2p's getConnections). A GossipSub build without
 * the internals named above is left as it is (undefined).
 */
export function keepGossipStreamsOpen(
  gossip: object,
  connectionsTo: (peer: PeerId) => Connection[],
  now: () => number = Date.now,
): GossipStreamKeeper | undefined {
  const g = internals(gossip);
  if (!g) return undefined;
  /** Peers without an outbound stream: when they may be queued next, and the wait after that. */
  const waiting = new Map<string, { at: number; backoff: number }>();
  let reopened = 0;
  const check = (): void => {
    const queue = g.outboundInflightQueue; // (GossipSub makes a new queue each time it starts)
    if (typeof queue?.push !== 'function') return;
    const t = now();
    for (const id of waiting.keys()) if (!g.peers.has(id) || g.streamsOutbound.has(id)) waiting.delete(id);
    for (const [id, peerId] of g.peers) {
      if (g.streamsOutbound.has(id)) continue;
      const open = connectionsTo(peerId).filter((c) => c.status === 'open');
      const connection = open.find((c) => c.limits === undefined) ?? open[0];
      if (!connection) continue; // GossipSub drops the peer when its last connection closes
      const w = waiting.get(id);
      if (!w) {
        waiting.set(id, { at: t + REOPEN_GRACE_MS, backoff: REOPEN_GRACE_MS });
        continue;
      }
      if (t < w.at) continue;
      queue.push({ peerId, connection });
      reopened++;
      w.backoff = Math.min(REOPEN_MAX_BACKOFF_MS, w.backoff * 2);
      w.at = t + w.backoff;
    }
  };
  g.addEventListener('gossipsub:heartbeat', check);
  return {
    get reopened() {
      return reopened;
    },
    stop: () => g.removeEventListener('gossipsub:heartbeat', check),
  };
}
