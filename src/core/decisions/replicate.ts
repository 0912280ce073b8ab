// Writes that reach their replicas: a record goes straight to the peers the routing table names as
// closest to its key (then the next closest), and the holders that confirmed storing it are counted;
// without the one-hop path, or when it falls short, the iterative kad-dht PUT. A record stored under
// several keys (a decision's latest-version and version keys) goes to each peer once, with the keys
// that peer replicates (DirectReplicas.putAllTo). A subject's first version can go as a create (createAll):
// stored only where no other record is held under its keys, so the writer needs no read before it.
import type { DirectReplicas } from '../dht/direct.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { connectedToAny } from '../p2p/connected.ts';
import type { ChorusLibp2p } from '../p2p/host.ts';

export interface ReplicateOptions {
  libp2p: ChorusLibp2p;
  direct?: DirectReplicas;
  replication: number;
  logger: Logger;
}

/**
 * PUTs a record into the DHT and returns its holders: this node (kad-dht stores the record locally
 * first and serves it from there) plus every remote peer that confirmed storing it. Stops once
 * `replication` holders are reached.
 */
export async function replicate(
  o: ReplicateOptions,
  key: Uint8Array,
  value: Uint8Array,
  signal: AbortSignal,
): Promise<string[]> {
  return (await replicateAll(o, [key], value, signal))[0] ?? [];
}

/**
 * PUTs one record under each of `keys` and returns, per key in order, its holders (as replicate does). This
 * node stores it first and throws when it refuses any key; then each peer of any key's replica set gets one
 * request carrying the keys it is among the closest to, and the next-closest peers those keys still short of
 * `replication` holders.
 */
export async function replicateAll(
  o: ReplicateOptions,
  keys: readonly Uint8Array[],
  value: Uint8Array,
  signal: AbortSignal,
): Promise<string[][]> {
  const direct = o.direct;
  if (!direct) return Promise.all(keys.map((key) => replicateKad(o, key, value, signal)));
  const refused = (await direct.storeAll(keys, value)).find((r) => !r.ok);
  if (refused) throw refused.error;
  const self = o.libp2p.peerId.toString();
  const progress = { holders: keys.map(() => new Set([self])), tried: keys.map(() => new Set([self])) };
  return reachHolders(o, direct, keys, value, signal, progress);
}

/**
 * Writes a record that must be the first one under its keys (a subject's first version): each peer of the keys'
 * replica sets gets one create ('creates': stored only where no other record is held under those keys, under
 * all of them or none), the next-closest peers too while a key is short of `replication` holders, then this
 * node stores it the same way; a key still short after that goes on as in replicateAll. Resolves undefined when
 * a peer holds another record, refuses it or runs an earlier release, when no peer of a key's replica set
 * answered, or when no peer is known: the peers that took the create are then asked to take it back, and the
 * caller reads the newest version and writes after it. (A peer that does not answer is passed over, as a write
 * passes it over.)
 */
export async function createAll(
  o: ReplicateOptions,
  keys: readonly Uint8Array[],
  value: Uint8Array,
  signal: AbortSignal,
): Promise<string[][] | undefined> {
  const direct = o.direct;
  if (!direct) return undefined;
  const self = o.libp2p.peerId.toString();
  const progress = { holders: keys.map(() => new Set([self])), tried: keys.map(() => new Set([self])) };
  const created = new Map<string, Uint8Array[]>(); // peer → the keys its create stored
  const takeBack = async (): Promise<undefined> => {
    await Promise.all([...created].map(([peer, its]) => direct.retractFrom(peer, its, value, signal)));
    return undefined;
  };
  const want = o.replication;
  const took = await askReplicas(direct, keys, value, signal, progress, want, want, created);
  // every key needs a peer's word that nothing is held under it (a peer that does not answer is passed over)
  const unconfirmed = progress.holders.some((h, i) => h.size === 1 && (progress.tried[i] as Set<string>).size > 1);
  if (!took || unconfirmed || progress.tried.every((t) => t.size === 1)) return takeBack();
  // the next-closest peers of a key still short, asked with creates too
  if (!(await askReplicas(direct, keys, value, signal, progress, want + 3, want, created))) return takeBack();
  if ((await direct.storeAll(keys, value, { create: true })).some((r) => !r.ok)) return takeBack();
  return reachHolders(o, direct, keys, value, signal, progress);
}

