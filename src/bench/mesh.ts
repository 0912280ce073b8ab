// Forming the full mesh of a benchmark's in-process nodes: every pair connected and every node seeing
// every other on a topic. On a loaded machine libp2p can drop a connection while 50 nodes connect
// (a ping that timed out), so the wait re-dials lost pairs and gives up only when nothing moves.
import { setTimeout as delay } from 'node:timers/promises';
import { TimeoutError } from '../core/errors.ts';
import type { ChorusNode } from '../core/node/node.ts';

/** Dials every pair that has no connection (each node dials every earlier one); returns the dials made. */
export async function connectPairs(
  nodes: ChorusNode[],
  signal?: AbortSignal,
  onNode?: (i: number) => void,
): Promise<number> {
  let dials = 0;
  for (let i = 1; i < nodes.length; i++) {
    for (let j = 0; j < i; j++) {
      if (signal?.aborted) return dials;
      const [from, to] = [nodes[i]!, nodes[j]!];
      if (from.libp2p.getConnections(to.libp2p.peerId).length > 0) continue;
      const addr = to.libp2p.getMultiaddrs()[0];
      if (!addr) continue;
      dials++;
      // a dial that fails is retried by waitForTopicMesh
      await from.libp2p.dial(addr, { signal }).catch(() => {});
    }
    onNode?.(i);
  }
  return dials;
}

/** Subscribers of `topic` each node can reach. */
export function topicPeers(nodes: ChorusNode[], topic: string): number[] {
  return nodes.map((n) => n.pubsub.reachableSubscribers(topic));
}

/**
 * Resolves when every node sees `want` subscribers of `topic`. While waiting, re-dials pairs that
 * lost their connection (every `redialMs`); throws TimeoutError when the count of subscribers seen
 * has not grown for `stallMs`. Returns the re-dials made.
 */
export async function waitForTopicMesh(
  nodes: ChorusNode[],
  topic: string,
  want: number,
  opts: { signal?: AbortSignal; stallMs?: number; redialMs?: number } = {},
): Promise<number> {
  const stallMs = opts.stallMs ?? 30_000;
  const redialMs = opts.redialMs ?? 5000;
  const total = (): number => topicPeers(nodes, topic).reduce((a, b) => a + Math.min(b, want), 0);
  let best = total();
  let movedAt = performance.now();
  let redialAt = performance.now() + redialMs;
  let redials = 0;
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
