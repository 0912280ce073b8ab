// Writes that reach their replicas: a record goes straight to the peers the routing table names as
// closest to its key (then the next closest), and the holders that confirmed storing it are counted;
// without the one-hop path, or when it falls short, the iterative kad-dht PUT. A record stored under
// several keys (a decision's latest-version and version keys) goes to each peer once, with the keys
// that peer replicates (DirectReplicas.putAllTo).
import type { DirectReplicas } from '../dht/direct.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
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
  const self = o.libp2p.peerId.toString();
  const refused = (await direct.storeAll(keys, value)).find((r) => !r.ok);
  if (refused) throw refused.error;
  const want = o.replication;
  const holders = keys.map(() => new Set<string>([self]));
  const tried = keys.map(() => new Set<string>([self]));
  const short = (): number[] => keys.flatMap((_, i) => ((holders[i] as Set<string>).size < want ? [i] : []));
  const result = (): string[][] => holders.map((h) => [...h]);
  // the replica sets first, then the next-closest peers, until enough confirmed
  for (const width of [want, want + 3]) {
    const asks = new Map<string, number[]>(); // peer → the keys it is asked to store
    for (const i of short()) {
      for (const p of direct.replicaSet(keys[i] as Uint8Array, width)) {
        if ((tried[i] as Set<string>).has(p)) continue;
        (tried[i] as Set<string>).add(p);
        asks.set(p, [...(asks.get(p) ?? []), i]);
      }
    }
    await Promise.all(
      [...asks].map(async ([peer, idx]) => {
        const ok = await direct.putAllTo(
          peer,
          idx.map((i) => keys[i] as Uint8Array),
          value,
          signal,
        );
        idx.forEach((i, j) => ok[j] && (holders[i] as Set<string>).add(peer));
      }),
    );
    if (short().length === 0) return result();
  }
  // not connected to anyone: a kad-dht walk has nobody to ask and would only wait out the deadline
  if (o.libp2p.getPeers().length === 0) return result();
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
