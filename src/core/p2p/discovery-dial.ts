// Dials the peers mDNS finds on the LAN: libp2p only records them in the peer store, so without this
// a node with mDNS on finds its neighbours and never connects to them. One dial per peer at a time,
// none while connected or at the connection limit, and a peer that could not be dialled is left alone
// for a while (it is announced again every mDNS interval). Two nodes usually find each other at
// once: the one with the smaller peer ID dials, the other only if still unconnected a moment later
// (simultaneous dials make libp2p close one of the two connections while it opens).
import { setTimeout as delay } from 'node:timers/promises';
import type { Libp2p, PeerId, PeerInfo } from '@libp2p/interface';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';

export interface DiscoveryDialOptions {
  libp2p: Libp2p;
  /** Emits 'peer' events (CustomEvent<PeerInfo>) for discovered peers, e.g. lanDiscoveries(). */
  source: EventTarget;
  logger: Logger;
  /** No dials while this many connections are open. */
  maxConnections: number;
  /** How long a peer that could not be dialled is left alone (default 30 s). */
  retryAfterMs?: number;
  /** Deadline of one dial (default 10 s). */
  dialTimeoutMs?: number;
  /** How long the peer with the larger ID waits for the other to dial first (default 3 s). */
  yieldMs?: number;
}

export class DiscoveryDialer {
  private readonly opts: Required<DiscoveryDialOptions>;
  private readonly dialling = new Set<string>();
  private readonly failedAt = new Map<string, number>();
  private readonly controller = new AbortController();
  private readonly onDiscovery = (evt: Event): void => {
    void this.consider((evt as CustomEvent<PeerInfo>).detail);
  };

  constructor(opts: DiscoveryDialOptions) {
    this.opts = { retryAfterMs: 30_000, dialTimeoutMs: 10_000, yieldMs: 3000, ...opts };
  }

  start(): void {
    this.opts.source.addEventListener('peer', this.onDiscovery);
  }

  stop(): void {
    this.opts.source.removeEventListener('peer', this.onDiscovery);
    this.controller.abort();
  }

  /**
   * Dials a discovered peer unless it is this node, connected, being dialled or recently failed;
   * resolves true when this call connected it.
   */
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
      if (id < libp2p.peerId.toString() && (await this.dialledBy(peer.id))) return false;
      if (this.controller.signal.aborted) return false;
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

  /** Waits up to yieldMs for `peer` to connect to this node; true when it did. */
  private async dialledBy(peer: PeerId): Promise<boolean> {
    const { libp2p } = this.opts;
    const connected = new AbortController();
    const onConnect = (evt: CustomEvent<PeerId>): void => {
      if (evt.detail.equals(peer)) connected.abort();
    };
    libp2p.addEventListener('peer:connect', onConnect);
    try {
      if (libp2p.getConnections(peer).length > 0) return true;
      const signal = AbortSignal.any([connected.signal, this.controller.signal]);
      await delay(this.opts.yieldMs, undefined, { signal }).catch(() => {});
    } finally {
      libp2p.removeEventListener('peer:connect', onConnect);
    }
    return libp2p.getConnections(peer).length > 0;
  }
}
