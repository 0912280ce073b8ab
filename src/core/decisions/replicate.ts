// Writes that reach their replicas: a record goes straight to the peers the routing table names as
// closest to its key (then the next closest), and the holders that confirmed storing it are counted;
// without the one-hop path, or when it falls short, the iterative kad-dht PUT.
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
  const self = o.libp2p.peerId.toString();
  const direct = o.direct;
  if (direct) {
    await direct.store(key, value);
    const holders = new Set<string>([self]);
    const want = o.replication;
    const tried = new Set<string>([self]);
    // the replica set first, then the next-closest peers, until enough confirmed
    for (const width of [want, want + 3]) {
      const batch = direct.replicaSet(key, width).filter((p) => !tried.has(p));
      batch.forEach((p) => tried.add(p));
      const ok = await Promise.all(batch.map((p) => direct.putTo(p, key, value, signal)));
      batch.forEach((p, i) => ok[i] && holders.add(p));
      if (holders.size >= want) return [...holders];
    }
    // not connected to anyone: a kad-dht walk has nobody to ask and would only wait out the deadline
    if (o.libp2p.getPeers().length === 0) return [...holders];
    for (const p of await replicateKad(o, key, value, signal)) holders.add(p);
    return [...holders];
  }
  return replicateKad(o, key, value, signal);
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
