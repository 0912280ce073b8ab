// The event log: an append-only, sha256 hash-chained, signed log in one SQLite file (node:sqlite, WAL,
// synchronous per EventLogOptions). Owns opening (and creating) the file, appends and reads. The file format
// lives in format.ts, chain verification in verify.ts, following in follow.ts, retention (by age and size, with a
// signed checkpoint at the cut) in retention.ts, the per-peer rate limit of received messages in ratelimit.ts,
// canonical JSON in canonical.ts.

import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { StatementSync } from 'node:sqlite';
import { WalCheckpointer, type CheckpointRequests } from '../checkpoint-thread.ts';
import { ChorusError } from '../errors.ts';
import { quickCheck, sqliteDamage } from '../store-check.ts';
import { canonicalJson } from './canonical.ts';
import { followEntries, ChangeNotifier, DEFAULT_POLL_MS } from './follow.ts';
import {
  BUSY_TIMEOUT_MS,
  COLUMNS,
  FORMAT,
  type LogFormat,
  checkFormat,
  ensureSchema,
  prepareNewFile,
  entryHash,
  readCheckpoint,
  rowToEntry,
} from './format.ts';
import { LogRetention, compactStep, logBytes, releaseFreePages } from './retention.ts';
import type { CompactOptions, CompactStep, RetentionPolicy, RetentionRunnerOptions } from './retention.ts';
import { isLogType } from './types.ts';
import type { AuthorVerifier, Checkpoint, LogEntry, LogSigner, LogType, VerifyReport } from './types.ts';
import { GENESIS, checkTail, damagedReport, verifyChain } from './verify.ts';

export { canonicalJson } from './canonical.ts';
export { ZERO_HASH, entryHash } from './format.ts';
export { LOG_TYPES, isLogType, logTypeForMessage } from './types.ts';
export { compactLog, retentionPolicy } from './retention.ts';
export type { CompactResult, RetentionPolicy } from './retention.ts';
export type {
  AuthorVerifier,
  Checkpoint,
  LogEntry,
  LogSigner,
  LogType,
  VerifyProblem,
  VerifyProblemKind,
  VerifyReport,
} from './types.ts';

// ---------------------------------------------------------------------------------------------------------------
// the log

interface Statements {
  last: StatementSync;
  insert: StatementSync;
  since: StatementSync;
  tail: StatementSync;
}

/**
 * Durability of appends. 'normal' (WAL, synchronous=NORMAL): an entry is durable once append returns as
 * far as the process is concerned — it survives kill -9 and crashes of chorus — and is flushed to disk at
 * WAL checkpoints; an OS crash or power loss may lose the newest entries (the chain still verifies).
 * 'full': every append is fsync'd before it returns (survives power loss, ~3–4x slower).
 */
export interface EventLogOptions {
  sync?: 'normal' | 'full';
  /** Run retention (by age and size, see retention.ts) at open and periodically until the log closes. */
  retention?: RetentionRunnerOptions;
  /** Where the log's WAL checkpoints run (default: the process's checkpoint thread, checkpoint-thread.ts). */
  checkpoints?: CheckpointRequests;
}

export class EventLog {
  readonly file: string;
  readonly #db: DatabaseSync;
  readonly #signer: LogSigner;
  readonly #stmt: Statements;
  readonly #changes = new ChangeNotifier();
  /** Format 2: one signature per appendMany (on its last entry); format 1 files: one per entry. */
  readonly #signPerBatch: boolean;
  #retention: LogRetention | undefined;
  /** Checkpoints on the process's checkpoint thread (writable logs only). */
  #checkpoints: WalCheckpointer | undefined;
  #closed = false;

