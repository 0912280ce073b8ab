// The event log: an append-only, sha256 hash-chained, signed log in one SQLite file (node:sqlite, WAL,
// synchronous per EventLogOptions). Owns the file format, appends, reads, cross-process follow, and chain verification;
// also owns `canonicalJson`, the deterministic JSON other modules sign.
// Size: over 500 lines until its split into format / verify / follow (issue #18, the robustness strand).

import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { SQLOutputValue, StatementSync } from 'node:sqlite';
import { ChorusError } from '../errors.ts';
import { isLogType } from './types.ts';
import type { AuthorVerifier, LogEntry, LogSigner, LogType, VerifyProblem, VerifyReport } from './types.ts';

export { LOG_TYPES, isLogType, logTypeForMessage } from './types.ts';
export type {
  AuthorVerifier,
  LogEntry,
  LogSigner,
  LogType,
  VerifyProblem,
  VerifyProblemKind,
  VerifyReport,
} from './types.ts';

/** prevHash of entry 1. */
export const ZERO_HASH = '0'.repeat(64);

const FORMAT = 'chorus-eventlog/1';
const BUSY_TIMEOUT_MS = 5000;
const DEFAULT_POLL_MS = 250;
const FOLLOW_BATCH = 256;

const HEX64 = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const COLUMNS = 'seq, time, type, data, author, prev_hash, hash, signature';

// ---------------------------------------------------------------------------------------------------------------
// canonical JSON

/**
 * Deterministic JSON: exactly what `JSON.stringify` produces (toJSON honoured, undefined/functions dropped from
 * objects and nulled in arrays, non-finite numbers → null), except that object keys are sorted recursively by
 * UTF-16 code unit and there is never any whitespace. Throws on BigInt, cycles, and values with no JSON form.
 */
export function canonicalJson(value: unknown): string {
  const out = serialize(value, '', new Set());
  if (out === undefined) {
    throw new ChorusError('CANONICAL_JSON', `cannot encode ${typeof value} as JSON`, { kind: 'usage' });
  }
  return out;
}

