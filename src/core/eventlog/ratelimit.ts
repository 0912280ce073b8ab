// The per-peer rate limit on what the event log records of received messages: in each fixed window a peer's
// first `perWindow` messages are logged one by one; the rest are only counted, and when the window ends each
// limited peer gets one summary entry (type `rate_limited`). An admitted peer flooding a topic costs the disk
// one entry a window, not one a message. Memory is bounded too: beyond `maxPeers` distinct peers in a window,
// the others share one bucket.

export interface RateLimitSummary {
  /** The peer whose messages were counted instead of logged ("*" for the shared overflow bucket). */
  peer: string;
  /** Messages not logged in the window. */
  dropped: number;
  /** Messages logged one by one in the window (the limit). */
  logged: number;
  limit: number;
  window_start: string;
  window_ms: number;
}

export interface PeerRateLimitOptions {
  /** Messages per peer per window logged one by one (0: no limit). */
  perWindow: number;
  /** Window length (default 60 s). */
  windowMs?: number;
  /** Distinct peers tracked per window before they share one bucket (default 4096). */
  maxPeers?: number;
  /** The clock (tests pass their own). */
  now?: () => number;
}

const OVERFLOW = '*';

export class PeerRateLimit {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #maxPeers: number;
  readonly #now: () => number;
  #windowStart = -1;
  /** Per peer: messages seen in the current window. */
  #counts = new Map<string, number>();

  constructor(opts: PeerRateLimitOptions) {
    this.#limit = Math.max(0, Math.floor(opts.perWindow));
    this.#windowMs = opts.windowMs ?? 60_000;
    this.#maxPeers = opts.maxPeers ?? 4096;
    this.#now = opts.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.#limit > 0;
  }

  /**
   * Whether a message received from `peer` now is logged one by one. Call roll() first: a message never
   * counts toward a window that has ended.
   */
  admit(peer: string): boolean {
    if (!this.enabled) return true;
    if (this.#windowStart < 0) this.#windowStart = this.#now();
    const key = this.#counts.has(peer) || this.#counts.size < this.#maxPeers ? peer : OVERFLOW;
    const seen = (this.#counts.get(key) ?? 0) + 1;
    this.#counts.set(key, seen);
    return seen <= this.#limit;
  }

  /**
   * Ends the window if it is over (or always, with `force`, e.g. when the node stops) and returns one summary
   * per peer that went over the limit in it.
   */
  roll(force = false): RateLimitSummary[] {
    if (this.#windowStart < 0 || (!force && this.#now() < this.#windowStart + this.#windowMs)) return [];
    const summaries: RateLimitSummary[] = [];
    for (const [peer, seen] of this.#counts) {
      if (seen <= this.#limit) continue;
      summaries.push({
        peer,
        dropped: seen - this.#limit,
        logged: this.#limit,
        limit: this.#limit,
        window_start: new Date(this.#windowStart).toISOString(),
        window_ms: this.#windowMs,
      });
    }
    this.#counts = new Map();
    this.#windowStart = -1;
    return summaries;
  }
}

/** The peer a recorded event was received from (received pubsub messages and hellos), if it is one. */
export function receivedFrom(data: unknown): string | undefined {
  const d = data as { direction?: unknown; from?: unknown } | null;
  return d?.direction === 'in' && typeof d.from === 'string' ? d.from : undefined;
}

/** The node's limit from the config section `eventLog`. */
export function peerRateLimit(config: { peerRateLimit: number }): PeerRateLimit {
  return new PeerRateLimit({ perWindow: config.peerRateLimit });
}
