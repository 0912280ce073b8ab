// The node's libp2p datastore: DHT records and provider records (keys under /dht/) persist in one
// node:sqlite file in the data dir, so decisions survive restarts; the peer store's constant churn
// stays in memory (a file write per peer update made every DHT query several times slower). A batch's writes to
// the file land in one SQLite transaction. A file SQLite cannot open is a StoreDamagedError naming it. The file is
// held exclusively while open (no other connection reads it meanwhile). Its WAL checkpoints run once writes pause
// (quiet-checkpoints.ts); only sustained writes still checkpoint inside a write.
import { BaseDatastore, MemoryDatastore } from 'datastore-core';
import { Key, type Batch, type KeyQuery, type Pair, type Query } from 'interface-datastore';
import { NotFoundError } from 'interface-store';
import { chmodSync, closeSync, openSync } from 'node:fs';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { QuietCheckpoints } from '../quiet-checkpoints.ts';
import { StoreDamagedError, sqliteDamage } from '../store-check.ts';

const PERSISTENT_PREFIX = '/dht/';
/** How much of the file SQLite reads through a memory map (the rest by pread). */
const MMAP_BYTES = 64 * 1024 * 1024;

export class ChorusDatastore extends BaseDatastore {
  private readonly db: DatabaseSync;
  private readonly memory = new MemoryDatastore();
  private readonly stmt: Record<'put' | 'get' | 'has' | 'del' | 'scanKeys', StatementSync>;
  /** The file's WAL checkpoints, once writes pause. */
  readonly checkpoints: QuietCheckpoints;

