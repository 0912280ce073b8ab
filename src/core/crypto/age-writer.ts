// An age file (age-encryption.org/v1) written on node:crypto, for recipients that wrap the file key natively
// (x25519.ts): the bytes age-encryption's Encrypter writes — the version line, one stanza per recipient (its body
// in base64 lines of 48 bytes, an empty line after a body of a multiple of 48), "---" and the header's
// HMAC-SHA-256, then a 16-byte nonce and ChaCha20-Poly1305 STREAM chunks of 64 KiB, the last one flagged. Its
// JavaScript hashes and cipher behind web streams cost a writer ~1.2 ms per 1 KiB decision beyond the stanzas;
// this ~0.05 ms. The mirror of age-reader.ts; any age implementation reads what it writes.
import { base64nopad } from '@scure/base';
import type { Stanza } from 'age-encryption';
import { createCipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

const VERSION_LINE = 'age-encryption.org/v1';
const CHUNK = 64 * 1024;
const TAG = 16;
const NONCE = 16;
const FILE_KEY = 16;
/** Bytes of a stanza body per base64 line (64 characters). */
const BODY_LINE = 48;

/** What a recipient does for the writer: wraps the file key into its stanzas. */
export interface FileKeyWrapper {
  wrapFileKey(fileKey: Uint8Array): Stanza[];
}

/** The header up to and including "---": what its MAC covers (age-encryption's encodeHeaderNoMAC). */
function headerWithoutMac(stanzas: readonly Stanza[]): string {
  const lines = [`${VERSION_LINE}\n`];
  for (const s of stanzas) {
    lines.push(`-> ${s.args.join(' ')}\n`);
    for (let i = 0; i < s.body.length; i += BODY_LINE) {
      lines.push(`${base64nopad.encode(s.body.subarray(i, i + BODY_LINE))}\n`);
    }
    if (s.body.length % BODY_LINE === 0) lines.push('\n');
  }
  lines.push('---');
  return lines.join('');
}

/** The payload: the nonce, then the plaintext in STREAM chunks (one empty final chunk for an empty plaintext). */
function encryptPayload(fileKey: Uint8Array, plaintext: Uint8Array): Buffer[] {
  const nonce = randomBytes(NONCE);
  const key = Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
  const chunkNonce = Buffer.alloc(12); // an 11-byte big-endian chunk counter, then the last-chunk flag
  const out: Buffer[] = [nonce];
  for (let offset = 0, counter = 0; ; counter++) {
    const end = Math.min(offset + CHUNK, plaintext.byteLength);
    const last = end === plaintext.byteLength;
    chunkNonce.writeUIntBE(counter, 5, 6);
    chunkNonce[11] = last ? 1 : 0;
    const cipher = createCipheriv('chacha20-poly1305', key, chunkNonce, { authTagLength: TAG });
    out.push(cipher.update(plaintext.subarray(offset, end)), cipher.final(), cipher.getAuthTag());
    if (last) return out;
    offset = end;
  }
}

/** `plaintext` as an age file to every one of `recipients` (each can decrypt it with its identity). */
export function encryptAgeFile(plaintext: Uint8Array, recipients: readonly FileKeyWrapper[]): Uint8Array {
  const fileKey = randomBytes(FILE_KEY);
  const header = headerWithoutMac(recipients.flatMap((r) => r.wrapFileKey(fileKey)));
  const macKey = Buffer.from(hkdfSync('sha256', fileKey, new Uint8Array(0), 'header', 32));
  const mac = createHmac('sha256', macKey).update(header, 'latin1').digest();
  const file = Buffer.concat([
    Buffer.from(`${header} ${base64nopad.encode(mac)}\n`, 'latin1'),
    ...encryptPayload(fileKey, plaintext),
  ]);
  return new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
}
