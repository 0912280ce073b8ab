// Whether this node could meet a peer soon: what lets a publish that finds no subscriber fail at once on a
// lone node (the README's `chorus node --dev`) instead of waiting out pubsub.meshWaitMs for a mesh that
// cannot form. A node has prospects while it holds a connection, has a dial in flight, is still dialling a
// bootstrap peer (or waiting to retry one), or is younger than one wait — peers that bootstrap to it, and
// LAN discovery, get that long to arrive, as a script that starts several nodes at once expects.
import type { Libp2p } from '@libp2p/interface';

export interface ProspectSources {
  libp2p: Pick<Libp2p, 'getConnections' | 'getDialQueue'>;
  /** The bootstrap joiner: true while a bootstrap peer is being dialled or retried. */
  dialling: () => boolean;
  /** The grace after start: the configured publish wait (pubsub.meshWaitMs) at start. */
  graceMs: number;
  now?: () => number;
}

/** A predicate for ChorusPubSub.setPeerProspects; the grace is timed from this call. */
export function peerProspects(s: ProspectSources): () => boolean {
  const now = s.now ?? (() => performance.now());
  const since = now();
  return () =>
    s.libp2p.getConnections().length > 0 ||
    s.libp2p.getDialQueue().length > 0 ||
    s.dialling() ||
    now() - since < s.graceMs;
}
