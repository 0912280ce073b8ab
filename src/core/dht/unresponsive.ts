// Peers that did not answer a one-hop request (a hung process, a host gone from the network without a word): from
// then on writes and reads ask the next-closest peer in their place, until the peer answers again. One peer that
// stopped answering made every write whose replica set held it wait 3 s, and every update of a subject it held fail
// after 10 s (its fresh read waited on it, then on kad-dht's walk, which asked it too). Whether it runs again is
// asked in the background (`probe`, DirectReplicas' read of a key nobody holds): first 10 s after the failure, then
// twice as long after each further outage (requests that fail together, during one while, are one outage), at most
// every 2 minutes. An answer ends the matter, a failure starts a longer while; no write or read waits on the peer
// meanwhile (before, the first request after each while asked it, and waited out its deadline when it still did not
// answer). A new connection to the peer ends it too (the node came back); a refusal is an answer.

/** How long after its first failure a peer is asked again; doubled per further outage, up to MAX_PASS_OVER_MS. */
const FIRST_PASS_OVER_MS = 10_000;
const MAX_PASS_OVER_MS = 120_000;
/** At most this many peers are remembered (the oldest go first): a bound, not a limit a cluster meets. */
const MAX_PEERS = 4096;

interface Failing {
  /** Outages so far: failures that came after the last while was over. */
  outages: number;
  /** When the peer is asked again (ms since the epoch). */
  until: number;
  /** The background request that asks it then. */
  timer?: NodeJS.Timeout;
}

export class UnresponsivePeers {
  private readonly failing = new Map<string, Failing>();
  private readonly now: () => number;
  private readonly probe: ((peer: string) => void) | undefined;
  private readonly firstMs: number;
  private stopped = false;

  /**
   * `probe`: asks the peer, in the background, whether it answers again (its outcome comes back as answered or
   * failed); without it nobody asks, and a peer is passed over until something else reaches it. `firstMs`: the first
   * while (tests shorten it).
   */
  constructor(now: () => number = Date.now, probe?: (peer: string) => void, firstMs = FIRST_PASS_OVER_MS) {
    this.now = now;
    this.probe = probe;
    this.firstMs = firstMs;
  }

  /**
   * A request to `peer` ended without an answer (its deadline passed, or no connection could be made). Returns how
   * long until the peer is asked again (ms) when this began an outage, undefined when it was one already under way.
   */
  failed(peer: string): number | undefined {
    const f = this.failing.get(peer);
    if (f && f.until > this.now()) return undefined; // the same outage: a request already out
    const outages = (f?.outages ?? 0) + 1;
    const wait = Math.min(MAX_PASS_OVER_MS, this.firstMs * 2 ** (outages - 1));
    this.forget(peer); // re-added last: the map's order is the eviction order
    const entry: Failing = { outages, until: this.now() + wait };
    if (this.probe && !this.stopped) {
      const probe = this.probe;
      entry.timer = setTimeout(() => {
        if (this.failing.get(peer) !== entry) return;
        // the while is over whatever the wall clock says (timers run on another clock): the ask's silence begins
        // the next outage
        entry.until = 0;
        probe(peer);
      }, wait);
      entry.timer.unref();
    }
    this.failing.set(peer, entry);
    if (this.failing.size > MAX_PEERS) this.forget(this.failing.keys().next().value as string);
    return wait;
  }

  /** `peer` answered (anything: a refusal is an answer), or connected anew. */
  answered(peer: string): void {
    if (this.failing.size > 0) this.forget(peer);
  }

  /** Whether requests are to pass `peer` over now: it failed, and has not answered since. */
  passedOver(peer: string): boolean {
    return this.failing.has(peer);
  }

  /** How many outages in a row `peer` has had (0: it is not passed over). */
  outagesOf(peer: string): number {
    return this.failing.get(peer)?.outages ?? 0;
  }

  /** How many peers are passed over now (each is remembered until its next answer). */
  get size(): number {
    return this.failing.size;
  }

  /** Asks no peer again from now on (the node stops); outages that begin after `start` are asked about again. */
  stop(): void {
    this.stopped = true;
    for (const f of this.failing.values()) clearTimeout(f.timer);
  }

  start(): void {
    this.stopped = false;
  }

  private forget(peer: string): void {
    clearTimeout(this.failing.get(peer)?.timer);
    this.failing.delete(peer);
  }
}
