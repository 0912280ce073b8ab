// The text form of a message author's peer ID, remembered per author. GossipSub makes a new PeerId object for the
// author of every message it receives (from the signing key), and its toString() base58-encodes the multihash in
// JavaScript (~1.5 % of a receiving node's CPU); the same few authors come back again and again, so their strings
// are kept, keyed by the multihash bytes (a native base64 encoding), in a bounded map.
import type { PeerId } from '@libp2p/interface';

/** Authors remembered at most; the map starts afresh past it (a cluster has far fewer publishers). */
export const MAX_AUTHORS = 4096;

const known = new Map<string, string>();

/** `id.toString()`, from the cache when this author was seen before. */
export function authorId(id: PeerId): string {
  const bytes = id.toMultihash().bytes;
  const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  let text = known.get(key);
  if (text === undefined) {
    if (known.size >= MAX_AUTHORS) known.clear();
    text = id.toString();
    known.set(key, text);
  }
  return text;
}
