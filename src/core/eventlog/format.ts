// The event log's file format: the SQLite schema (meta, entries, checkpoint), the entry and checkpoint hashes,
// and the parsing and validation of stored rows and of the retention checkpoint. Pure functions over a DatabaseSync.
import { createHash } from 'node:crypto';
import type { DatabaseSync, SQLOutputValue } from 'node:sqlite';
import { ChorusError } from '../errors.ts';
import { canonicalJson } from './canonical.ts';
import { isLogType } from './types.ts';
import type { AuthorVerifier, Checkpoint, LogEntry, LogType } from './types.ts';

/** prevHash of entry 1. */
export const ZERO_HASH = '0'.repeat(64);

/**
 * The format of new files: entries appended together (one appendMany or appendAll) carry one signature, on the
 * last of them; the others have an empty signature and are covered by it through the hash chain (the signed hash
 * commits to every entry before it). `log verify` still detects any edit, deletion or reordering, and entries no
 * signature covers (an unsigned tail).
 */
export const FORMAT = 'chorus-eventlog/2';
/** The first format: every entry signed on its own. Such files still verify, and are appended to as before. */
export const FORMAT_V1 = 'chorus-eventlog/1';
export type LogFormat = typeof FORMAT | typeof FORMAT_V1;
const CHECKPOINT_FORMAT = 'chorus-eventlog-checkpoint/1';
export const BUSY_TIMEOUT_MS = 5000;
export const COLUMNS = 'seq, time, type, data, author, prev_hash, hash, signature';

const HEX64 = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

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

