// What the decision read path keeps between reads, bounded by entries and by bytes (least recently used out
// first). PlaintextCache: plaintexts of decisions this node decrypted, so that reading the same record again
// skips age decryption (~1–2 ms of CPU per GET). The record itself is still located and verified as before;
// only the decryption of its verified payload is remembered. Keyed by the record's hash (which covers its
// payload), and held for one reader: its role and a digest of the identities it decrypts with — a role change
// or a keyring change (a rotated or removed key) empties the cache, so nothing stays readable through it that
// the node's current keys could not read. BoundedLru also holds the store's kept latest records.
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

/** A map bounded by entries and by the summed size of its values; the least recently used go first. */
export class BoundedLru<V> {
  private readonly map = new Map<string, V>();
  private readonly maxEntries: number;
  private readonly maxSize: number;
  private readonly sizeOf: (value: V) => number;
  private total = 0;

  constructor(opts: { maxEntries: number; maxSize: number; sizeOf: (value: V) => number }) {
    this.maxEntries = opts.maxEntries;
    this.maxSize = opts.maxSize;
    this.sizeOf = opts.sizeOf;
  }

  /** The value under `key` (now the most recently used). */
  get(key: string): V | undefined {
    const value = this.map.get(key);
    if (value === undefined) return undefined;
    this.map.delete(key); // re-inserted last: the map's order is the eviction order
    this.map.set(key, value);
    return value;
  }

  /** Whether a value is kept under `key` (its place in the order unchanged). */
  has(key: string): boolean {
    return this.map.has(key);
  }

  /** Keeps `value` under `key`, evicting the least recently used beyond the bounds; one over maxSize alone is not kept. */
  set(key: string, value: V): void {
    this.delete(key);
    const size = this.sizeOf(value);
    if (size > this.maxSize) return;
    this.map.set(key, value);
    this.total += size;
    while (this.map.size > this.maxEntries || this.total > this.maxSize) {
      this.delete(this.map.keys().next().value as string);
    }
  }

  delete(key: string): void {
    const old = this.map.get(key);
    if (old === undefined) return;
    this.map.delete(key);
    this.total -= this.sizeOf(old);
  }

  clear(): void {
    this.map.clear();
    this.total = 0;
  }

  get size(): number {
    return this.map.size;
  }

  /** The summed size of the values kept. */
  get totalSize(): number {
    return this.total;
  }
}

export class PlaintextCache {
  private readonly lru: BoundedLru<Uint8Array>;
  /** The reader the kept plaintexts were decrypted for (a different one empties the cache). */
  private reader = '';
  /** Reads answered from the cache, and decryptions run (metrics and tests). */
  hits = 0;
  misses = 0;

  constructor(opts: PlaintextCacheOptions = {}) {
    this.lru = new BoundedLru({
      maxEntries: opts.maxEntries ?? 1024,
      maxSize: opts.maxBytes ?? 4 * 1024 * 1024,
      sizeOf: (p) => p.byteLength,
    });
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
    // the cache only ever holds the current reader's plaintexts, so the record's hash is the key
    const kept = this.lru.get(hash);
    if (kept) {
      this.hits++;
      return kept.slice();
    }
    this.misses++;
    const plaintext = await decrypt();
    // the reader may have changed while this one decrypted: keep it only under the current one
    if (who === this.reader) this.lru.set(hash, plaintext.slice());
    return plaintext;
  }

  /** Forgets every plaintext (the node's role or keys changed). */
  clear(): void {
    this.lru.clear();
    this.reader = '';
  }

  get size(): number {
    return this.lru.size;
  }

  /** Bytes of plaintext kept. */
  get byteLength(): number {
    return this.lru.totalSize;
  }
}

/** The role and a digest of the identities (never the secret keys themselves in a key kept in memory). */
function readerKey(reader: PlaintextReader): string {
  const digest = createHash('sha256').update(reader.identities.join('\n')).digest('base64url');
  return `${reader.role}\n${digest}`;
}
