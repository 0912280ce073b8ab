// age's X25519 recipient and identity (age-encryption.org/v1/X25519) on node:crypto. The pure-JS
// curve in age-encryption costs ~0.5 ms per scalar multiplication; Node's native X25519 is ~10x
// faster, and decisions pay for one or two of these on every read. Same wire format: files stay
// readable by any age implementation, and these read files written by any of them.
import { bech32 } from '@scure/base';
import { Stanza, type Identity, type Recipient } from 'age-encryption';
import {
  createDecipheriv,
  createCipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from 'node:crypto';

const LABEL = 'age-encryption.org/v1/X25519';
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');
const ZERO_NONCE = Buffer.alloc(12);

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64').replace(/=+$/, '');

function decodeBech32(text: string, prefix: string): Buffer {
  const { prefix: got, words } = bech32.decode(text.toLowerCase() as `${string}1${string}`, 1024);
  if (got !== prefix) throw new Error(`expected a ${prefix} key`);
  const bytes = Buffer.from(bech32.fromWords(words));
  if (bytes.length !== 32) throw new Error('an X25519 key is 32 bytes');
  return bytes;
}

const publicKeyObject = (raw: Uint8Array): KeyObject =>
  createPublicKey({ key: Buffer.concat([SPKI_X25519, raw]), format: 'der', type: 'spki' });

function rawPublic(key: KeyObject): Buffer {
  return (key.export({ format: 'der', type: 'spki' }) as Buffer).subarray(SPKI_X25519.length);
}

function wrapKey(shared: Buffer, ephemeral: Uint8Array, recipient: Uint8Array): Buffer {
  if (shared.every((b) => b === 0)) throw new Error('X25519 produced an all-zero shared secret');
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), LABEL, 32));
}

export class NativeX25519Recipient implements Recipient {
  private readonly raw: Buffer;
  private readonly key: KeyObject;

  constructor(recipient: string) {
    this.raw = decodeBech32(recipient, 'age');
    this.key = publicKeyObject(this.raw);
  }

  wrapFileKey(fileKey: Uint8Array): Stanza[] {
    const { publicKey, privateKey } = generateKeyPairSync('x25519');
    const ephemeral = rawPublic(publicKey);
    const key = wrapKey(diffieHellman({ privateKey, publicKey: this.key }), ephemeral, this.raw);
    const cipher = createCipheriv('chacha20-poly1305', key, ZERO_NONCE, { authTagLength: 16 });
    const body = Buffer.concat([cipher.update(fileKey), cipher.final(), cipher.getAuthTag()]);
    return [new Stanza(['X25519', b64(ephemeral)], body)];
  }
}

export class NativeX25519Identity implements Identity {
  private readonly key: KeyObject;
  private readonly ownPublic: Buffer;

  constructor(identity: string) {
    const secret = decodeBech32(identity, 'age-secret-key-');
    this.key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, secret]), format: 'der', type: 'pkcs8' });
    this.ownPublic = rawPublic(createPublicKey(this.key));
  }

  unwrapFileKey(stanzas: Stanza[]): Uint8Array | null {
    for (const s of stanzas) {
      if (s.args[0] !== 'X25519' || s.args.length !== 2 || s.body.length !== 32) continue;
      const ephemeral = Buffer.from(s.args[1] as string, 'base64');
      if (ephemeral.length !== 32) continue;
      let key: Buffer;
      try {
        key = wrapKey(
          diffieHellman({ privateKey: this.key, publicKey: publicKeyObject(ephemeral) }),
          ephemeral,
          this.ownPublic,
        );
      } catch {
        continue;
      }
      const decipher = createDecipheriv('chacha20-poly1305', key, ZERO_NONCE, { authTagLength: 16 });
      decipher.setAuthTag(s.body.subarray(16));
      try {
        return Buffer.concat([decipher.update(s.body.subarray(0, 16)), decipher.final()]);
      } catch {
        // not our stanza
      }
    }
    return null;
  }
}
