// A peer's dialable addresses, for `chorus peers` and `chorus elect status`: the listen addresses it
// announced through identify (kept in the peer store), never the ephemeral port of an inbound connection,
// which nobody can dial. Ordered so the ones this node can most likely dial come first: the host it is
// connected to, then other routable addresses, then loopback (only dialable from the same host).
import type { Connection, Libp2p, Peer, PeerId } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';

function hostOf(ma: Multiaddr): string | undefined {
  const first = ma.getComponents()[0];
  return first && ['ip4', 'ip6', 'dns', 'dns4', 'dns6', 'dnsaddr'].includes(first.name) ? first.value : undefined;
}

const isLoopback = (host: string | undefined): boolean =>
  host !== undefined && (host === '::1' || host === 'localhost' || host.startsWith('127.'));
const isUnspecified = (host: string | undefined): boolean => host === '0.0.0.0' || host === '::';

/**
 * Orders a peer's listen addresses, best to dial first, each ending in /p2p/<peer>; unspecified hosts
 * (0.0.0.0) are dropped. `via`: the remote addresses of our connections to it (which host it is on).
 */
export function rankAddresses(peer: string, listen: readonly Multiaddr[], via: readonly Multiaddr[]): string[] {
  const viaHosts = new Set(via.map(hostOf));
  const overLoopback = via.some((ma) => isLoopback(hostOf(ma)));
  const rank = (ma: Multiaddr): number => {
    const host = hostOf(ma);
    if (viaHosts.has(host)) return 0;
    if (ma.getComponents().some((c) => c.name === 'p2p-circuit')) return 3;
    if (isLoopback(host)) return overLoopback ? 1 : 4;
    return 2;
  };
  const withPeer = (ma: Multiaddr): string => {
    const text = ma.toString();
    return text.includes('/p2p/') ? text : `${text}/p2p/${peer}`;
  };
  const unique = [...new Map(listen.map((ma) => [ma.toString(), ma])).values()];
  return unique
    .filter((ma) => !isUnspecified(hostOf(ma)))
    .map((ma, i) => ({ ma, i, r: rank(ma) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map(({ ma }) => withPeer(ma));
}

/** Without announced addresses: only the addresses we dialled (an inbound connection's port is ephemeral). */
function dialled(connections: readonly Connection[]): string[] {
  return connections.filter((c) => c.direction === 'outbound').map((c) => c.remoteAddr.toString());
}

function addressesFrom(libp2p: Libp2p, peer: PeerId, stored: readonly Multiaddr[]): string[] {
  const connections = libp2p.getConnections(peer);
  const ranked = rankAddresses(
    peer.toString(),
    stored,
    connections.map((c) => c.remoteAddr),
  );
  return ranked.length ? ranked : dialled(connections);
}

/** A peer's addresses from the peer store (async: the store is). */
export async function peerAddresses(libp2p: Libp2p, peer: PeerId): Promise<string[]> {
  let stored: Multiaddr[] = [];
  try {
    stored = (await libp2p.peerStore.get(peer)).addresses.map((a) => a.multiaddr);
  } catch {
    // not in the store (yet)
  }
  return addressesFrom(libp2p, peer, stored);
}

/**
 * The same, synchronously, for views computed on every change (the election status): a cache of the peer
 * store's addresses fed by its update events, one per libp2p node, filled once from the store.
 */
export class PeerAddressBook {
  private readonly stored = new Map<string, Multiaddr[]>();
  private readonly libp2p: Libp2p;
  private readonly onUpdate = (evt: CustomEvent<{ peer: Peer }>): void => this.remember(evt.detail.peer);

  constructor(libp2p: Libp2p) {
    this.libp2p = libp2p;
    libp2p.addEventListener('peer:update', this.onUpdate);
    void libp2p.peerStore
      .all()
      .then((peers) => {
        for (const p of peers) if (!this.stored.has(p.id.toString())) this.remember(p);
      })
      .catch(() => {}); // a stopped node: nothing to seed
  }

  private remember(peer: Peer): void {
    this.stored.set(
      peer.id.toString(),
      peer.addresses.map((a) => a.multiaddr),
    );
  }

  addressesOf(peer: PeerId): string[] {
    return addressesFrom(this.libp2p, peer, this.stored.get(peer.toString()) ?? []);
  }

  stop(): void {
    this.libp2p.removeEventListener('peer:update', this.onUpdate);
  }
}