function serialize(input: unknown, key: string, stack: Set<object>): string | undefined {
  let value = input;
  if (typeof value === 'object' && value !== null) {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') value = (toJSON as (k: string) => unknown).call(value, key);
  }
  if (value instanceof Number || value instanceof String || value instanceof Boolean) value = value.valueOf();
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new ChorusError('CANONICAL_JSON', 'cannot encode a BigInt as JSON', { kind: 'usage' });
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (value === null) return 'null';
  const obj = value as object;
  if (stack.has(obj))
    throw new ChorusError('CANONICAL_JSON', 'cannot encode a cyclic structure as JSON', { kind: 'usage' });
  stack.add(obj);
  try {
    if (Array.isArray(obj)) {
      return `[${obj.map((item: unknown, i) => serialize(item, String(i), stack) ?? 'null').join(',')}]`;
    }
    const record = obj as Record<string, unknown>;
    const parts: string[] = [];
    for (const k of Object.keys(record).sort()) {
      const encoded = serialize(record[k], k, stack);
      if (encoded !== undefined) parts.push(`${JSON.stringify(k)}:${encoded}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    stack.delete(obj);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// hashing

/**
 * sha256 (hex) over canonicalJson({ seq, time, type, data, author, prevHash }). `dataJson` must already be
 * canonicalJson(data); the object is assembled directly with its keys in sorted order (author < data < prevHash <
 * seq < time < type), which is byte-identical to canonicalJson of the whole object.
 */
export function entryHash(
  seq: number,
  time: string,
  type: string,
  dataJson: string,
  author: string,
  prevHash: string,
): string {
  const canonical =
    `{"author":${JSON.stringify(author)},"data":${dataJson},"prevHash":${JSON.stringify(prevHash)},` +
    `"seq":${seq},"time":${JSON.stringify(time)},"type":${JSON.stringify(type)}}`;
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

// ---------------------------------------------------------------------------------------------------------------
// rows

interface StoredRow {
  seq: number;
  time: string;
  type: LogType;
  data: unknown;
  /** canonicalJson(data), recomputed from the stored text */
  dataJson: string;
  author: string;
  prevHash: string;
  hash: string;
  signature: string;
}

type RawRow = Record<string, SQLOutputValue>;

/** A stored row, validated; a string says why it is malformed. */
function parseRow(raw: RawRow): StoredRow | string {
  const { seq, time, type, data, author, prev_hash: prevHash, hash, signature } = raw;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return 'seq is not a positive integer';
  if (typeof time !== 'string' || !ISO_TIME.test(time) || Number.isNaN(Date.parse(time))) {
    return 'time is not an ISO-8601 UTC timestamp';
  }
  if (!isLogType(type)) return `unknown type ${JSON.stringify(type)}`;
  if (typeof data !== 'string') return 'data is not JSON text';
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return 'data is not valid JSON';
  }
  if (typeof author !== 'string' || author.length === 0) return 'author is empty';
  if (typeof prevHash !== 'string' || !HEX64.test(prevHash)) return 'prevHash is not a hex sha256';
  if (typeof hash !== 'string' || !HEX64.test(hash)) return 'hash is not a hex sha256';
  if (typeof signature !== 'string' || !BASE64.test(signature)) return 'signature is not base64';
  return { seq, time, type, data: parsed, dataJson: canonicalJson(parsed), author, prevHash, hash, signature };
}

function rowHash(row: StoredRow, seq = row.seq): string {
  return entryHash(seq, row.time, row.type, row.dataJson, row.author, row.prevHash);
}

function toEntry(row: StoredRow): LogEntry {
  const { seq, time, type, data, author, prevHash, hash, signature } = row;
  return { seq, time, type, data, author, prevHash, hash, signature };
}

function rowToEntry(raw: RawRow): LogEntry {
  const row = parseRow(raw);
  if (typeof row === 'string') {
    throw new ChorusError('EVENTLOG_CORRUPT', `event log entry ${String(raw.seq)} is malformed: ${row}`);
  }
  return toEntry(row);
}

function signatureValid(check: AuthorVerifier, row: StoredRow): boolean {
  try {
    return check(row.author, Buffer.from(row.hash, 'hex'), Buffer.from(row.signature, 'base64')) === true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// verification

/**
 * Walks the whole chain in seq order. What it proves: every entry's hash matches its contents, its signature
 * matches its hash, it links to the previous entry's hash, seqs run 1, 2, 3… without gaps and times never go
 * backwards. What it cannot prove: that the tail was not cut off — a log truncated after entry N is a perfectly
 * valid chain of N entries. Detecting truncation needs the head ({ seq, hash }) anchored somewhere else (a peer,
 * a published decision, an operator's note) and compared with this report's headSeq/headHash.
 */
function verifyChain(db: DatabaseSync, check: AuthorVerifier): VerifyReport {
  let entries = 0;
  let headSeq = 0;
  let headHash = ZERO_HASH;
  let headTime = '';
  const fail = (problem: VerifyProblem): VerifyReport => ({ ok: false, entries, headSeq, headHash, problem });

  for (const raw of db.prepare(`SELECT ${COLUMNS} FROM entries ORDER BY seq`).iterate()) {
    const expected = headSeq + 1;
    const row = parseRow(raw);
    if (typeof row === 'string') {
      const label = typeof raw.seq === 'number' && Number.isSafeInteger(raw.seq) ? raw.seq : expected;
      return fail({ seq: label, kind: 'malformed', message: `entry ${label} is malformed: ${row}` });
    }
    const contentMatches = rowHash(row) === row.hash;
    if (row.seq !== expected || !contentMatches) return fail(diagnose(db, row, expected, contentMatches));
    if (!signatureValid(check, row)) {
      return fail({
        seq: row.seq,
        kind: 'bad_signature',
        message: `entry ${row.seq}: signature does not verify for author ${row.author}`,
      });
    }
    if (row.prevHash !== headHash) {
      return fail({
        seq: row.seq,
        kind: 'bad_link',
        message:
          row.seq === 1
            ? 'entry 1: prevHash is not the zero hash'
            : `entry ${row.seq}: prevHash does not match the hash of entry ${headSeq} (entry ${headSeq} was rewritten, or the chain was spliced)`,
      });
    }
    if (row.time < headTime) {
      return fail({
        seq: row.seq,
        kind: 'reordered',
        message: `entry ${row.seq}: time ${row.time} is earlier than entry ${headSeq}'s ${headTime}`,
      });
    }
    entries += 1;
    headSeq = row.seq;
    headHash = row.hash;
    headTime = row.time;
  }
  return { ok: true, entries, headSeq, headHash };
}