  private constructor(db: DatabaseSync, file: string, signer: LogSigner, format: LogFormat) {
    this.#db = db;
    this.file = file;
    this.#signer = signer;
    this.#signPerBatch = format === FORMAT;
    this.#stmt = {
      last: db.prepare('SELECT seq, hash, time FROM entries ORDER BY seq DESC LIMIT 1'),
      insert: db.prepare(`INSERT INTO entries (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      since: db.prepare(`SELECT ${COLUMNS} FROM entries WHERE seq > ? ORDER BY seq LIMIT ?`),
      tail: db.prepare(`SELECT * FROM (SELECT ${COLUMNS} FROM entries ORDER BY seq DESC LIMIT ?) ORDER BY seq`),
    };
  }

  /**
   * Opens (creating if needed: file mode 0600, parent directory 0700) the log at `file`, checks the last entry
   * cheaply (see checkTail) and continues its chain. Several processes may append to one file: every append
   * reads the current head inside a write transaction.
   */
  static open(file: string, signer: LogSigner, options: EventLogOptions = {}): EventLog {
    if (
      typeof signer?.author !== 'string' ||
      signer.author.length === 0 ||
      typeof signer.sign !== 'function' ||
      typeof signer.verify !== 'function'
    ) {
      throw new ChorusError('EVENTLOG_BAD_SIGNER', 'event log signer needs a non-empty author, sign() and verify()', {
        kind: 'usage',
      });
    }
    const path = resolve(file);
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      try {
        closeSync(openSync(path, 'wx', 0o600));
        chmodSync(path, 0o600); // in case the umask stripped more than group/other bits
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    } catch (err) {
      throw new ChorusError('EVENTLOG_OPEN_FAILED', `cannot create event log ${path}: ${String(err)}`, { cause: err });
    }
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS });
    } catch (err) {
      throw new ChorusError('EVENTLOG_OPEN_FAILED', `cannot open event log ${path}: ${String(err)}`, { cause: err });
    }
    try {
      prepareNewFile(db);
      // SQLite creates the -wal and -shm files with the database file's permissions (0600).
      const mode = db.prepare('PRAGMA journal_mode = WAL').get()?.journal_mode;
      if (mode !== 'wal')
        throw new ChorusError('EVENTLOG_OPEN_FAILED', `${path}: cannot enable WAL (got ${String(mode)})`);
      db.exec(`PRAGMA synchronous = ${options.sync === 'full' ? 'FULL' : 'NORMAL'}`);
      const format = ensureSchema(db, path);
      checkTail(db, signer, path);
      const log = new EventLog(db, path, signer, format);
      log.#checkpoints = new WalCheckpointer(path, {
        thread: options.checkpoints,
        finish: () => log.#finishCheckpoint(),
      });
      if (options.retention) {
        log.#retention = new LogRetention(log, options.retention);
        log.#retention.start();
      }
      return log;
    } catch (err) {
      db.close();
      if (err instanceof ChorusError) throw err;
      throw new ChorusError('EVENTLOG_OPEN_FAILED', `cannot open event log ${path}: ${String(err)}`, { cause: err });
    }
  }

  /** Opens an existing log for reading only (tail, follow) — e.g. `chorus log tail` beside a running node. */
  static openReadOnly(file: string): EventLog {
    const path = resolve(file);
    if (!existsSync(path)) throw new ChorusError('EVENTLOG_NOT_FOUND', `no event log at ${path}`, { kind: 'usage' });
    let db: DatabaseSync;
    let format: LogFormat;
    try {
      db = new DatabaseSync(path, { readOnly: true, timeout: BUSY_TIMEOUT_MS });
      format = checkFormat(db, path);
    } catch (err) {
      if (err instanceof ChorusError) throw err;
      throw new ChorusError('EVENTLOG_OPEN_FAILED', `cannot open event log ${path}: ${String(err)}`, { cause: err });
    }
    const refuse = (): never => {
      throw new ChorusError('EVENTLOG_READ_ONLY', `event log ${path} is open read-only`);
    };
    return new EventLog(db, path, { author: 'read-only', sign: refuse, verify: () => false }, format);
  }

  /**
   * Verifies a log file without taking part in writing it (read-only connection), e.g. for `chorus log verify`
   * while the node holds the file. `verify` checks one entry's signature for its author.
   */
  static verifyFile(file: string, verify: AuthorVerifier): VerifyReport {
    const path = resolve(file);
    if (!existsSync(path)) throw new ChorusError('EVENTLOG_NOT_FOUND', `no event log at ${path}`, { kind: 'usage' });
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path, { readOnly: true, timeout: BUSY_TIMEOUT_MS });
    } catch (err) {
      throw new ChorusError('EVENTLOG_OPEN_FAILED', `cannot open event log ${path}: ${String(err)}`, { cause: err });
    }
    try {
      // damage first: a damaged page may hold no entry the walk reads, and SQLite's own error names no file
      const damage = quickCheck(db);
      if (damage !== undefined) return damagedReport(path, damage);
      checkFormat(db, path);
      return verifyChain(db, verify);
    } catch (err) {
      if (err instanceof ChorusError) throw err;
      const damage = sqliteDamage(err);
      if (damage !== undefined) return damagedReport(path, damage);
      throw new ChorusError('EVENTLOG_READ_FAILED', `cannot read event log ${path}: ${String(err)}`, { cause: err });
    } finally {
      db.close();
    }
  }

  /**
   * Appends one entry and returns it once SQLite has committed it (durability: see EventLogOptions). `data` must
   * be JSON-encodable (undefined is stored as null); the returned `data` is its JSON round-trip. Times never go
   * backwards along the log: a clock that stepped back reuses the previous entry's time.
   */
  append(type: LogType, data: unknown): LogEntry {
    return this.appendMany([{ type, data }])[0] as LogEntry;
  }

  /**
   * Appends several entries in one transaction (one commit instead of one per entry), in order; each entry is
   * hashed and chained on its own. Signed: the last entry of the batch (its hash commits to the others, which carry
   * an empty signature), or every entry in a file of the first format. All or none are written.
   */
  appendMany(items: readonly { type: LogType; data: unknown }[]): LogEntry[] {
    const entries: LogEntry[] = [];
    this.#appendAll(items, entries);
    return entries;
  }

  /** appendMany without the entries returned (a writer that does not read them back skips their JSON round trip). */
  appendAll(items: readonly { type: LogType; data: unknown }[]): void {
    this.#appendAll(items, undefined);
  }

  /** Appends `items` (see appendMany) and pushes each written entry onto `entries`, when given. */
  #appendAll(items: readonly { type: LogType; data: unknown }[], entries: LogEntry[] | undefined): void {
    this.#assertOpen();
    for (const { type } of items) {
      if (!isLogType(type)) {
        throw new ChorusError('EVENTLOG_BAD_TYPE', `unknown event log type ${JSON.stringify(type)}`, { kind: 'usage' });
      }
    }
    const prepared = items.map(({ type, data }) => ({
      type,
      dataJson: canonicalJson(data === undefined ? null : data),
    }));
    const author = this.#signer.author;
    const db = this.#db;
    try {
      db.exec('BEGIN IMMEDIATE');
      const last = this.#last();
      let seq = last.seq;
      let prevHash = last.hash;
      let lastTime = last.time;
      const lastIndex = prepared.length - 1;
      for (const [i, { type, dataJson }] of prepared.entries()) {
        seq += 1;
        const now = new Date().toISOString();
        const time = lastTime > now ? lastTime : now;
        const hash = entryHash(seq, time, type, dataJson, author, prevHash);
        const signature = i === lastIndex || !this.#signPerBatch ? this.#sign(hash) : '';
        this.#stmt.insert.run(seq, time, type, dataJson, author, prevHash, hash, signature);
        entries?.push({ seq, time, type, data: JSON.parse(dataJson), author, prevHash, hash, signature });
        prevHash = hash;
        lastTime = time;
      }
      db.exec('COMMIT');
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK');
      if (err instanceof ChorusError) throw err;
      throw new ChorusError('EVENTLOG_APPEND_FAILED', `cannot append to event log ${this.file}: ${String(err)}`, {
        cause: err,
      });
    }
    // what the log took: the data and, per entry, its hashes, signature, author and time (~300 bytes)
    this.#checkpoints?.committed(prepared.reduce((sum, { dataJson }) => sum + dataJson.length + 300, 0));
    this.#changes.wake();
  }

  /**
   * Copies what was committed since the checkpoint thread's last copy (a few pages), so that the next append starts
   * the WAL again from its beginning (see checkpoint-thread.ts). Never throws: the log stays bounded by SQLite.
   */
  #finishCheckpoint(): void {
    if (this.#closed || this.#db.isTransaction) return;
    try {
      this.#db.exec('PRAGMA wal_checkpoint(PASSIVE)');
    } catch {
      // another connection's checkpoint or lock: the next request finishes it
    }
  }

  /** base64 of the signer's signature over the raw bytes of `hash` (hex). */
  #sign(hash: string): string {
    const sig = this.#signer.sign(Buffer.from(hash, 'hex'));
    if (!(sig instanceof Uint8Array) || sig.byteLength === 0) {
      throw new ChorusError('EVENTLOG_SIGN_FAILED', 'event log signer returned no signature');
    }
    return Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength).toString('base64');
  }

  /** The head's seq: entries ever appended (seqs run without gaps; retention may have removed the oldest). */
  get size(): number {
    return this.head.seq;
  }

  /**
   * The last entry's { seq, hash }; { 0, 64 zeros } when empty (the checkpoint's, should retention have left no
   * entry). Reads the file, so it sees other writers.
   */
  get head(): { seq: number; hash: string } {
    this.#assertOpen();
    const { seq, hash } = this.#last();
    return { seq, hash };
  }

  /** The chain's head: the last entry, else the checkpoint, else the genesis. */
  #last(): { seq: number; hash: string; time: string } {
    const last = this.#stmt.last.get();
    if (last !== undefined) return { seq: Number(last.seq), hash: String(last.hash), time: String(last.time) };
    const cp = readCheckpoint(this.#db);
    return typeof cp === 'object' ? { seq: cp.seq, hash: cp.hash, time: cp.entryTime } : { ...GENESIS };
  }

  /** The retention checkpoint in force (absent while nothing was ever removed). */
  checkpoint(): Omit<Checkpoint, 'signature'> | undefined {
    this.#assertOpen();
    const cp = readCheckpoint(this.#db);
    if (typeof cp !== 'object') return undefined;
    const { signature: _signature, ...shown } = cp;
    return shown;
  }

  /** A new retention policy for the periodic passes (a reload); a log opened without retention ignores it. */
  setRetentionPolicy(policy: RetentionPolicy): void {
    this.#retention?.setPolicy(policy);
  }

  /** One retention step (see compactStep in retention.ts); compactLog runs a whole pass. */
  compactStep(policy: RetentionPolicy, opts?: CompactOptions): CompactStep {
    this.#assertOpen();
    return compactStep(this.#db, this.#signer, policy, opts);
  }

  /** Gives freed pages back to the file system (logs created since retention exists; a no-op for older ones). */
  releaseFreePages(): void {
    this.#assertOpen();
    releaseFreePages(this.#db);
  }

  /** Live bytes (pages in use) and the file's size in pages, WAL frames included. */
  bytes(): { live: number; file: number } {
    this.#assertOpen();
    return logBytes(this.#db);
  }

  /** The last `count` entries, in ascending seq order. */
  tail(count: number): LogEntry[] {
    this.#assertOpen();
    const n = Math.floor(count);
    if (!(n > 0)) return [];
    return this.#stmt.tail.all(n).map(rowToEntry);
  }

  /** Entries with seq > `seq`, ascending, at most `limit` of them (all when omitted). */
  since(seq: number, limit?: number): LogEntry[] {
    this.#assertOpen();
    const max = limit === undefined ? -1 : Math.floor(limit);
    if (limit !== undefined && !(max > 0)) return [];
    return this.#stmt.since.all(Math.floor(seq), max).map(rowToEntry);
  }

  /**
   * Streams entries with seq > `fromSeq`: first the backlog, then new ones as they are appended — in this
   * process (woken at once) or by another process on the same file (seen by polling every `pollMs`). Ends
   * cleanly (no error) when `signal` aborts or the log is closed.
   */
  follow(fromSeq: number, signal: AbortSignal, pollMs: number = DEFAULT_POLL_MS): AsyncIterable<LogEntry> {
    this.#assertOpen();
    if (!Number.isFinite(fromSeq)) throw new ChorusError('EVENTLOG_BAD_ARGUMENT', 'follow: fromSeq must be a number');
    const interval = Number.isFinite(pollMs) && pollMs > 0 ? pollMs : DEFAULT_POLL_MS;
    return followEntries(this, this.#changes, Math.floor(fromSeq), signal, interval);
  }

  /**
   * Full verification of the chain (see verifyChain). Signatures are checked with this log's signer, so only
   * entries written under this signer's author verify; use verifyFile with a per-author verifier otherwise.
   */
  verify(): VerifyReport {
    this.#assertOpen();
    const signer = this.#signer;
    return verifyChain(this.#db, (author, data, sig) => author === signer.author && signer.verify(data, sig));
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#retention?.stop();
    this.#checkpoints?.close();
    this.#closed = true;
    this.#changes.wake();
    this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new ChorusError('EVENTLOG_CLOSED', `event log ${this.file} is closed`);
  }
}
