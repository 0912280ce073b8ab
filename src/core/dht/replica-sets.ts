// The peers a key's records belong on: the `count` closest to it by XOR distance (of SHA-256 ids, as kad-dht
// measures it) among this node and kad-dht's routing table. The table's closestPeers walks every peer it holds and
// sorts them by distance (~0.1 ms with 4 peers; a write asks for each of its two keys, a create twice), so the sets
// are kept, by key and width, while the table holds the same peers: all are forgotten when it adds or removes one
// (its event), or when its size changed (it adds a peer a moment before it tells). Without a table whose changes
// can be heard, and while stopped, every set is worked out anew. Not covered: a full bucket's eviction and an add
// landing together (same size) are seen only when their events come, once kad-dht has written its peer store
// (milliseconds); a bucket fills only in clusters of about a thousand nodes.
// The peers' SHA-256 ids are kept with the sets and forgotten with them, so that peers that came and went (churn)
// leave nothing behind; without a table whose changes can be heard, at most MAX_IDS are kept.
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { createHash } from 'node:crypto';

/** What of kad-dht 16's routing table the sets are read from (public fields of its RoutingTable class). */
export interface RoutingTableView {
  closestPeers(id: Uint8Array, o?: { count?: number }): PeerId[];
  size?: number;
  /** Takes a peer out of the table (its 'peer:remove' event follows). */
  remove?(peer: PeerId): Promise<void>;
  /** Adds a peer to the table (its 'peer:add' event follows). */
  add?(peer: PeerId): Promise<void>;
  addEventListener?: EventTarget['addEventListener'];
  removeEventListener?: EventTarget['removeEventListener'];
}

/** Sets kept at most; the oldest go first. */
const MAX_KEPT = 2048;
/** Peers' ids kept at most (then all are forgotten at once): the bound when the table's changes cannot be heard. */
const MAX_IDS = 4096;

const sha = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest();

/** XOR distance of two equal-length ids, compared as big-endian numbers. */
function closer(target: Buffer, a: Buffer, b: Buffer): number {
  for (let i = 0; i < target.length; i++) {
    const da = (a[i] ?? 0) ^ (target[i] ?? 0);
    const db = (b[i] ?? 0) ^ (target[i] ?? 0);
    if (da !== db) return da - db;
  }
  return 0;
}

export class ReplicaSets {
  private readonly table: () => RoutingTableView | undefined;
  private readonly self: string;
  private readonly ids = new Map<string, Buffer>();
  private readonly kept = new Map<string, readonly string[]>();
  private keptForSize = -1;
  /** The table whose events empty `kept`. */
  private watched: RoutingTableView | undefined;
  private stopped = false;
  private readonly forget = (): void => {
    this.kept.clear();
    this.ids.clear();
  };

  /** `table`: kad-dht's routing table now (undefined before it exists); `self`: this node's peer id. */
  constructor(table: () => RoutingTableView | undefined, self: string) {
    this.table = table;
    this.self = self;
  }

  /**
   * The `count` peers closest to `key` among this node and the routing table, closest first; with `also`, among those
   * peers too (peers the table no longer holds: where a record belonged before they left it).
   */
  of(key: Uint8Array, count: number, also: readonly string[] = []): string[] {
    const table = this.table();
    if (also.length > 0) return this.closest(key, count, table, also);
    const kept = this.keptFor(table);
    const id = kept && `${count}:${Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')}`;
    const known = id === undefined ? undefined : kept?.get(id);
    if (known) return [...known];
    const set = this.closest(key, count, table, []);
    if (!kept || id === undefined) return set;
    if (kept.size >= MAX_KEPT) kept.delete(kept.keys().next().value as string);
    kept.set(id, set);
    return [...set];
  }

  private closest(
    key: Uint8Array,
    count: number,
    table: RoutingTableView | undefined,
    also: readonly string[],
  ): string[] {
    const target = sha(key);
    const candidates = new Set((table?.closestPeers(target, { count: count + 2 }) ?? []).map(String));
    candidates.add(this.self);
    for (const peer of also) candidates.add(peer);
    return [...candidates]
      .map((peer) => [peer, this.kadId(peer)] as const)
      .sort((a, b) => closer(target, a[1], b[1]))
      .slice(0, count)
      .map(([peer]) => peer);
  }

  /** Keeps sets again after stop(). */
  start(): void {
    this.stopped = false;
  }

  /** Stops listening to the table; sets asked for after this are worked out anew each time (until start()). */
  stop(): void {
    this.stopped = true;
    this.watch(undefined);
  }

  /** The kept sets, emptied when `table` changed since; undefined when its changes cannot be heard. */
  private keptFor(table: RoutingTableView | undefined): Map<string, readonly string[]> | undefined {
    if (this.stopped || typeof table?.size !== 'number' || !table.addEventListener || !table.removeEventListener)
      return undefined;
    if (this.watched !== table) this.watch(table);
    if (table.size !== this.keptForSize) {
      this.forget();
      this.keptForSize = table.size;
    }
    return this.kept;
  }

  private watch(table: RoutingTableView | undefined): void {
    this.watched?.removeEventListener?.('peer:add', this.forget);
    this.watched?.removeEventListener?.('peer:remove', this.forget);
    table?.addEventListener?.('peer:add', this.forget);
    table?.addEventListener?.('peer:remove', this.forget);
    this.watched = table;
    this.forget();
    this.keptForSize = -1;
  }

  /** Peers whose ids are kept now (tests). */
  get idsKept(): number {
    return this.ids.size;
  }

  private kadId(peer: string): Buffer {
    let id = this.ids.get(peer);
    if (!id) {
      if (this.ids.size >= MAX_IDS) this.ids.clear();
      id = sha(peerIdFromString(peer).toMultihash().bytes);
      this.ids.set(peer, id);
    }
    return id;
  }
}