export interface StoredRow {
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

export type RawRow = Record<string, SQLOutputValue>;

const isTime = (t: unknown): t is string => typeof t === 'string' && ISO_TIME.test(t) && !Number.isNaN(Date.parse(t));

/** A stored row, validated; a string says why it is malformed. */
export function parseRow(raw: RawRow): StoredRow | string {
  const { seq, time, type, data, author, prev_hash: prevHash, hash, signature } = raw;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return 'seq is not a positive integer';
  if (!isTime(time)) return 'time is not an ISO-8601 UTC timestamp';
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
  // empty: covered by the signature of a later entry of the same batch (format 2; see walkChain)
  if (typeof signature !== 'string' || (signature !== '' && !BASE64.test(signature))) return 'signature is not base64';
  return { seq, time, type, data: parsed, dataJson: canonicalJson(parsed), author, prevHash, hash, signature };
}

export function rowHash(row: StoredRow, seq = row.seq): string {
  return entryHash(seq, row.time, row.type, row.dataJson, row.author, row.prevHash);
}

export function toEntry(row: StoredRow): LogEntry {
  const { seq, time, type, data, author, prevHash, hash, signature } = row;
  return { seq, time, type, data, author, prevHash, hash, signature };
}

export function rowToEntry(raw: RawRow): LogEntry {
  const row = parseRow(raw);
  if (typeof row === 'string') {
    throw new ChorusError('EVENTLOG_CORRUPT', `event log entry ${String(raw.seq)} is malformed: ${row}`);
  }
  return toEntry(row);
}

/** Whether `signature` (base64) verifies over the raw bytes of `hash` (hex) for `author`; never throws. */
export function signatureValid(check: AuthorVerifier, author: string, hash: string, signature: string): boolean {
  try {
    return check(author, Buffer.from(hash, 'hex'), Buffer.from(signature, 'base64')) === true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the retention checkpoint

/**
 * sha256 (hex) over canonicalJson({ author, entryHash, entryTime, format, seq, time }): what the checkpoint's
 * signature covers. The format string keeps a checkpoint from ever verifying as an entry, or the reverse.
 */
export function checkpointHash(cp: Omit<Checkpoint, 'signature'>): string {
  return createHash('sha256')
    .update(
      canonicalJson({
        author: cp.author,
        entryHash: cp.hash,
        entryTime: cp.entryTime,
        format: CHECKPOINT_FORMAT,
        seq: cp.seq,
        time: cp.time,
      }),
      'utf8',
    )
    .digest('hex');
}

const CHECKPOINT_COLUMNS = 'seq, hash, entry_time, time, author, signature';

/**
 * The checkpoint at the cut, if entries were ever removed: undefined when there is none (or the file predates
 * retention and has no checkpoint table), a string when the stored row is malformed.
 */
export function readCheckpoint(db: DatabaseSync): Checkpoint | string | undefined {
  if (!tableNames(db).has('checkpoint')) return undefined;
  const rows = db.prepare(`SELECT ${CHECKPOINT_COLUMNS} FROM checkpoint`).all();
  if (rows.length === 0) return undefined;
  if (rows.length > 1) return `${rows.length} checkpoints (there is only ever one)`;
  const { seq, hash, entry_time: entryTime, time, author, signature } = rows[0] as RawRow;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return 'seq is not a positive integer';
  if (typeof hash !== 'string' || !HEX64.test(hash)) return 'hash is not a hex sha256';
  if (!isTime(entryTime) || !isTime(time)) return 'a time is not an ISO-8601 UTC timestamp';
  if (typeof author !== 'string' || author.length === 0) return 'author is empty';
  if (typeof signature !== 'string' || !BASE64.test(signature)) return 'signature is not base64';
  return { seq, hash, entryTime, time, author, signature };
}

/** Replaces the checkpoint (inside the caller's transaction). */
export function writeCheckpoint(db: DatabaseSync, cp: Checkpoint): void {
  db.exec('DELETE FROM checkpoint');
  db.prepare(`INSERT INTO checkpoint (${CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`).run(
    cp.seq,
    cp.hash,
    cp.entryTime,
    cp.time,
    cp.author,
    cp.signature,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// schema

export function tableNames(db: DatabaseSync): Set<string> {
  return new Set(
    db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
      .all()
      .map((r) => String(r.name)),
  );
}

/** The file's format (checked: a chorus event log of a format this build reads). */
export function checkFormat(db: DatabaseSync, file: string): LogFormat {
  const tables = tableNames(db);
  if (!tables.has('meta') || !tables.has('entries')) {
    throw new ChorusError('EVENTLOG_INVALID', `${file} is not a chorus event log`, { kind: 'usage' });
  }
  const format = logFormat(db);
  if (format === undefined) {
    const found = db.prepare("SELECT value FROM meta WHERE key = 'format'").get()?.value;
    throw new ChorusError('EVENTLOG_INVALID', `${file}: unsupported event log format ${JSON.stringify(found)}`, {
      kind: 'usage',
    });
  }
  return format;
}

/** The format named in the file's meta table; undefined when it is none this build knows. */
export function logFormat(db: DatabaseSync): LogFormat | undefined {
  const format = db.prepare("SELECT value FROM meta WHERE key = 'format'").get()?.value;
  return format === FORMAT || format === FORMAT_V1 ? format : undefined;
}

/**
 * Settings only a new, empty file takes (run before anything else, even the WAL switch): incremental auto-vacuum,
 * so compaction can give freed pages back to the file system.
 */
export function prepareNewFile(db: DatabaseSync): void {
  const existing = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get();
  if (Number(existing?.n ?? 0) === 0) db.exec('PRAGMA auto_vacuum = INCREMENTAL');
}

/** Creates the tables of a new file (format FORMAT); returns the file's format. */
export function ensureSchema(db: DatabaseSync, file: string): LogFormat {
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
  const format = checkFormat(db, file);
  // added with retention; logs written before it get the (empty) table when a writer opens them
  db.exec(`
    CREATE TABLE IF NOT EXISTS checkpoint (
      seq INTEGER PRIMARY KEY,
      hash TEXT NOT NULL,
      entry_time TEXT NOT NULL,
      time TEXT NOT NULL,
      author TEXT NOT NULL,
      signature TEXT NOT NULL
    ) STRICT;
  `);
  return format;
}
