// The payload half of an age file (age-encryption.org/v1) opened on node:crypto: after the header come a
// 16-byte nonce and the plaintext in ChaCha20-Poly1305 STREAM chunks of 64 KiB, the last one flagged. The
// header (its stanzas, the file key's unwrapping and the header MAC) stays with age-encryption; its payload
// path (a JavaScript cipher behind web streams) was half the cost of opening a 1 KiB decision.
import { createDecipheriv, hkdfSync } from 'node:crypto';

const CHUNK = 64 * 1024;
const TAG = 16;
const NONCE = 16;
const MAC_LINE = Buffer.from('\n--- ');

/** The length of an age file's header: up to and including its MAC line ("--- <mac>\n"); undefined: none. */
export function headerLength(file: Uint8Array): number | undefined {
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const mac = bytes.indexOf(MAC_LINE); // stanza lines start with "-> " and bodies are base64: the first is the MAC's
  if (mac < 0) return undefined;
  const end = bytes.indexOf(0x0a, mac + MAC_LINE.length);
  return end < 0 ? undefined : end + 1;
}

/**
 * The plaintext of an age payload (what follows the header) under its file key. Throws when a chunk fails
 * authentication, the payload is truncated or extended, or a final chunk is empty after others.
 */
export function decryptPayload(fileKey: Uint8Array, payload: Uint8Array): Uint8Array {
  if (payload.byteLength < NONCE + TAG) throw new Error('the payload is too short');
  const key = Buffer.from(hkdfSync('sha256', fileKey, payload.subarray(0, NONCE), 'payload', 32));
  const body = payload.subarray(NONCE);
  const nonce = Buffer.alloc(12); // an 11-byte big-endian chunk counter, then the last-chunk flag
  const out: Buffer[] = [];
  for (let offset = 0, counter = 0; ; counter++) {
    const last = body.byteLength - offset <= CHUNK + TAG;
    const end = last ? body.byteLength : offset + CHUNK + TAG;
    if (end - offset < TAG) throw new Error('a chunk is shorter than its tag');
    nonce.writeUIntBE(counter, 5, 6);
    nonce[11] = last ? 1 : 0;
    const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
    decipher.setAuthTag(body.subarray(end - TAG, end));
    const chunk = Buffer.concat([decipher.update(body.subarray(offset, end - TAG)), decipher.final()]);
    if (last && chunk.byteLength === 0 && counter > 0) throw new Error('the final chunk is empty');
    out.push(chunk);
    if (last) {
      const plaintext = out.length === 1 ? chunk : Buffer.concat(out);
      return new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
    }
    offset = end;
  }
}
