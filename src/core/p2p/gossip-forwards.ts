// Forwards that wait for IDONTWANT: GossipSub relays a message to its mesh peers in the turn it validated it, and the
// IDONTWANT its mesh peers send when they got it too (gossipsub v1.2) comes a turn later, after the copies have left.
// A chorus publisher sends every message to every subscriber it is connected to (flood publish), so in a cluster
// where nodes know each other those relayed copies are all duplicates (~4 per delivery at mesh degree 4, each sealed,
// framed, written, opened and decoded to be dropped). Here a message of IDONTWANT size is relayed two event-loop
// turns later: the turn that flushes this node's writes (its own IDONTWANTs), then the turn that reads its peers'.
// GossipSub's own forward then skips every peer that said it has the message.
//
// Under load two turns are not enough: each node works through its own queue, and a peer's IDONTWANT for a message
// comes tens of milliseconds after this node validated it, after the copy has left. So a peer that has been getting
// an author's messages without this node (its IDONTWANT came before this node's relay, or it said IDONTWANT while
// its relay was held) is relayed that author's messages only `holdMs` later, when it has not said IDONTWANT by then.
// A peer that needs this node's relay (it is not connected to the author) never says IDONTWANT first, so it is not
// held; one that stops getting the author's messages without this node is held no longer after two late relays.
// Smaller messages are relayed at once, as before.

/** How long a relay to a peer that gets an author's messages without this node waits for the peer's IDONTWANT. */
export const HOLD_MS = 100;

/** A held peer that has not said IDONTWANT by the end of the hold this many times in a row is held no longer. */
const LATE_TO_RELEASE = 2;
/** Bounds of what is learnt: authors per peer, and peers. */
const MAX_AUTHORS = 1024;
const MAX_PEERS = 4096;

/** A set of peer ids as GossipSub's forward reads it: only `has`. */
interface PeerFilter {
  has(peer: string): boolean;
}

interface RelayedMessage {
  topic: string;
  data?: Uint8Array;
  from?: Uint8Array;
}

/** The part of GossipSub this relies on (@libp2p/gossipsub dist/src/gossipsub.js). */
interface ForwardingGossip {
  forwardMessage(msgIdStr: string, rawMsg: RelayedMessage, propagationSource?: string, exclude?: PeerFilter): void;
  isStarted(): boolean;
  opts?: { idontwantMinDataSize?: number };
  /** topic → mesh peers */
  mesh?: Map<string, Set<string>>;
  /** peer → ids of messages it said IDONTWANT for */
  idontwants?: Map<string, Map<string, number>>;
}

function isForwarding(value: object): value is ForwardingGossip {
  const g = value as Partial<ForwardingGossip>;
  return typeof g.forwardMessage === 'function' && typeof g.isStarted === 'function';
}

/** Per peer and author: whether the peer gets the author's messages without this node (then its relays are held). */
class DirectReceipts {
  /** peer → author → IDONTWANTs that came after the hold, in a row (present: the peer is held for the author) */
  readonly #held = new Map<string, Map<string, number>>();

  holds(peer: string, author: string): boolean {
    return this.#held.get(peer)?.has(author) === true;
  }

  /** The peer said IDONTWANT before this node relayed the message to it. */
  early(peer: string, author: string): void {
    let authors = this.#held.get(peer);
    if (!authors) {
      if (this.#held.size >= MAX_PEERS) this.#held.clear();
      authors = new Map();
      this.#held.set(peer, authors);
    }
    if (!authors.has(author) && authors.size >= MAX_AUTHORS) authors.clear();
    authors.set(author, 0);
  }

  /** A held peer had not said IDONTWANT when the hold ended. */
  late(peer: string, author: string): void {
    const authors = this.#held.get(peer);
    const late = (authors?.get(author) ?? LATE_TO_RELEASE) + 1;
    if (late < LATE_TO_RELEASE) authors!.set(author, late);
    else authors?.delete(author);
  }
}

/**
 * Makes `gossip` relay messages of at least its `idontwantMinDataSize` two turns after it validated them, and to
 * peers that get the author's messages without this node only after `holdMs` (see the header). A GossipSub build
 * without `forwardMessage` is left as it is.
 */
export function forwardAfterIDontWant(gossip: object, opts: { holdMs?: number } = {}): void {
  if (!isForwarding(gossip)) return;
  const holdMs = opts.holdMs ?? HOLD_MS;
  const forward = gossip.forwardMessage.bind(gossip);
  const minSize = (): number => gossip.opts?.idontwantMinDataSize ?? Number.POSITIVE_INFINITY;
  const saidIDontWant = (peer: string, msgIdStr: string): boolean =>
    gossip.idontwants?.get(peer)?.has(msgIdStr) === true;
  const receipts = new DirectReceipts();

  /** The held part of a relay, `holdMs` later: to each peer that has not said IDONTWANT by then. */
  const release = (msgIdStr: string, rawMsg: RelayedMessage, author: string, peers: Set<string>): void => {
    if (!gossip.isStarted()) return;
    for (const peer of peers) {
      if (saidIDontWant(peer, msgIdStr)) {
        receipts.early(peer, author);
        peers.delete(peer);
      } else receipts.late(peer, author);
    }
    // no propagation source: GossipSub scored this delivery at the first part of the relay
    if (peers.size > 0) forward(msgIdStr, rawMsg, undefined, { has: (p) => !peers.has(p) });
  };

  const relay = (msgIdStr: string, rawMsg: RelayedMessage, source?: string, exclude?: PeerFilter): void => {
    if (!gossip.isStarted()) return;
    const from = rawMsg.from;
    const mesh = gossip.mesh?.get(rawMsg.topic);
    if (from === undefined || mesh === undefined) {
      forward(msgIdStr, rawMsg, source, exclude);
      return;
    }
    const author = Buffer.from(from.buffer, from.byteOffset, from.byteLength).toString('latin1');
    let peers: Set<string> | undefined;
    for (const peer of mesh) {
      if (peer === source || exclude?.has(peer) === true) continue;
      if (saidIDontWant(peer, msgIdStr)) receipts.early(peer, author);
      else if (receipts.holds(peer, author)) (peers ??= new Set()).add(peer);
    }
    if (peers === undefined) {
      forward(msgIdStr, rawMsg, source, exclude);
      return;
    }
    const held = peers;
    forward(msgIdStr, rawMsg, source, { has: (p) => held.has(p) || exclude?.has(p) === true });
    // timers of one duration share one list in Node: one per held relay costs no more than a queue of them
    setTimeout(release, holdMs, msgIdStr, rawMsg, author, held).unref?.();
  };

  gossip.forwardMessage = (msgIdStr, rawMsg, propagationSource, exclude) => {
    if ((rawMsg.data?.length ?? 0) < minSize()) {
      forward(msgIdStr, rawMsg, propagationSource, exclude);
      return;
    }
    setImmediate(() => setImmediate(() => relay(msgIdStr, rawMsg, propagationSource, exclude)));
  };
}
