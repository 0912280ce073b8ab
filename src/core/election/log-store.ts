// Durable storage of the consensus log: the entries after the last snapshot, the snapshot itself (the
// state machines at an applied index) and a commit hint. The SQLite file is written in WAL mode. An append
// is written when append() returns and durable once a later sync() resolves: sync() flushes the WAL file
// with fdatasync on libuv's thread pool, so the event loop goes on (a follower answers, a leader counts
// itself, only after it). Snapshots, truncations and the cluster binding are rare and durable on return.
// Memory storage is for the simulated-cluster tests.
import { chmodSync, closeSync, openSync, renameSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { DATA_FILES } from '../datadir.ts';

/** The consensus log's file in the data dir. */
export const CONSENSUS_LOG_FILE = DATA_FILES.consensusLog;

export interface LogEntry {
  index: number;
  term: number;
  /** The state machine the entry is for ("leader" entries are the no-op each new leader commits). */
  kind: string;
  data: unknown;
}

export interface LogSnapshot {
  /** Index and term of the last entry the snapshot includes. */
  index: number;
  term: number;
  /** The state machines' state at that index, as JSON text. */
  state: string;
}

export interface LogStorage {
  /** Index and term of the newest entry (the snapshot's when the log after it is empty; 0/0 when empty). */
  last(): { index: number; term: number };
  /** The lowest index whose entry is held (the snapshot's index + 1 when none before it is kept). */
  first(): number;
  /** Term of the entry at an index: the snapshot's last entry counts; undefined when not held. */
  termAt(index: number): number | undefined;
  /** Entries from..to (inclusive) that are held, stopping once about maxBytes of data were read. */
  entries(from: number, to: number, maxBytes?: number): LogEntry[];
  /** Appends entries that follow the newest one. Readable when it returns; durable once sync() resolves. */
  append(entries: readonly LogEntry[]): void;
  /** Resolves once everything written before the call (appends included) is on disk. */
  sync(): Promise<void>;
  /** Drops every entry at or after `index` (a follower's conflicting suffix). Durable when it returns. */
  truncateFrom(index: number): void;
  snapshot(): LogSnapshot | undefined;
  /** Saves a snapshot and drops the entries it covers except the newest `keep` of them. */
  saveSnapshot(s: LogSnapshot, keep?: number): void;
  /** A snapshot received from the leader replaces the whole log. */
  resetTo(s: LogSnapshot): void;
  /** The highest index known committed (a hint: it only ever grows; written with the next append). */
  commitHint(): number;
  saveCommitHint(index: number): void;
  /** The cluster (voter set) this log belongs to, once bound. */
  cluster(): string | undefined;
  setCluster(key: string): void;
  /** Moves the whole log aside (a new cluster starts empty); returns where it went, when it held anything. */
  archive(): string | undefined;
  close(): void;
}

/** Approximate size of an entry's data, for batching. */
export const entrySize = (e: LogEntry): number => JSON.stringify(e.data ?? null).length + 48;

export class SqliteLogStorage implements LogStorage {
  readonly file: string;
  private db!: DatabaseSync;
  private stmt!: Record<
    'insert' | 'range' | 'termOf' | 'lastRow' | 'firstRow' | 'truncate' | 'dropUpTo' | 'meta' | 'setMeta',
    StatementSync
  >;
  private snap: LogSnapshot | undefined;
  private newest: { index: number; term: number } = { index: 0, term: 0 };
  private commit = 0;
  private hintDirty = false;
  /** Writes so far and how many of them are known on disk (sync()). */
  private written = 0;
  private synced = 0;
  private flushing: Promise<void> | undefined;
  /** False when the file system refused WAL mode: commits are then synced by SQLite itself (FULL). */
  private walMode = true;
  /** The WAL file, opened at the first sync (SQLite keeps it while the connection is open). */
  private wal: Promise<FileHandle> | undefined;

  constructor(file: string) {
    this.file = file;
    this.open();
  }

  /** SQLite's sync at an ordinary commit: none in WAL mode (sync() flushes), every commit without it. */
  private get commitSync(): 'NORMAL' | 'FULL' {
    return this.walMode ? 'NORMAL' : 'FULL';
  }

  private open(): void {
    const file = this.file;
    try {
      closeSync(openSync(file, 'a', 0o600));
      chmodSync(file, 0o600);
    } catch {
      // the database open below reports the real problem
    }
    this.db = new DatabaseSync(file, { timeout: 5000 });
    const mode = this.db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode?: string } | undefined;
    // A file system without WAL support keeps SQLite's rollback journal: then every commit is synced at once.
    this.walMode = mode?.journal_mode === 'wal';
    this.db.exec(`PRAGMA synchronous = ${this.commitSync}`);
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL)',
    );
    this.db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID');
    this.stmt = {
      insert: this.db.prepare('INSERT OR REPLACE INTO entries (idx, term, kind, data) VALUES (?, ?, ?, ?)'),
      range: this.db.prepare('SELECT idx, term, kind, data FROM entries WHERE idx >= ? AND idx <= ? ORDER BY idx'),
      termOf: this.db.prepare('SELECT term FROM entries WHERE idx = ?'),
      lastRow: this.db.prepare('SELECT idx, term FROM entries ORDER BY idx DESC LIMIT 1'),
      firstRow: this.db.prepare('SELECT idx FROM entries ORDER BY idx ASC LIMIT 1'),
      truncate: this.db.prepare('DELETE FROM entries WHERE idx >= ?'),
      dropUpTo: this.db.prepare('DELETE FROM entries WHERE idx <= ?'),
      meta: this.db.prepare('SELECT value FROM meta WHERE key = ?'),
      setMeta: this.db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      ),
    };
    const snapText = this.getMeta('snapshot');
    this.snap = snapText ? (JSON.parse(snapText) as LogSnapshot) : undefined;
    this.commit = Number(this.getMeta('commit') ?? 0);
    this.newest = this.readLast();
  }

  private getMeta(key: string): string | undefined {
    return (this.stmt.meta.get(key) as { value: string } | undefined)?.value;
  }

  private readLast(): { index: number; term: number } {
    const row = this.stmt.lastRow.get() as { idx: number; term: number } | undefined;
    if (row && row.idx > (this.snap?.index ?? 0)) return { index: row.idx, term: row.term };
    return { index: this.snap?.index ?? 0, term: this.snap?.term ?? 0 };
  }

  last(): { index: number; term: number } {
    return this.newest;
  }

  first(): number {
    const row = this.stmt.firstRow.get() as { idx: number } | undefined;
    const afterSnap = (this.snap?.index ?? 0) + 1;
    return row && row.idx < afterSnap ? row.idx : afterSnap;
  }

  termAt(index: number): number | undefined {
    if (index === 0) return 0;
    if (this.snap && index === this.snap.index) return this.snap.term;
    if (index > this.newest.index) return undefined;
    return (this.stmt.termOf.get(index) as { term: number } | undefined)?.term;
  }

  entries(from: number, to: number, maxBytes = Infinity): LogEntry[] {
    const out: LogEntry[] = [];
    let bytes = 0;
    for (const row of this.stmt.range.iterate(from, to) as Iterable<{
      idx: number;
      term: number;
      kind: string;
      data: string;
    }>) {
      bytes += row.data.length + 48;
      if (bytes > maxBytes && out.length > 0) break;
      out.push({ index: row.idx, term: row.term, kind: row.kind, data: JSON.parse(row.data) as unknown });
    }
    return out;
  }

  append(entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    this.transaction(() => {
      for (const e of entries) this.stmt.insert.run(e.index, e.term, e.kind, JSON.stringify(e.data ?? null));
      this.flushHint();
    });
    this.written++;
    if (!this.walMode) this.synced = this.written;
    const tail = entries[entries.length - 1] as LogEntry;
    this.newest = { index: tail.index, term: tail.term };
  }

  async sync(): Promise<void> {
    const target = this.written;
    while (this.synced < target) {
      this.flushing ??= this.flushWal().finally(() => (this.flushing = undefined));
      await this.flushing;
    }
  }

  /** One fdatasync of the WAL file, off the event loop; it covers every write made before it starts. */
  private async flushWal(): Promise<void> {
    const upTo = this.written;
    const wal = (this.wal ??= open(`${this.file}-wal`, 'r'));
    try {
      await (await wal).datasync();
    } catch (err) {
      if (this.wal === wal) this.closeWal(); // the next sync opens it again
      throw err;
    }
    this.synced = Math.max(this.synced, upTo);
  }

  /** Runs a rare write with SQLite syncing the WAL at its commit, which makes every earlier write durable too. */
  private durably(write: () => void): void {
    this.db.exec('PRAGMA synchronous = FULL');
    try {
      write();
    } finally {
      this.db.exec(`PRAGMA synchronous = ${this.commitSync}`);
    }
    this.synced = ++this.written;
  }

  truncateFrom(index: number): void {
    this.durably(() => this.stmt.truncate.run(index));
    this.newest = this.readLast();
  }

  snapshot(): LogSnapshot | undefined {
    return this.snap;
  }

  saveSnapshot(s: LogSnapshot, keep = 0): void {
    this.durably(() =>
      this.transaction(() => {
        this.stmt.setMeta.run('snapshot', JSON.stringify(s));
        this.stmt.dropUpTo.run(s.index - keep);
      }),
    );
    this.snap = s;
    this.newest = this.readLast();
  }

  resetTo(s: LogSnapshot): void {
    this.saveCommitHint(s.index);
    this.durably(() =>
      this.transaction(() => {
        this.stmt.setMeta.run('snapshot', JSON.stringify(s));
        this.db.exec('DELETE FROM entries');
        this.flushHint();
      }),
    );
    this.snap = s;
    this.newest = { index: s.index, term: s.term };
  }

  private transaction(write: () => void): void {
    this.db.exec('BEGIN');
    try {
      write();
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  commitHint(): number {
    return this.commit;
  }

  saveCommitHint(index: number): void {
    if (index <= this.commit) return;
    this.commit = index;
    this.hintDirty = true;
  }

  cluster(): string | undefined {
    return this.getMeta('cluster');
  }

  setCluster(key: string): void {
    this.durably(() => this.stmt.setMeta.run('cluster', key));
  }

  archive(): string | undefined {
    const held = this.newest.index > 0 || this.snap !== undefined;
    this.closeWal();
    this.db.close();
    let moved: string | undefined;
    if (held) {
      moved = `${this.file.replace(/\.db$/, '')}-${new Date().toISOString().replace(/[:.]/g, '-')}.db`;
      renameSync(this.file, moved);
    } else rmSync(this.file, { force: true });
    for (const suffix of ['-wal', '-shm']) rmSync(`${this.file}${suffix}`, { force: true });
    this.snap = undefined;
    this.commit = 0;
    this.hintDirty = false;
    this.open();
    return moved;
  }

  private flushHint(): void {
    if (!this.hintDirty) return;
    this.stmt.setMeta.run('commit', String(this.commit));
    this.hintDirty = false;
  }

  /** Lets go of the WAL file once its pending flush is done (FileHandle.close waits for it). */
  private closeWal(): void {
    const wal = this.wal;
    this.wal = undefined;
    void wal?.then((h) => h.close()).catch(() => {});
  }

  close(): void {
    if (!this.db.isOpen) return;
    this.flushHint();
    this.closeWal();
    this.db.close(); // its checkpoint syncs the WAL and the database first
  }
}

/** In-memory storage that survives a simulated crash (the tests keep the object across restarts). */
export class MemoryLogStorage implements LogStorage {
  private log: LogEntry[] = [];
  private snap: LogSnapshot | undefined;
  private commit = 0;
  private clusterKey: string | undefined;
  appends = 0;
  archived = 0;

  cluster(): string | undefined {
    return this.clusterKey;
  }

  setCluster(key: string): void {
    this.clusterKey = key;
  }

  archive(): string | undefined {
    const held = this.log.length > 0 || this.snap !== undefined;
    this.log = [];
    this.snap = undefined;
    this.commit = 0;
    this.clusterKey = undefined;
    if (!held) return undefined;
    this.archived++;
    return `memory#${this.archived}`;
  }

  private base(): number {
    return this.snap?.index ?? 0;
  }

  last(): { index: number; term: number } {
    const tail = this.log[this.log.length - 1];
    return tail ? { index: tail.index, term: tail.term } : { index: this.base(), term: this.snap?.term ?? 0 };
  }

  first(): number {
    const head = this.log[0];
    const afterSnap = this.base() + 1;
    return head && head.index < afterSnap ? head.index : afterSnap;
  }

  termAt(index: number): number | undefined {
    if (index === 0) return 0;
    if (this.snap && index === this.snap.index) return this.snap.term;
    return this.log.find((e) => e.index === index)?.term;
  }

  entries(from: number, to: number, maxBytes = Infinity): LogEntry[] {
    const out: LogEntry[] = [];
    let bytes = 0;
    for (const e of this.log) {
      if (e.index < from || e.index > to) continue;
      bytes += entrySize(e);
      if (bytes > maxBytes && out.length > 0) break;
      out.push(structuredClone(e));
    }
    return out;
  }

  append(entries: readonly LogEntry[]): void {
    for (const e of entries) {
      this.log = this.log.filter((x) => x.index !== e.index);
      this.log.push(structuredClone(e));
    }
    this.log.sort((a, b) => a.index - b.index);
    this.appends++;
  }

  sync(): Promise<void> {
    return Promise.resolve();
  }

  truncateFrom(index: number): void {
    this.log = this.log.filter((e) => e.index < index);
  }

  snapshot(): LogSnapshot | undefined {
    return this.snap;
  }

  saveSnapshot(s: LogSnapshot, keep = 0): void {
    this.snap = s;
    this.log = this.log.filter((e) => e.index > s.index - keep);
  }

  resetTo(s: LogSnapshot): void {
    this.snap = s;
    this.log = [];
    this.saveCommitHint(s.index);
  }

  commitHint(): number {
    return this.commit;
  }

  saveCommitHint(index: number): void {
    if (index > this.commit) this.commit = index;
  }

  close(): void {}
}
