// Forwards that wait for IDONTWANT: GossipSub relays a message to its mesh peers in the turn it validated it, and the
// IDONTWANT its mesh peers send when they got it too (gossipsub v1.2) comes a turn later, after the copies have left.
// A chorus publisher sends every message to every subscriber it is connected to (flood publish), so in a cluster
// where nodes know each other those relayed copies are all duplicates (~4 per delivery at mesh degree 4, each sealed,
// framed, written, opened and decoded to be dropped). Here a message of IDONTWANT size is forwarded two event-loop
// turns later: the turn that flushes this node's writes (its own IDONTWANTs), then the turn that reads its peers'.
// GossipSub's own forward then skips every peer that said it has the message; a peer that has not seen it (it is not
// connected to the publisher) still gets it. Smaller messages are forwarded at once, as before.

/** The part of GossipSub this relies on (@libp2p/gossipsub dist/src/gossipsub.js). */
interface ForwardingGossip {
  forwardMessage(msgIdStr: string, rawMsg: { data?: Uint8Array }, propagationSource?: string, exclude?: unknown): void;
  isStarted(): boolean;
  opts?: { idontwantMinDataSize?: number };
}

function isForwarding(value: object): value is ForwardingGossip {
  const g = value as Partial<ForwardingGossip>;
  return typeof g.forwardMessage === 'function' && typeof g.isStarted === 'function';
}

/**
 * Makes `gossip` forward messages of at least its `idontwantMinDataSize` two turns after it validated them
 * (see the header). A GossipSub build without `forwardMessage` is left as it is.
 */
export function forwardAfterIDontWant(gossip: object): void {
  if (!isForwarding(gossip)) return;
  const forward = gossip.forwardMessage.bind(gossip);
  const minSize = (): number => gossip.opts?.idontwantMinDataSize ?? Number.POSITIVE_INFINITY;
  gossip.forwardMessage = (msgIdStr, rawMsg, propagationSource, exclude) => {
    if ((rawMsg.data?.length ?? 0) < minSize()) {
      forward(msgIdStr, rawMsg, propagationSource, exclude);
      return;
    }
    setImmediate(() =>
      setImmediate(() => {
        if (gossip.isStarted()) forward(msgIdStr, rawMsg, propagationSource, exclude);
      }),
    );
  };
}
