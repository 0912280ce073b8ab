// The peers kad-dht counts closest to a key (XOR distance of SHA-256 ids), computed apart from any node: which
// peers a test expects to hold a record.
import { createHash } from 'node:crypto';
import { peerIdFromString } from '@libp2p/peer-id';

/** The `count` of `peers` closest to `key`, closest first. */
export function closestOf(key: Uint8Array, peers: string[], count: number): string[] {
  const sha = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();
  const target = sha(key);
  const distance = (p: string): Buffer => {
    const id = sha(peerIdFromString(p).toMultihash().bytes);
    return Buffer.from(id.map((b, i) => b ^ (target[i] as number)));
  };
  return [...peers].sort((a, b) => Buffer.compare(distance(a), distance(b))).slice(0, count);
}
