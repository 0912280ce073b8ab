// An age file (age-encryption.org/v1) read on node:crypto, for identities that unwrap natively (x25519.ts):
// the header's lines parsed as age-encryption parses them, its MAC checked with HMAC-SHA-256, and the payload
// — a 16-byte nonce, then ChaCha20-Poly1305 STREAM chunks of 64 KiB, the last one flagged — opened chunk by
// chunk. age-encryption's own reader (JavaScript hashes and cipher behind web streams) cost a node ~0.8 ms per
// 1 KiB decision on a first read (its code rarely warm there); this one ~0.15 ms. Files to X25519 recipients are
// written on node:crypto too (age-writer.ts); any age implementation reads them.
import { base64nopad } from '@scure/base';
import { Stanza } from 'age-encryption';
import { createDecipheriv, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

const VERSION_LINE = 'age-encryption.org/v1';
const CHUNK = 64 * 1024;
const TAG = 16;
const NONCE = 16;

export interface AgeHeader {
  stanzas: Stanza[];
  /** The header up to and including "---": what the MAC covers. */
  macInput: Uint8Array;
  mac: Uint8Array;
  /** Bytes of the header, its MAC line included: the payload starts here. */
  length: number;
}

/** Reads the header's lines one by one: printable ASCII only, each ending with "\n". */
class Lines {
  at = 0;
  private readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  next(): string {
    const end = this.bytes.indexOf(0x0a, this.at);
    if (end < 0) throw new Error('the header ends early');
    const line = this.bytes.subarray(this.at, end);
    for (const b of line) if (b < 32 || b > 126) throw new Error('invalid non-ASCII byte in header');
    this.at = end + 1;
    return Buffer.from(line).toString('latin1');
  }
}

/** Parses an age header (throws on any malformation, as age-encryption does). */
export function parseAgeHeader(file: Uint8Array): AgeHeader {
  const lines = new Lines(file);
  if (lines.next() !== VERSION_LINE) throw new Error('invalid version line');
  const stanzas: Stanza[] = [];
  for (;;) {
    const start = lines.at;
    const line = lines.next();
    const args = line.split(' ');
    if (args.length >= 2 && args[0] === '->') {
      if (args.some((a) => a.length === 0)) throw new Error('invalid stanza');
      const body: Uint8Array[] = [];
      for (;;) {
        const chunk = base64nopad.decode(lines.next());
        if (chunk.length > 48) throw new Error('invalid stanza');
        body.push(chunk);
        if (chunk.length < 48) break;
      }
      stanzas.push(new Stanza(args.slice(1), Buffer.concat(body)));
      continue;
    }
    if (!line.startsWith('--- ')) throw new Error('invalid header');
    return {
      stanzas,
      macInput: file.subarray(0, start + 3),
      mac: base64nopad.decode(line.slice(4)),
      length: lines.at,
    };
  }
}

/** Throws unless the header's MAC is the one its file key makes. */
export function checkHeaderMac(fileKey: Uint8Array, header: AgeHeader): void {
  const key = Buffer.from(hkdfSync('sha256', fileKey, new Uint8Array(0), 'header', 32));
  const mac = createHmac('sha256', key).update(header.macInput).digest();
  if (header.mac.length !== mac.length || !timingSafeEqual(header.mac, mac)) throw new Error('invalid header HMAC');
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
