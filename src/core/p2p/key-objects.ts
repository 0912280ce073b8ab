// Ed25519 signatures of libp2p keys through cached node:crypto key objects. @libp2p/crypto imports the key from
// JWK on every verify and every sign (createPublicKey / createPrivateKey, base64url encoding); GossipSub verifies
// every message it receives with a fresh key object of its author, so a delivery paid that import each time. The
// same node:crypto verify and sign, with the same argument checks, on a key object made once per key.
// Checks of pubsub signatures may go to a worker thread under load (verify-offload.ts).
import { privateKeyFromRaw, publicKeyFromRaw } from '@libp2p/crypto/keys';
import type { PrivateKey, PublicKey } from '@libp2p/interface';
import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { ed25519PrivateKey, ed25519PublicKey } from '../crypto/ed25519.ts';
import { defaultSignatureOffload, type SignatureOffload } from './verify-offload.ts';

/** Bytes as libp2p hands them over: a Uint8Array or a Uint8ArrayList. */
type Bytes = Uint8Array | { subarray(): Uint8Array };

/** Public keys of the authors seen lately (a cluster has few; the cache is emptied when it grows past the cap). */
const MAX_PUBLIC_KEYS = 4096;
const publicKeys = new Map<string, KeyObject>();
const privateKeys = new WeakMap<Uint8Array, KeyObject>();

function publicKeyObject(raw: Uint8Array): KeyObject {
  const id = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1');
  let key = publicKeys.get(id);
  if (key === undefined) {
    key = ed25519PublicKey(raw);
    if (publicKeys.size >= MAX_PUBLIC_KEYS) publicKeys.clear();
    publicKeys.set(id, key);
  }
  return key;
}

/** `raw`: 64 bytes, the seed then the public key (libp2p's form of an Ed25519 private key). */
function privateKeyObject(raw: Uint8Array): KeyObject {
  let key = privateKeys.get(raw);
  if (key === undefined) {
    key = ed25519PrivateKey(raw.subarray(0, 32), raw.subarray(32));
    privateKeys.set(raw, key);
  }
  return key;
}

const plain = (msg: Bytes): Uint8Array => (msg instanceof Uint8Array ? msg : msg.subarray());

function checkSignature(sig: unknown): asserts sig is Uint8Array {
  if (!(sig instanceof Uint8Array)) throw new TypeError('"sig" must be a node.js Buffer, or Uint8Array.');
  if (sig.byteLength !== 64) throw new TypeError('"sig" must be 64 bytes in length.');
}

/** What GossipSub signs and checks: "libp2p-pubsub:" then the message (no other signer uses the prefix). */
const PUBSUB_PREFIX = Buffer.from('libp2p-pubsub:');

function signedForPubsub(bytes: Uint8Array): boolean {
  if (bytes.byteLength <= PUBSUB_PREFIX.length) return false;
  for (let i = 0; i < PUBSUB_PREFIX.length; i++) if (bytes[i] !== PUBSUB_PREFIX[i]) return false;
  return true;
}

/** An Ed25519 check of raw key bytes on the event loop. */
function verifyRaw(key: Uint8Array, data: Uint8Array, sig: Uint8Array): boolean {
  return cryptoVerify(null, data, publicKeyObject(key), sig);
}

let offload: SignatureOffload | undefined;

/** Hands checks of pubsub signatures to `o` from now on (undefined: all stay on the event loop). For tests. */
export function setPubsubSignatureOffload(o: SignatureOffload | undefined): void {
  offload = o;
}

let installed = false;

/**
 * Makes libp2p's Ed25519 keys (every instance, in this process) verify and sign with cached key objects.
 * Idempotent. Keys of a shape this does not know (a private key that is not seed + public key) keep
 * @libp2p/crypto's own code.
 */
export function cacheEd25519KeyObjects(): void {
  if (installed) return;
  installed = true;
  offload = defaultSignatureOffload(verifyRaw);
  const sample = publicKeyFromRaw(new Uint8Array(32).fill(1));
  const publicProto = Object.getPrototypeOf(sample) as PublicKey;
  publicProto.verify = function verify(
    this: { raw: Uint8Array },
    data: Bytes,
    sig: Uint8Array,
    options?: { signal?: AbortSignal },
  ): boolean | Promise<boolean> {
    options?.signal?.throwIfAborted();
    checkSignature(sig);
    const bytes = plain(data);
    // GossipSub awaits its checks (libp2p's PublicKey.verify may answer with a promise): under load they may leave
    // the event loop
    const offloaded =
      offload !== undefined && signedForPubsub(bytes) ? offload.verify(this.raw, bytes, sig) : undefined;
    return offloaded ?? verifyRaw(this.raw, bytes, sig);
  } as PublicKey['verify'];
  const privateProto = findPrivatePrototype(publicProto);
  if (!privateProto) return;
  const librarySign = privateProto.sign;
  privateProto.sign = function sign(
    this: { raw: Uint8Array },
    message: Bytes,
    options?: { signal?: AbortSignal },
  ): Uint8Array | Promise<Uint8Array> {
    if (this.raw.byteLength !== 64)
      return librarySign.call(this as unknown as PrivateKey, message as Uint8Array, options);
    options?.signal?.throwIfAborted();
    return cryptoSign(null, plain(message), privateKeyObject(this.raw));
  } as PrivateKey['sign'];
}

/** The Ed25519 private key class of the same @libp2p/crypto (its instances carry a public key of `publicProto`). */
function findPrivatePrototype(publicProto: PublicKey): PrivateKey | undefined {
  const key = privateKeyFromRaw(new Uint8Array(64).fill(1));
  if (Object.getPrototypeOf(key.publicKey) !== publicProto) return undefined;
  return Object.getPrototypeOf(key) as PrivateKey;
}
