// Dials peers that peer discovery (mDNS on a LAN) reports: libp2p only records them in the peer
// store, so without this a node with mDNS on finds its neighbours and never connects to them. One
// dial per peer at a time, none while connected or at the connection limit, and a peer that could
// not be dialled is left alone for a while (it is announced again every mDNS interval).
import type { Libp2p, PeerInfo } from '@libp2p/interface';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';

export interface DiscoveryDialOptions {
  libp2p: Libp2p;
  logger: Logger;
  /** No dials while this many connections are open. */
  maxConnections: number;
  /** How long a peer that could not be dialled is left alone (default 30 s). */
  retryAfterMs?: number;
  /** Deadline of one dial (default 10 s). */
  dialTimeoutMs?: number;
}

export class DiscoveryDialer {
  private readonly opts: Required<DiscoveryDialOptions>;
  private readonly dialling = new Set<string>();
  private readonly failedAt = new Map<string, number>();
  private readonly controller = new AbortController();
  private readonly onDiscovery = (evt: CustomEvent<PeerInfo>): void => {
    void this.consider(evt.detail);
  };

  constructor(opts: DiscoveryDialOptions) {
    this.opts = { retryAfterMs: 30_000, dialTimeoutMs: 10_000, ...opts };
  }

  start(): void {
    this.opts.libp2p.addEventListener('peer:discovery', this.onDiscovery);
  }

  stop(): void {
    this.opts.libp2p.removeEventListener('peer:discovery', this.onDiscovery);
    this.controller.abort();
  }

  /** Dials a discovered peer unless it is this node, connected, being dialled or recently failed. */
  async consider(peer: PeerInfo): Promise<boolean> {
    const { libp2p, logger } = this.opts;
    const id = peer.id.toString();
    if (id === libp2p.peerId.toString() || this.dialling.has(id)) return false;
    if (libp2p.getConnections(peer.id).length > 0) return false;
    if (libp2p.getConnections().length >= this.opts.maxConnections) return false;
    const failed = this.failedAt.get(id);
    if (failed !== undefined && Date.now() - failed < this.opts.retryAfterMs) return false;
    this.dialling.add(id);
    try {
      const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.opts.dialTimeoutMs)]);
      await libp2p.dial(peer.multiaddrs.length > 0 ? peer.multiaddrs : peer.id, { signal });
      this.failedAt.delete(id);
      logger.info('connected to a discovered peer', { peer: id });
      return true;
    } catch (err) {
      if (this.failedAt.size > 10_000) this.failedAt.clear();
      this.failedAt.set(id, Date.now());
      if (!this.controller.signal.aborted)
        logger.debug('could not dial a discovered peer', { peer: id, error: describeError(err) });
      return false;
    } finally {
      this.dialling.delete(id);
    }
  }
}
