// Forwards that wait for IDONTWANT: GossipSub relays a message to its mesh peers in the turn it validated it, and the
// IDONTWANT its mesh peers send when they got it too (gossipsub v1.2) comes a turn later, after the copies have left.
// A chorus publisher sends every message to every subscriber it is connected to (flood publish), so in a cluster
// where nodes know each other those relayed copies are all duplicates (~4 per delivery at mesh degree 4, each sealed,
// framed, written, opened and decoded to be dropped). Here a message of IDONTWANT size is relayed two event-loop
// turns later: the turn that flushes this node's writes (its own IDONTWANTs), then the turn that reads its peers'.
// GossipSub's own forward then skips every peer that said it has the message.
//
// Under load two turns are not enough: each node works through its own queue, and a peer's IDONTWANT for a message
// comes tens of milliseconds after this node validated it, after the copy has left. So a peer that said IDONTWANT for
// an author's message before this node relayed it (it gets that author's messages without this node) is held for the
// author: its copy of the author's messages waits `HOLD_MS` and goes only if the peer has not said IDONTWANT by then.
// A peer that needs this node's relay (it is not connected to the author) rarely says IDONTWANT first (only when
// another relay beat this one), and two holds in a row that end without its IDONTWANT release it; an IDONTWANT that
// comes during a hold (perhaps another node's held copy) neither releases it nor keeps it held.
// The held copies go to a peer that still subscribes to the topic, in the mesh or not (GossipSub would have sent it
// at validation, when it was in the mesh). GossipSub keeps 4,096 IDONTWANT ids a heartbeat from a mesh peer (the
// rates above need more than its default) and its default 512 from any other peer.
// Smaller messages are relayed at once, as before.

/** How long a relay to a peer that gets an author's messages without this node waits for the peer's IDONTWANT. */
export const HOLD_MS = 100;

/** A held peer whose holds end without its IDONTWANT this many times in a row is held no longer. */
const LATE_TO_RELEASE = 2;
/** Bound of what is learnt: (peer, author) pairs held, the least recently confirmed forgotten first. */
const MAX_HELD = 65_536;
/** IDONTWANT ids a heartbeat from a mesh peer (`idontwantMaxMessages` in host.ts) and, as the library's, others. */
const IDONTWANT_FROM_OTHERS = 512;

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
  /** peer → IDONTWANT ids taken from it this heartbeat */
  idontwantCounts?: Map<string, number>;
  /** topic → peers subscribed to it */
  topics?: Map<string, Set<string>>;
  sendRpc(peer: string, rpc: { subscriptions: never[]; messages: RelayedMessage[] }): boolean;
  handleIdontwant?(peer: string, idontwant: { messageIDs: Uint8Array[] }[]): void;
}

function isForwarding(value: object): value is ForwardingGossip {
  const g = value as Partial<ForwardingGossip>;
  return typeof g.forwardMessage === 'function' && typeof g.isStarted === 'function' && typeof g.sendRpc === 'function';
}

/** Per peer and author: whether the peer gets the author's messages without this node (then its copies are held). */
class DirectReceipts {
  /** `${peer}\0${author}` → holds in a row that ended without its IDONTWANT (present: the peer is held) */
  readonly #held = new Map<string, number>();

  holds(peer: string, author: string): boolean {
    return this.#held.has(`${peer}\0${author}`);
  }

  /** The peer said IDONTWANT before this node relayed the message to it: held, the count of late holds at 0. */
  early(peer: string, author: string): void {
    const key = `${peer}\0${author}`;
    this.#held.delete(key); // to the end of the order: the most recently confirmed
    this.#held.set(key, 0);
    if (this.#held.size > MAX_HELD) this.#held.delete(this.#held.keys().next().value!);
  }

  /** A hold of the peer ended without its IDONTWANT. */
  late(peer: string, author: string): void {
    const key = `${peer}\0${author}`;
    const late = (this.#held.get(key) ?? LATE_TO_RELEASE) + 1;
    if (late < LATE_TO_RELEASE) this.#held.set(key, late);
    else this.#held.delete(key);
  }
}

/** Keeps a peer outside every mesh to the library's IDONTWANT limit, so the higher one applies to mesh peers only. */
function limitIDontWantsFromOthers(gossip: ForwardingGossip): void {
  if (typeof gossip.handleIdontwant !== 'function' || gossip.idontwantCounts === undefined) return;
  const handle = gossip.handleIdontwant.bind(gossip);
  const counts = gossip.idontwantCounts;
  const inMesh = (peer: string): boolean => {
    for (const peers of gossip.mesh?.values() ?? []) if (peers.has(peer)) return true;
    return false;
  };
  gossip.handleIdontwant = (peer, idontwant) => {
    if (inMesh(peer)) return handle(peer, idontwant);
    let room = IDONTWANT_FROM_OTHERS - (counts.get(peer) ?? 0);
    const kept: { messageIDs: Uint8Array[] }[] = [];
    for (const { messageIDs } of idontwant) {
      if (room <= 0) break;
      kept.push({ messageIDs: messageIDs.slice(0, room) });
      room -= messageIDs.length;
    }
    if (kept.length > 0) handle(peer, kept);
  };
}

/**
 * Makes `gossip` relay messages of at least its `idontwantMinDataSize` two turns after it validated them, and to
 * peers that get the author's messages without this node only after `HOLD_MS` (see the header). A GossipSub build
 * without `forwardMessage` or `sendRpc` is left as it is.
 */
export function forwardAfterIDontWant(gossip: object): void {
  if (!isForwarding(gossip)) return;
  limitIDontWantsFromOthers(gossip);
  const forward = gossip.forwardMessage.bind(gossip);
  const minSize = (): number => gossip.opts?.idontwantMinDataSize ?? Number.POSITIVE_INFINITY;
  const saidIDontWant = (peer: string, msgIdStr: string): boolean =>
    gossip.idontwants?.get(peer)?.has(msgIdStr) === true;
  const receipts = new DirectReceipts();

  /** The held part of a relay, `HOLD_MS` later: to each held peer that has not said IDONTWANT by then. */
  const release = (msgIdStr: string, rawMsg: RelayedMessage, author: string, peers: Set<string>): void => {
    if (!gossip.isStarted()) return;
    const subscribed = gossip.topics?.get(rawMsg.topic);
    for (const peer of peers) {
      if (saidIDontWant(peer, msgIdStr)) continue; // in time, but no sign of where it came from: learnt nothing
      receipts.late(peer, author);
      // a new RPC per peer: sendRpc adds the peer's pending control messages to it
      if (subscribed?.has(peer) === true) gossip.sendRpc(peer, { subscriptions: [], messages: [rawMsg] });
    }
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
    setTimeout(release, HOLD_MS, msgIdStr, rawMsg, author, held).unref?.();
  };

  gossip.forwardMessage = (msgIdStr, rawMsg, propagationSource, exclude) => {
    if ((rawMsg.data?.length ?? 0) < minSize()) {
      forward(msgIdStr, rawMsg, propagationSource, exclude);
      return;
    }
    setImmediate(() => setImmediate(() => relay(msgIdStr, rawMsg, propagationSource, exclude)));
  };
}
