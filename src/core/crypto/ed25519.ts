// Ed25519 keys in one place: node:crypto key objects from raw bytes (JWK import, no hand-kept DER
// prefixes), the printable `ed25519:<base64url>` form of a public key (authority, licensee and lease
// server keys), and a key file on disk (PKCS#8 PEM, 0600, never overwritten by accident).
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ChorusError, UsageError } from '../errors.ts';

export const KEY_PREFIX = 'ed25519:';
const B64URL_32 = /^[A-Za-z0-9_-]{43}$/;

/** The public key object of 32 raw bytes; throws on anything else. */
export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') },
    format: 'jwk',
  });
}

/** The private key object of a 32-byte seed and its public key (node:crypto checks that they belong together). */
export function ed25519PrivateKey(seed: Uint8Array, publicRaw: Uint8Array): KeyObject {
  return createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'Ed25519',
      d: Buffer.from(seed).toString('base64url'),
      x: Buffer.from(publicRaw).toString('base64url'),
    },
    format: 'jwk',
  });
}

/** The 32 raw bytes of an Ed25519 public key (or of the public half of a private key). */
export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' });
  return Buffer.from(jwk.x ?? '', 'base64url');
}

/** The 32-byte seed of an Ed25519 private key. */
export function rawSeed(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'jwk' }).d ?? '', 'base64url');
}

/** `ed25519:<base64url>` of a public key (raw bytes or a key object). */
export function keyString(key: Uint8Array | KeyObject): string {
  const raw = key instanceof Uint8Array ? key : rawPublicKey(key);
  return KEY_PREFIX + Buffer.from(raw).toString('base64url');
}

const parsed = new Map<string, KeyObject>();

/** The public key object of an `ed25519:<base64url>` string (canonical encoding only); undefined when malformed. */
export function parseKeyString(text: string): KeyObject | undefined {
  // the same few keys (authorities, licensees) are checked on every handshake
  const known = parsed.get(text);
  if (known) return known;
  const key = importKeyString(text);
  if (key) {
    if (parsed.size >= 1000) parsed.clear();
    parsed.set(text, key);
  }
  return key;
}

function importKeyString(text: string): KeyObject | undefined {
  if (!text.startsWith(KEY_PREFIX)) return undefined;
  const b64 = text.slice(KEY_PREFIX.length);
  if (!B64URL_32.test(b64)) return undefined;
  const raw = Buffer.from(b64, 'base64url');
  if (raw.toString('base64url') !== b64) return undefined;
  try {
    return ed25519PublicKey(raw);
  } catch {
    return undefined;
  }
}

export interface KeyPair {
  privateKey: KeyObject;
  /** `ed25519:<base64url>` */
  publicKey: string;
}

/**
 * Creates an Ed25519 keypair: the private key as PKCS#8 PEM (0600), the public key beside it
 * (`<file>.pub`). Written whole to a temporary file and linked into place: never half a key, and
 * never over an existing key unless `force` (then ChorusError KEY_EXISTS, exit 2).
 */
export function generateKeyFile(file: string, opts: { force?: boolean; what?: string } = {}): KeyPair {
  const what = opts.what ?? 'key';
  const { privateKey } = generateKeyPairSync('ed25519');
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(tmp, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  try {
    if (opts.force) renameSync(tmp, file);
    else linkSync(tmp, file);
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') {
      throw new ChorusError('KEY_EXISTS', `${file} already exists; refusing to overwrite an ${what}`, {
        kind: 'usage',
      });
    }
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  const publicKey = keyString(privateKey);
  writeFileSync(`${file}.pub`, `${publicKey}\n`);
  return { privateKey, publicKey };
}

/** Loads an Ed25519 private key file (PKCS#8 PEM); a missing file is ChorusError KEY_FILE, a wrong one UsageError. */
export function loadKeyFile(file: string, what = 'key'): KeyPair {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ChorusError('KEY_FILE', `cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new UsageError(`${file} is not a PEM private key (expected the ${what})`, 'KEY_FILE');
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new UsageError(`${file} is not an Ed25519 key (expected the ${what})`, 'KEY_FILE');
  }
  return { privateKey, publicKey: keyString(privateKey) };
}
