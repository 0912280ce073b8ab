// Plaintexts of decisions this node decrypted, so that reading the same record again skips age decryption
// (~1–2 ms of CPU per GET). The record itself is still fetched and verified on every read; only the
// decryption of its verified payload is remembered. Keyed by the record's hash (which covers its payload)
// and the reader: its role and a digest of the identities it decrypts with — a role change or a keyring
// change (a rotated or removed key) misses and empties the cache, so nothing stays readable through it that
// the node's current keys could not read. Bounded: least recently used first out, by entries and by bytes.
import { createHash } from 'node:crypto';

export interface PlaintextCacheOptions {
  /** Plaintexts kept at most (default 1024). */
  maxEntries?: number;
  /** Bytes of plaintext kept at most (default 4 MiB); a larger plaintext is never kept. */
  maxBytes?: number;
}

/** Who decrypts: the role and the identities (secret keys) it decrypts with. */
export interface PlaintextReader {
  role: string;
  identities: readonly string[];
}

export class PlaintextCache {
  private readonly map = new Map<string, Uint8Array>();
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private bytes = 0;
  /** The reader the kept plaintexts were decrypted for (a different one empties the cache). */
  private reader = '';
  /** Reads answered from the cache, and decryptions run (metrics and tests). */
  hits = 0;
  misses = 0;

  constructor(opts: PlaintextCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 1024;
    this.maxBytes = opts.maxBytes ?? 4 * 1024 * 1024;
  }

  /**
   * The plaintext of the record with `hash` as `reader` reads it: kept, or `decrypt()`ed and kept. Returns
   * a copy (callers may change it). A failed decryption is not kept: it throws every time.
   */
  async read(hash: string, reader: PlaintextReader, decrypt: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const who = readerKey(reader);
    if (who !== this.reader) {
      this.clear();
      this.reader = who;
    }
    const key = `${hash}\n${who}`;
    const kept = this.map.get(key);
    if (kept) {
      this.hits++;
      this.map.delete(key); // re-inserted last: the map's order is the eviction order
      this.map.set(key, kept);
      return kept.slice();
    }
    this.misses++;
    const plaintext = await decrypt();
    // the reader may have changed while this one decrypted: keep it only under the current one
    if (who === this.reader) this.keep(key, plaintext.slice());
    return plaintext;
  }

  /** Forgets every plaintext (the node's role or keys changed). */
  clear(): void {
    this.map.clear();
    this.bytes = 0;
    this.reader = '';
  }

  get size(): number {
    return this.map.size;
  }

  /** Bytes of plaintext kept. */
  get byteLength(): number {
    return this.bytes;
  }

  private keep(key: string, plaintext: Uint8Array): void {
    if (plaintext.byteLength > this.maxBytes) return;
    const old = this.map.get(key);
    if (old) {
      this.bytes -= old.byteLength;
      this.map.delete(key);
    }
    this.map.set(key, plaintext);
    this.bytes += plaintext.byteLength;
    while (this.map.size > this.maxEntries || this.bytes > this.maxBytes) {
      const [first, value] = this.map.entries().next().value as [string, Uint8Array];
      this.map.delete(first);
      this.bytes -= value.byteLength;
    }
  }
}

/** The role and a digest of the identities (never the secret keys themselves in a key kept in memory). */
function readerKey(reader: PlaintextReader): string {
  const digest = createHash('sha256').update(reader.identities.join('\n')).digest('base64url');
  return `${reader.role}\n${digest}`;
}
