// Peers that did not answer a one-hop request (a hung process, a host gone from the network without a word): for
// a while after, a write or a read asks the next-closest peer in its place instead of waiting out the request's
// deadline again. One peer that stopped answering made every write whose replica set held it wait 3 s, and every
// update of a subject it held fail after 10 s (its fresh read waited on it, then on kad-dht's walk, which asked it
// too). The while starts at 10 s and doubles with each outage that follows (requests that fail together, during one
// while, are one outage), to 2 minutes. Once it is over, one request asks the peer again (others still pass it over
// until that one settles): an answer ends the matter, a failure starts a longer while. A new connection to the peer
// ends it too (the node came back); a refusal is an answer.

/** How long a peer is passed over after its first failure; doubled per further outage, up to MAX_PASS_OVER_MS. */
const FIRST_PASS_OVER_MS = 10_000;
const MAX_PASS_OVER_MS = 120_000;
/** At most this many peers are remembered (the oldest go first): a bound, not a limit a cluster meets. */
const MAX_PEERS = 4096;

interface Failing {
  /** Outages so far: failures that came after the last while was over. */
  outages: number;
  /** Passed over until then (ms since the epoch). */
  until: number;
  /** A request asks the peer again, after its while: the others pass it over until that one settles. */
  probing: boolean;
}

export class UnresponsivePeers {
  private readonly failing = new Map<string, Failing>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /**
   * A request to `peer` ended without an answer (its deadline passed, or no connection could be made). Returns how
   * long the peer is now passed over (ms) when this began an outage, undefined when it was one already under way.
   */
  failed(peer: string): number | undefined {
    const f = this.failing.get(peer);
    if (f && !f.probing && f.until > this.now()) return undefined; // the same outage: a request already out
    const outages = (f?.outages ?? 0) + 1;
    const wait = Math.min(MAX_PASS_OVER_MS, FIRST_PASS_OVER_MS * 2 ** (outages - 1));
    this.failing.delete(peer); // re-added last: the map's order is the eviction order
    this.failing.set(peer, { outages, until: this.now() + wait, probing: false });
    if (this.failing.size > MAX_PEERS) this.failing.delete(this.failing.keys().next().value as string);
    return wait;
  }

  /** `peer` answered (anything: a refusal is an answer), or connected anew. */
  answered(peer: string): void {
    this.failing.delete(peer);
  }

  /** A request to `peer` goes out: after its while, the first one asks it again, and the others wait for that. */
  asking(peer: string): void {
    const f = this.failing.get(peer);
    if (f && f.until <= this.now()) f.probing = true;
  }

  /** A request to `peer` ended neither answered nor failed (its caller no longer needed it). */
  abandoned(peer: string): void {
    const f = this.failing.get(peer);
    if (f) f.probing = false;
  }

  /** Whether requests are to pass `peer` over now. */
  passedOver(peer: string): boolean {
    const f = this.failing.get(peer);
    return f !== undefined && (f.probing || f.until > this.now());
  }

  /** How many peers are passed over now. */
  passedOverNow(): number {
    let n = 0;
    for (const peer of this.failing.keys()) if (this.passedOver(peer)) n++;
    return n;
  }

  /** How many peers are remembered (passed over now, or until their next answer). */
  get size(): number {
    return this.failing.size;
  }
}
