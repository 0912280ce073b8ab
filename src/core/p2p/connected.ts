// The peers this node is connected to, read from its connections. libp2p's getPeers() collects them in a PeerSet,
// whose iteration parses every peer id from its string again: a write asked it three times, ~0.55 ms of its CPU
// across five node processes (profiled). A connection's remotePeer is an id parsed once, its string kept.
import type { Libp2p } from '@libp2p/interface';

type Connections = Pick<Libp2p, 'getConnections'>;

/** Whether this node has a connection to any peer. */
export function connectedToAny(libp2p: Connections): boolean {
  return libp2p.getConnections().length > 0;
}

/** The ids of the peers this node has a connection to, each once. */
export function connectedPeerIds(libp2p: Connections): string[] {
  return [...new Set(libp2p.getConnections().map((c) => c.remotePeer.toString()))];
}