  constructor(file: string) {
    super();
    try {
      closeSync(openSync(file, 'a', 0o600));
      chmodSync(file, 0o600);
    } catch {
      // the database open below reports the real problem
    }
    this.db = new DatabaseSync(file, { timeout: 5000 });
    try {
      // The node is this file's only user (its data dir's lock keeps out a second node; the start-up check opens and
      // closes it before): SQLite takes its lock once and keeps the WAL's index in memory, where each read or write
      // transaction took and dropped shared-memory locks (fcntl calls) — a miss 7.5 -> 2.3 µs, a hit 15.5 -> 10.5.
      this.db.exec('PRAGMA locking_mode = EXCLUSIVE');
      this.db.exec('PRAGMA journal_mode = WAL');
      this.db.exec('PRAGMA synchronous = NORMAL');
      // Reads of the file's pages from a memory map instead of a pread() each: a record's lookup walks the B-tree
      // and its value overflows into two more pages (3,000 records here: a hit 59 -> 32 µs of CPU, a miss 32 -> 10,
      // a two-record commit 114 -> 99). The map is bounded; pages past it, and the WAL's, are read as before.
      this.db.exec(`PRAGMA mmap_size = ${MMAP_BYTES}`);
      this.db.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID');
      // The raised in-line bound (quiet-checkpoints.ts): under sustained writes a node's newest records wait longer
      // for a checkpoint's fsync, and each of them is also held by its other replicas (re-replication restores it).
      this.checkpoints = new QuietCheckpoints(this.db);
    } catch (err) {
      this.db.close();
      const damage = sqliteDamage(err);
      if (damage === undefined) throw err;
      // the node's start-up check (node/integrity.ts) finds damage anywhere in the file; this names what SQLite hit
      throw new StoreDamagedError(
        file,
        `${file} is damaged (${damage}): move it aside or run \`chorus node --repair\` (the DHT refills from replicas)`,
        err,
      );
    }
    this.stmt = {
      put: this.db.prepare(
        'INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      ),
      get: this.db.prepare('SELECT value FROM kv WHERE key = ?'),
      has: this.db.prepare('SELECT 1 AS found FROM kv WHERE key = ?'),
      del: this.db.prepare('DELETE FROM kv WHERE key = ?'),
      scanKeys: this.db.prepare('SELECT key FROM kv WHERE key >= ? AND key < ? ORDER BY key'),
    };
  }

  private persistent(key: Key): boolean {
    return key.toString().startsWith(PERSISTENT_PREFIX);
  }

  override put(key: Key, value: Uint8Array): Key | Promise<Key> {
    if (!this.persistent(key)) return this.memory.put(key, value);
    this.stmt.put.run(key.toString(), value);
    this.checkpoints.committed();
    return key;
  }

  override get(key: Key): Uint8Array | Promise<Uint8Array> {
    if (!this.persistent(key)) return this.memory.get(key);
    const row = this.stmt.get.get(key.toString()) as { value: Uint8Array } | undefined;
    if (!row) throw new NotFoundError(`no value for ${key.toString()}`);
    return new Uint8Array(row.value);
  }

  /**
   * The value of a key, or undefined: a miss without the NotFoundError that get() throws (an Error captures a
   * stack trace, and a decision write misses on every replica that has not held its subject before).
   */
  getIfPresent(key: Key): Uint8Array | undefined | Promise<Uint8Array | undefined> {
    if (!this.persistent(key)) {
      return Promise.resolve(this.memory.has(key)).then((held) => (held ? this.memory.get(key) : undefined));
    }
    const row = this.stmt.get.get(key.toString()) as { value: Uint8Array } | undefined;
    return row ? new Uint8Array(row.value) : undefined;
  }

  override has(key: Key): boolean | Promise<boolean> {
    if (!this.persistent(key)) return this.memory.has(key);
    return this.stmt.has.get(key.toString()) !== undefined;
  }

  override delete(key: Key): void | Promise<void> {
    if (!this.persistent(key)) return this.memory.delete(key);
    this.stmt.del.run(key.toString());
    this.checkpoints.committed();
  }

  /** A batch whose writes under /dht/ commit in one SQLite transaction (one WAL commit, not one per record). */
  override batch(): Batch {
    const puts: Pair[] = [];
    const dels: Key[] = [];
    return {
      put: (key, value) => void puts.push({ key, value }),
      delete: (key) => void dels.push(key),
      commit: async () => {
        const onDisk = (k: Key): boolean => this.persistent(k);
        this.db.exec('BEGIN');
        try {
          for (const { key, value } of puts) if (onDisk(key)) this.stmt.put.run(key.toString(), value);
          for (const key of dels) if (onDisk(key)) this.stmt.del.run(key.toString());
          this.db.exec('COMMIT');
        } catch (err) {
          this.db.exec('ROLLBACK');
          throw err;
        }
        if (puts.some(({ key }) => onDisk(key)) || dels.some(onDisk)) this.checkpoints.committed();
        for (const { key, value } of puts) if (!onDisk(key)) await this.memory.put(key, value);
        for (const key of dels) if (!onDisk(key)) await this.memory.delete(key);
      },
    };
  }

  override async *_all(q: Query): AsyncGenerator<Pair> {
    const prefix = q.prefix ?? '/';
    if (PERSISTENT_PREFIX.startsWith(prefix) || prefix.startsWith(PERSISTENT_PREFIX)) {
      const from = prefix.startsWith(PERSISTENT_PREFIX) ? prefix : PERSISTENT_PREFIX;
      // The keys are read up front: a consumer that writes while it iterates (republish re-puts the records it
      // reads) must not move the cursor of a live SQLite statement — that made one republish pass revisit
      // rows it had just rewritten, thousands of times. Values are read one at a time, so memory stays small.
      const keys = (this.stmt.scanKeys.all(from, `${from}\uffff`) as { key: string }[]).map((r) => r.key);
      for (const key of keys) {
        const row = this.stmt.get.get(key) as { value: Uint8Array } | undefined;
        if (row) yield { key: new Key(key, false), value: new Uint8Array(row.value) };
      }
    }
    yield* this.memory.query({ prefix: q.prefix });
  }

  override async *_allKeys(q: KeyQuery): AsyncGenerator<Key> {
    for await (const pair of this._all({ prefix: q.prefix })) yield pair.key;
  }

  close(): void {
    this.checkpoints.close();
    if (this.db.isOpen) this.db.close();
  }
}
