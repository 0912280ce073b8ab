// Peers that did not answer a one-hop request (a hung process, a host gone from the network without a word): for
// a while after, a write or a read asks the next-closest peer in its place instead of waiting out the request's
// deadline again. One peer that stopped answering made every write whose replica set held it wait 3 s, and every
// update of a subject it held fail after 10 s (its fresh read waited on it, then on kad-dht's walk, which asked it
// too). The while starts at 10 s and doubles while the peer keeps failing, to 2 minutes; once it is over, the next
// request asks the peer again. Any answer from the peer — to a request of this node, or a request of its own —
// clears it at once.

/** How long a peer is passed over after its first failure; doubled per further failure, up to MAX_PASS_OVER_MS. */
const FIRST_PASS_OVER_MS = 10_000;
const MAX_PASS_OVER_MS = 120_000;
/** At most this many peers are remembered (the oldest go first): a bound, not a limit a cluster meets. */
const MAX_PEERS = 4096;

interface Failing {
  /** Consecutive failures. */
  failures: number;
  /** Passed over until then (ms since the epoch). */
  until: number;
}

export class UnresponsivePeers {
  private readonly failing = new Map<string, Failing>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /** A request to `peer` ended without an answer (its deadline passed, or no connection could be made). */
  failed(peer: string): void {
    const failures = (this.failing.get(peer)?.failures ?? 0) + 1;
    const wait = Math.min(MAX_PASS_OVER_MS, FIRST_PASS_OVER_MS * 2 ** (failures - 1));
    this.failing.delete(peer); // re-added last: the map's order is the eviction order
    this.failing.set(peer, { failures, until: this.now() + wait });
    if (this.failing.size > MAX_PEERS) this.failing.delete(this.failing.keys().next().value as string);
  }

  /** `peer` answered (anything: a refusal is an answer) or sent a request of its own. */
  answered(peer: string): void {
    this.failing.delete(peer);
  }

  /** Whether requests are to pass `peer` over now. */
  passedOver(peer: string): boolean {
    const f = this.failing.get(peer);
    return f !== undefined && f.until > this.now();
  }

  /** How many peers are passed over now (at most). */
  get size(): number {
    return this.failing.size;
  }
}