/**
 * Explains why `row` is not entry `expected` with intact contents. Slow paths (a scan of the log per call) are
 * fine here: they run once, on a log that has already failed.
 */
function diagnose(db: DatabaseSync, row: StoredRow, expected: number, contentMatches: boolean): VerifyProblem {
  if (contentMatches) {
    // A genuine entry `row.seq`, in the wrong place.
    if (row.seq < expected) {
      return { seq: row.seq, kind: 'reordered', message: `entry ${row.seq} appears after entry ${expected - 1}` };
    }
    const where = findStoredAt(db, expected, row.seq);
    if (where === null) {
      return {
        seq: expected,
        kind: 'dropped',
        message: `entry ${expected} is missing: entry ${expected - 1} is followed by entry ${row.seq}`,
      };
    }
    return {
      seq: expected,
      kind: 'reordered',
      message: `entry ${expected} is out of place: it is stored under seq ${where}`,
    };
  }
  const original = findOriginalSeq(db, row);
  if (original === null) {
    return { seq: row.seq, kind: 'edited', message: `entry ${row.seq}: contents do not match its hash (edited)` };
  }
  if (original === expected) {
    return { seq: row.seq, kind: 'edited', message: `entry ${expected} was renumbered to ${row.seq}` };
  }
  const where = findStoredAt(db, expected, row.seq);
  if (where === null) {
    return {
      seq: expected,
      kind: 'dropped',
      message: `entry ${expected} is missing: entry ${original} was renumbered to take its place`,
    };
  }
  return {
    seq: expected,
    kind: 'reordered',
    message: `entry ${expected} is out of place: seq ${row.seq} holds entry ${original}, entry ${expected} is stored under seq ${where}`,
  };
}

/** The stored seq of a row (other than `excludeSeq`) whose contents are a genuine entry `seq`, if any. */
function findStoredAt(db: DatabaseSync, seq: number, excludeSeq: number): number | null {
  for (const raw of db.prepare(`SELECT ${COLUMNS} FROM entries ORDER BY seq`).iterate()) {
    const row = parseRow(raw);
    if (typeof row === 'string' || row.seq === excludeSeq) continue;
    if (rowHash(row, seq) === row.hash) return row.seq;
  }
  return null;
}

