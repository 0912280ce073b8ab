// Forming the full mesh of a benchmark's in-process nodes: every pair connected and admitted, and
// every node seeing every other on a topic. On a loaded machine libp2p can drop a connection while 50
// nodes connect (a ping that timed out), a handshake can miss its deadline, and GossipSub never reopens
// an outbound stream that failed; so the wait re-dials lost pairs, hangs up and re-dials pairs whose
// topic stream stalled, and gives up only when nothing moves.
import { setTimeout as delay } from 'node:timers/promises';
import { TimeoutError } from '../core/errors.ts';
import type { ChorusNode } from '../core/node/node.ts';

/**
 * Dials every pair that has no connection (each node dials every earlier one), and before moving to
 * the next node waits until the admission handshakes of its pairs have finished at both ends (or the
 * pair was dropped): dialling on while hundreds of handshakes are in flight makes them miss their
 * deadline. Returns the dials made.
 */
export async function connectPairs(
  nodes: ChorusNode[],
  signal?: AbortSignal,
  onNode?: (i: number) => void,
): Promise<number> {
  let dials = 0;
  for (let i = 1; i < nodes.length; i++) {
    const from = nodes[i]!;
    const pairs: ChorusNode[] = [];
    for (let j = 0; j < i; j++) {
      if (signal?.aborted) return dials;
      const to = nodes[j]!;
      if (from.libp2p.getConnections(to.libp2p.peerId).length === 0) {
        const addr = to.libp2p.getMultiaddrs()[0];
        if (!addr) continue;
        dials++;
        // a dial that fails is retried by waitForTopicMesh
        await from.libp2p.dial(addr, { signal }).catch(() => {});
      }
      pairs.push(to);
    }
    await admittedBothWays(from, pairs, signal);
    onNode?.(i);
  }
  return dials;
}

/** Whether `a` and `b` have each verified the other's license proof on a connection of their own. */
export function admittedPair(a: ChorusNode, b: ChorusNode): boolean {
  return a.admission.info(b.peerId)?.via === 'direct' && b.admission.info(a.peerId)?.via === 'direct';
}

/**
 * Resolves when every pair (`from`, peer) is admitted at both ends or no longer connected (a late or
 * refused handshake hangs up), or after twice the handshake deadline.
 */
function admittedBothWays(from: ChorusNode, peers: ChorusNode[], signal?: AbortSignal): Promise<void> {
  const open = (): ChorusNode[] =>
    peers.filter((p) => !admittedPair(from, p) && from.libp2p.getConnections(p.libp2p.peerId).length > 0);
  if (open().length === 0 || signal?.aborted) return Promise.resolve();
  const emitters = [from, ...peers].map((n) => n.admission);
  return new Promise((resolve) => {
    const check = (): void => {
      if (open().length === 0) finish();
    };
    const finish = (): void => {
      clearTimeout(timer);
      for (const e of emitters) for (const name of ['admitted', 'late', 'refused'] as const) e.off(name, check);
      from.libp2p.removeEventListener('peer:disconnect', check);
      signal?.removeEventListener('abort', finish);
      resolve();
    };
    const timer = setTimeout(finish, 2 * from.config.license.handshakeTimeoutMs);
    for (const e of emitters) for (const name of ['admitted', 'late', 'refused'] as const) e.on(name, check);
    from.libp2p.addEventListener('peer:disconnect', check);
    signal?.addEventListener('abort', finish);
  });
}

/**
 * Connected pairs where one end has joined `topic` and the other cannot send to it there (no
 * outbound GossipSub stream, or its SUBSCRIBE not seen), as "i:j" (i < j).
 */
export function stalledPairs(nodes: ChorusNode[], topic: string): string[] {
  const joined = nodes.map((n) => n.pubsub.topics().some((t) => t.topic === topic));
  const reach = nodes.map((n) => new Set(n.pubsub.reachableSubscriberIds(topic)));
  const stalled: string[] = [];
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) {
      const [a, b] = [nodes[i]!, nodes[j]!];
      const lacking = (joined[j] && !reach[i]!.has(b.peerId)) || (joined[i] && !reach[j]!.has(a.peerId));
      if (lacking && a.libp2p.getConnections(b.libp2p.peerId).length > 0) stalled.push(`${i}:${j}`);
    }
  }
  return stalled;
}

/** Subscribers of `topic` each node can reach. */
export function topicPeers(nodes: ChorusNode[], topic: string): number[] {
  return nodes.map((n) => n.pubsub.reachableSubscribers(topic));
}

/**
 * Resolves when every node sees `want` subscribers of `topic`. While waiting, re-dials pairs that
 * lost their connection (every `redialMs`), and hangs up and re-dials a connected pair whose topic
 * stream has been missing for `stalledMs` (GossipSub opens its outbound stream once per connection and
 * never again if that fails); throws TimeoutError when the count of subscribers seen has not grown for
 * `stallMs`. Returns the re-dials made.
 */
export async function waitForTopicMesh(
  nodes: ChorusNode[],
  topic: string,
  want: number,
  opts: { signal?: AbortSignal; stallMs?: number; redialMs?: number; stalledMs?: number } = {},
): Promise<number> {
  const stallMs = opts.stallMs ?? 30_000;
  const redialMs = opts.redialMs ?? 5000;
  const stalledMs = opts.stalledMs ?? 5000;
  const total = (): number => topicPeers(nodes, topic).reduce((a, b) => a + Math.min(b, want), 0);
  let best = total();
  let movedAt = performance.now();
  let redialAt = performance.now() + redialMs;
  let redials = 0;
  /** Pairs seen stalled, and since when. */
  let stalledSince = new Map<string, number>();
  while (best < want * nodes.length) {
    if (opts.signal?.aborted) return redials;
    const now = performance.now();
    if (now - movedAt > stallMs) {
      const seen = topicPeers(nodes, topic);
      const short = seen.filter((s) => s < want).length;
      throw new TimeoutError(
        `the mesh stopped forming: ${short} of ${nodes.length} nodes see fewer than ${want} peers on ${topic} after ${Math.round(stallMs / 1000)} s without progress (seen: ${seen.join(',')})`,
      );
    }
    if (now >= redialAt) {
      const next = new Map<string, number>();
      for (const pair of stalledPairs(nodes, topic)) {
        const since = stalledSince.get(pair) ?? now;
        if (now - since < stalledMs) {
          next.set(pair, since);
          continue;
        }
        const [i, j] = pair.split(':').map(Number) as [number, number];
        await nodes[j]!.libp2p.hangUp(nodes[i]!.libp2p.peerId).catch(() => {});
      }
      stalledSince = next;
      redials += await connectPairs(nodes, opts.signal);
      redialAt = performance.now() + redialMs;
    }
    await delay(50, undefined, { signal: opts.signal }).catch(() => {});
    const t = total();
    if (t > best) {
      best = t;
      movedAt = performance.now();
    }
  }
  return redials;
}
