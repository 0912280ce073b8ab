// Ed25519 signing with the node's libp2p identity through node:crypto (fast, synchronous), and
// verification of signatures by any author named by its peer ID (the public key is inside the ID).
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { sign, verify, type KeyObject } from 'node:crypto';
import { ed25519PrivateKey, ed25519PublicKey } from '../crypto/ed25519.ts';
import { ChorusError } from '../errors.ts';

export interface Signer {
  /** The author's peer ID string. */
  author: string;
  sign(data: Uint8Array): Uint8Array;
  verify(data: Uint8Array, signature: Uint8Array): boolean;
}

export function signerFor(privateKey: PrivateKey): Signer {
  if (privateKey.type !== 'Ed25519')
    throw new ChorusError('KEY_TYPE', `identity key must be Ed25519, not ${privateKey.type}`);
  const key = ed25519PrivateKey(privateKey.raw.subarray(0, 32), privateKey.publicKey.raw);
  const pub = ed25519PublicKey(privateKey.publicKey.raw);
  return {
    author: peerIdFromPrivateKey(privateKey).toString(),
    sign: (data) => new Uint8Array(sign(null, data, key)),
    verify: (data, signature) => verify(null, data, pub, signature),
  };
}

const keyCache = new Map<string, KeyObject | null>();

/** Verifies a signature by the author named by a peer ID string; false for unknown key types or bad IDs. */
export function verifyByAuthor(author: string, data: Uint8Array, signature: Uint8Array): boolean {
  let key = keyCache.get(author);
  if (key === undefined) {
    try {
      const peer = peerIdFromString(author);
      key = peer.type === 'Ed25519' && peer.publicKey ? ed25519PublicKey(peer.publicKey.raw) : null;
    } catch {
      key = null;
    }
    if (keyCache.size > 10_000) keyCache.clear();
    keyCache.set(author, key);
  }
  if (!key) return false;
  try {
    return verify(null, data, key, signature);
  } catch {
    return false;
  }
}