interface Progress {
  /** Per key: the peers that stored it (this node first). */
  holders: Set<string>[];
  /** Per key: the peers asked (this node first). */
  tried: Set<string>[];
}

/**
 * Asks the `width` peers closest to each key that is still short of `want` holders and was not asked yet to
 * store it, one request per peer carrying its keys; adds those that stored it to `holders`. With `created`, as
 * creates, noting there the peers that took one: false when one refused (another record held, refused, an
 * earlier release).
 */
async function askReplicas(
  direct: DirectReplicas,
  keys: readonly Uint8Array[],
  value: Uint8Array,
  signal: AbortSignal,
  { holders, tried }: Progress,
  width: number,
  want: number,
  created?: Map<string, Uint8Array[]>,
): Promise<boolean> {
  const asks = new Map<string, number[]>(); // peer → the keys it is asked to store
  keys.forEach((key, i) => {
    if ((holders[i] as Set<string>).size >= want) return;
    for (const p of direct.liveReplicaSet(key, width)) {
      if ((tried[i] as Set<string>).has(p)) continue;
      (tried[i] as Set<string>).add(p);
      asks.set(p, [...(asks.get(p) ?? []), i]);
    }
  });
  const answers = await Promise.all(
    [...asks].map(async ([peer, idx]) => {
      const peerKeys = idx.map((i) => keys[i] as Uint8Array);
      if (created) {
        const outcome = await direct.createAllTo(peer, peerKeys, value, signal);
        if (outcome === 'created') {
          idx.forEach((i) => (holders[i] as Set<string>).add(peer));
          created.set(peer, peerKeys);
        }
        return outcome === 'created' || outcome === 'failed';
      }
      const ok = await direct.putAllTo(peer, peerKeys, value, signal);
      idx.forEach((i, j) => ok[j] && (holders[i] as Set<string>).add(peer));
      return true;
    }),
  );
  return answers.every(Boolean);
}

/**
 * Puts a record to the peers closest to each key that is short of `replication` holders (the replica sets
 * first, then the next-closest peers, then kad-dht's walk) and returns each key's holders.
 */
async function reachHolders(
  o: ReplicateOptions,
  direct: DirectReplicas,
  keys: readonly Uint8Array[],
  value: Uint8Array,
  signal: AbortSignal,
  progress: Progress,
): Promise<string[][]> {
  const want = o.replication;
  const { holders } = progress;
  const short = (): number[] => keys.flatMap((_, i) => ((holders[i] as Set<string>).size < want ? [i] : []));
  const result = (): string[][] => holders.map((h) => [...h]);
  // the replica sets first, then the next-closest peers, until enough confirmed
  for (const width of [want, want + 3]) {
    if (short().length === 0) return result();
    await askReplicas(direct, keys, value, signal, progress, width, want);
  }
  if (short().length === 0) return result();
  // not connected to anyone: a kad-dht walk has nobody to ask and would only wait out the deadline
  if (!connectedToAny(o.libp2p)) return result();
  await Promise.all(
    short().map(async (i) => {
      for (const p of await replicateKad(o, keys[i] as Uint8Array, value, signal)) (holders[i] as Set<string>).add(p);
    }),
  );
  return result();
}

/** The iterative kad-dht PUT (lookup of the closest peers, then PUT_VALUE to them). */
async function replicateKad(
  o: ReplicateOptions,
  key: Uint8Array,
  value: Uint8Array,
  signal: AbortSignal,
): Promise<string[]> {
  const stop = new AbortController();
  const holders = new Set<string>([o.libp2p.peerId.toString()]);
  try {
    for await (const event of o.libp2p.services.dht.put(key, value, {
      signal: AbortSignal.any([signal, stop.signal]),
    })) {
      if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE' && event.record) {
        holders.add(event.from.toString());
        if (holders.size >= o.replication) {
          stop.abort();
          break;
        }
      }
    }
  } catch (err) {
    if (!stop.signal.aborted && !signal.aborted) throw err;
    if (signal.aborted && holders.size < o.replication)
      o.logger.debug('put interrupted', { error: describeError(err) });
  }
  return [...holders];
}