/** The seq this row's contents were hashed under, searched outwards from its stored seq; null if none. */
function findOriginalSeq(db: DatabaseSync, row: StoredRow): number | null {
  const stats = db.prepare('SELECT count(*) AS n, max(seq) AS m FROM entries').get();
  const limit = Math.max(row.seq, Number(stats?.n ?? 0), Number(stats?.m ?? 0)) + 1;
  for (let d = 1; row.seq - d >= 1 || row.seq + d <= limit; d += 1) {
    if (row.seq - d >= 1 && rowHash(row, row.seq - d) === row.hash) return row.seq - d;
    if (row.seq + d <= limit && rowHash(row, row.seq + d) === row.hash) return row.seq + d;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// schema

function checkFormat(db: DatabaseSync, file: string): void {
  const tables = new Set(
    db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
      .all()
      .map((r) => r.name),
  );
  if (!tables.has('meta') || !tables.has('entries')) {
    throw new ChorusError('EVENTLOG_INVALID', `${file} is not a chorus event log`, { kind: 'usage' });
  }
  const format = db.prepare("SELECT value FROM meta WHERE key = 'format'").get()?.value;
  if (format !== FORMAT) {
    throw new ChorusError('EVENTLOG_INVALID', `${file}: unsupported event log format ${JSON.stringify(format)}`, {
      kind: 'usage',
    });
  }
}

function ensureSchema(db: DatabaseSync, file: string): void {
  const existing = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get();
  if (Number(existing?.n ?? 0) === 0) {
    db.exec(`
      BEGIN IMMEDIATE;
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
      CREATE TABLE IF NOT EXISTS entries (
        seq INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        type TEXT NOT NULL,
        data TEXT NOT NULL,
        author TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        signature TEXT NOT NULL
      ) STRICT;
      INSERT OR IGNORE INTO meta (key, value) VALUES ('format', '${FORMAT}');
      COMMIT;
    `);
  }
  checkFormat(db, file);
}

/**
 * The cheap integrity check run on open: the log starts at 1, and the last entry is well-formed, hashes to
 * itself, links to the entry before it and (if this signer wrote it) carries a valid signature. O(1) in log size.
 */
function checkTail(db: DatabaseSync, signer: LogSigner, file: string): void {
  const corrupt = (message: string): ChorusError =>
    new ChorusError('EVENTLOG_CORRUPT', `${file}: ${message}; run \`chorus log verify\` for details`);
  const raws = db.prepare(`SELECT ${COLUMNS} FROM entries ORDER BY seq DESC LIMIT 2`).all();
  const lastRaw = raws[0];
  if (lastRaw === undefined) return;
  const first = db.prepare('SELECT min(seq) AS s FROM entries').get()?.s;
  if (first !== 1) throw corrupt(`the log starts at seq ${String(first)}, not 1`);
  const last = parseRow(lastRaw);
  if (typeof last === 'string') throw corrupt(`last entry is malformed: ${last}`);
  if (rowHash(last) !== last.hash) throw corrupt(`last entry ${last.seq} does not match its hash`);
  if (last.author === signer.author && !signatureValid((_a, d, s) => signer.verify(d, s), last)) {
    throw corrupt(`last entry ${last.seq} has a bad signature`);
  }
  const prevRaw = raws[1];
  if (prevRaw === undefined) {
    if (last.seq !== 1 || last.prevHash !== ZERO_HASH) throw corrupt('first entry does not start the chain');
    return;
  }
  const prev = parseRow(prevRaw);
  if (typeof prev === 'string') throw corrupt(`entry before the last is malformed: ${prev}`);
  if (rowHash(prev) !== prev.hash) throw corrupt(`entry ${prev.seq} does not match its hash`);
  if (last.seq !== prev.seq + 1) throw corrupt(`entries ${prev.seq + 1}..${last.seq - 1} are missing`);
  if (last.prevHash !== prev.hash) throw corrupt(`last entry ${last.seq} does not link to entry ${prev.seq}`);
}

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
}

export class EventLog {
  readonly file: string;
  readonly #db: DatabaseSync;
  readonly #signer: LogSigner;
  readonly #stmt: Statements;
  readonly #wakers = new Set<() => void>();
  #closed = false;

  private constructor(db: DatabaseSync, file: string, signer: LogSigner) {
    this.#db = db;
    this.file = file;
    this.#signer = signer;
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
      // SQLite creates the -wal and -shm files with the database file's permissions (0600).
      const mode = db.prepare('PRAGMA journal_mode = WAL').get()?.journal_mode;
      if (mode !== 'wal')
        throw new ChorusError('EVENTLOG_OPEN_FAILED', `${path}: cannot enable WAL (got ${String(mode)})`);
      db.exec(`PRAGMA synchronous = ${options.sync === 'full' ? 'FULL' : 'NORMAL'}`);
      ensureSchema(db, path);
      checkTail(db, signer, path);
      return new EventLog(db, path, signer);
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
    try {
      db = new DatabaseSync(path, { readOnly: true, timeout: BUSY_TIMEOUT_MS });
      checkFormat(db, path);
    } catch (err) {
      if (err instanceof ChorusError) throw err;
      throw new ChorusError('EVENTLOG_OPEN_FAILED', `cannot open event log ${path}: ${String(err)}`, { cause: err });
    }
    const refuse = (): never => {
      throw new ChorusError('EVENTLOG_READ_ONLY', `event log ${path} is open read-only`);
    };
    return new EventLog(db, path, { author: 'read-only', sign: refuse, verify: () => false });
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
      checkFormat(db, path);
      return verifyChain(db, verify);
    } catch (err) {
      if (err instanceof ChorusError) throw err;
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
   * Appends several entries in one transaction (one commit instead of one per entry), in order; each
   * entry is still hashed, chained and signed on its own. All or none are written.
   */
  appendMany(items: readonly { type: LogType; data: unknown }[]): LogEntry[] {
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
    const entries: LogEntry[] = [];
    try {
      db.exec('BEGIN IMMEDIATE');
      const last = this.#stmt.last.get();
      let seq = last === undefined ? 0 : Number(last.seq);
      let prevHash = last === undefined ? ZERO_HASH : String(last.hash);
      let lastTime = typeof last?.time === 'string' ? last.time : '';
      for (const { type, dataJson } of prepared) {
        seq += 1;
        const now = new Date().toISOString();
        const time = lastTime > now ? lastTime : now;
        const hash = entryHash(seq, time, type, dataJson, author, prevHash);
        const sig = this.#signer.sign(Buffer.from(hash, 'hex'));
        if (!(sig instanceof Uint8Array) || sig.byteLength === 0) {
          throw new ChorusError('EVENTLOG_SIGN_FAILED', 'event log signer returned no signature');
        }
        const signature = Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength).toString('base64');
        this.#stmt.insert.run(seq, time, type, dataJson, author, prevHash, hash, signature);
        entries.push({ seq, time, type, data: JSON.parse(dataJson), author, prevHash, hash, signature });
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
    this.#wake();
    return entries;
  }

  /** Number of entries (= head seq: seqs run 1..head without gaps). */
  get size(): number {
    return this.head.seq;
  }

  /** The last entry's { seq, hash }; { 0, 64 zeros } when empty. Reads the file, so it sees other writers. */
  get head(): { seq: number; hash: string } {
    this.#assertOpen();
    const last = this.#stmt.last.get();
    return last === undefined ? { seq: 0, hash: ZERO_HASH } : { seq: Number(last.seq), hash: String(last.hash) };
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
    return this.#follow(Math.floor(fromSeq), signal, interval);
  }

  async *#follow(fromSeq: number, signal: AbortSignal, pollMs: number): AsyncGenerator<LogEntry> {
    let cursor = fromSeq;
    while (!signal.aborted && !this.#closed) {
      const batch = this.since(cursor, FOLLOW_BATCH);
      if (batch.length === 0) {
        await this.#waitForChange(signal, pollMs);
        continue;
      }
      for (const entry of batch) {
        if (signal.aborted || this.#closed) return;
        cursor = entry.seq;
        yield entry;
      }
    }
  }

  /** Resolves on the next in-process append, after `pollMs`, on abort, or on close — whichever comes first. */
  #waitForChange(signal: AbortSignal, pollMs: number): Promise<void> {
    return new Promise((resolveWait) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#wakers.delete(done);
        resolveWait();
      };
      const timer = setTimeout(done, pollMs);
      signal.addEventListener('abort', done, { once: true });
      this.#wakers.add(done);
    });
  }

  #wake(): void {
    for (const wake of [...this.#wakers]) wake();
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

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake();
    this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new ChorusError('EVENTLOG_CLOSED', `event log ${this.file} is closed`);
  }
}
