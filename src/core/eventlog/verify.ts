// Verification of the event log's chain, with a diagnosis of what broke it (edited, dropped, reordered,
// bad signature, bad link, malformed), and the cheap O(1) check of the log's tail run when it opens.
import type { DatabaseSync } from 'node:sqlite';
import { ChorusError } from '../errors.ts';
import {
  COLUMNS,
  FORMAT,
  ZERO_HASH,
  checkpointHash,
  logFormat,
  parseRow,
  readCheckpoint,
  rowHash,
  signatureValid,
} from './format.ts';
import type { StoredRow } from './format.ts';
import type { AuthorVerifier, Checkpoint, LogSigner, VerifyProblem, VerifyReport } from './types.ts';

/** Where a walk starts: the genesis (seq 0, the zero hash), or the checkpoint at the cut. */
export interface ChainAnchor {
  seq: number;
  hash: string;
  /** entries after it may not be older */
  time: string;
}

export const GENESIS: ChainAnchor = { seq: 0, hash: ZERO_HASH, time: '' };

interface WalkResult {
  entries: number;
  head: ChainAnchor;
  problem?: VerifyProblem;
}

/**
 * Walks the chain from `anchor` through entry `toSeq` (the end when omitted): every entry's hash matches its
 * contents, it links to the previous entry (or the anchor), seqs run on without gaps, times never go backwards,
 * and every entry is signed or, in a file of format 2, covered by the signature of a later entry by the same
 * author (its hash commits to every entry before it): the walk reads on past `toSeq` until one covers it, and an
 * unsigned tail is a bad_signature. Stops at the first problem; `entries`/`head` count only covered entries.
 */
export function walkChain(db: DatabaseSync, check: AuthorVerifier, anchor: ChainAnchor, toSeq?: number): WalkResult {
  const unsignedAllowed = logFormat(db) === FORMAT;
  let entries = 0;
  let head = anchor;
  /** the last entry a signature covers, and how many entries up to it */
  let covered = { entries, head };
  /** first entry of a stretch waiting for a signature, and its author */
  let pending: { seq: number; author: string } | undefined;
  const fail = (problem: VerifyProblem): WalkResult => ({ ...covered, problem });
  const end = toSeq ?? Number.MAX_SAFE_INTEGER;
  const rows = db.prepare(`SELECT ${COLUMNS} FROM entries WHERE seq > ? ORDER BY seq`).iterate(anchor.seq);
  for (const raw of rows) {
    if (head.seq >= end && pending === undefined) break;
    const expected = head.seq + 1;
    const row = parseRow(raw);
    if (typeof row === 'string') {
      const label = typeof raw.seq === 'number' && Number.isSafeInteger(raw.seq) ? raw.seq : expected;
      return fail({ seq: label, kind: 'malformed', message: `entry ${label} is malformed: ${row}` });
    }
    const contentMatches = rowHash(row) === row.hash;
    if (row.seq !== expected || !contentMatches) return fail(diagnose(db, row, anchor, expected, contentMatches));
    if (row.signature === '') {
      if (!unsignedAllowed) {
        return fail({ seq: row.seq, kind: 'bad_signature', message: `entry ${row.seq} carries no signature` });
      }
      if (pending !== undefined && pending.author !== row.author) return fail(mixedAuthors(pending, row));
      pending ??= { seq: row.seq, author: row.author };
    } else if (!signatureValid(check, row.author, row.hash, row.signature)) {
      return fail({
        seq: row.seq,
        kind: 'bad_signature',
        message: `entry ${row.seq}: signature does not verify for author ${row.author}`,
      });
    } else if (pending !== undefined && pending.author !== row.author) {
      return fail(mixedAuthors(pending, row));
    }
    if (row.prevHash !== head.hash) {
      let message = `entry ${row.seq}: prevHash does not match the hash of entry ${head.seq} (entry ${head.seq} was rewritten, or the chain was spliced)`;
      if (row.seq === 1) message = 'entry 1: prevHash is not the zero hash';
      else if (head === anchor && anchor.seq > 0) {
        message = `entry ${row.seq}: prevHash does not match the checkpoint's hash of entry ${anchor.seq}`;
      }
      return fail({ seq: row.seq, kind: 'bad_link', message });
    }
    if (row.time < head.time) {
      return fail({
        seq: row.seq,
        kind: 'reordered',
        message: `entry ${row.seq}: time ${row.time} is earlier than entry ${head.seq}'s ${head.time}`,
      });
    }
    entries += 1;
    head = { seq: row.seq, hash: row.hash, time: row.time };
    if (row.signature !== '') {
      pending = undefined;
      covered = { entries, head };
    }
  }
  if (pending !== undefined) {
    const stretch =
      pending.seq === head.seq ? `entry ${head.seq} carries` : `entries ${pending.seq}..${head.seq} carry`;
    return fail({
      seq: pending.seq,
      kind: 'bad_signature',
      message: `${stretch} no signature, and no signed entry after them covers them`,
    });
  }
  return covered;
}

function mixedAuthors(pending: { seq: number; author: string }, row: StoredRow): VerifyProblem {
  return {
    seq: pending.seq,
    kind: 'bad_signature',
    message: `entry ${pending.seq} carries no signature and the next entry (${row.seq}) is by another author`,
  };
}

/**
 * The anchor of the whole log: the checkpoint when retention cut it (checked: well-formed, signed, and no entry
 * kept at or before it), else the genesis. A VerifyProblem when the checkpoint cannot be trusted.
 */
export function chainAnchor(
  db: DatabaseSync,
  check: AuthorVerifier,
): { anchor: ChainAnchor; checkpoint?: Checkpoint } | VerifyProblem {
  const cp = readCheckpoint(db);
  if (cp === undefined) return { anchor: GENESIS };
  if (typeof cp === 'string') return { seq: 0, kind: 'bad_checkpoint', message: `the checkpoint is malformed: ${cp}` };
  if (!signatureValid(check, cp.author, checkpointHash(cp), cp.signature)) {
    return {
      seq: cp.seq,
      kind: 'bad_checkpoint',
      message: `the checkpoint at entry ${cp.seq}: signature does not verify for author ${cp.author}`,
    };
  }
  const first = db.prepare('SELECT min(seq) AS s FROM entries').get()?.s;
  if (typeof first === 'number' && first <= cp.seq) {
    return {
      seq: first,
      kind: 'malformed',
      message: `entry ${first} lies at or before the checkpoint at entry ${cp.seq} (entries up to it were removed)`,
    };
  }
  return { anchor: { seq: cp.seq, hash: cp.hash, time: cp.entryTime }, checkpoint: cp };
}

/**
 * Verifies the whole log. What it proves: the checkpoint (when retention cut the log) is signed, and from it
 * every kept entry is intact, signed, linked, in order and none is missing (see walkChain). What it cannot
 * prove: that the tail was not cut off — a log truncated after entry N is a perfectly valid chain of N entries.
 * Detecting truncation needs the head ({ seq, hash }) anchored somewhere else (a peer, a published decision, an
 * operator's note) and compared with this report's headSeq/headHash.
 */
export function verifyChain(db: DatabaseSync, check: AuthorVerifier): VerifyReport {
  const start = chainAnchor(db, check);
  if ('kind' in start) {
    return { ok: false, from: 1, entries: 0, headSeq: 0, headHash: ZERO_HASH, problem: start };
  }
  const { anchor, checkpoint } = start;
  const walked = walkChain(db, check, anchor);
  const report: VerifyReport = {
    ok: walked.problem === undefined,
    from: anchor.seq + 1,
    entries: walked.entries,
    headSeq: walked.head.seq,
    headHash: walked.head.hash,
  };
  if (checkpoint) {
    const { signature: _signature, ...shown } = checkpoint;
    report.checkpoint = shown;
  }
  if (walked.problem) report.problem = walked.problem;
  return report;
}

/** The report for a file SQLite itself cannot read (structural damage: no entry can be trusted). */
export function damagedReport(file: string, reason: string): VerifyReport {
  return {
    ok: false,
    from: 1,
    entries: 0,
    headSeq: 0,
    headHash: ZERO_HASH,
    problem: { seq: 0, kind: 'damaged', message: `${file} is damaged: ${reason}` },
  };
}

/**
 * Explains why `row` is not entry `expected` with intact contents. Slow paths (a scan of the log per call) are
 * fine here: they run once, on a log that has already failed.
 */
function diagnose(
  db: DatabaseSync,
  row: StoredRow,
  anchor: ChainAnchor,
  expected: number,
  contentMatches: boolean,
): VerifyProblem {
  if (contentMatches) {
    // A genuine entry `row.seq`, in the wrong place.
    if (row.seq < expected) {
      return { seq: row.seq, kind: 'reordered', message: `entry ${row.seq} appears after entry ${expected - 1}` };
    }
    const where = findStoredAt(db, expected, row.seq);
    if (where === null && expected === anchor.seq + 1) {
      const before =
        anchor.seq === 0
          ? 'and no checkpoint covers the entries before it'
          : `but the checkpoint is at entry ${anchor.seq}`;
      return {
        seq: expected,
        kind: 'dropped',
        message: `entries ${expected}..${row.seq - 1} are missing: the log starts at entry ${row.seq} ${before}`,
      };
    }
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

/**
 * The cheap integrity check run on open: the log starts at 1 (or right after its checkpoint), and the last
 * entry is well-formed, hashes to itself, links to the entry before it (or the checkpoint), is signed and, if
 * this signer wrote it, its signature is valid. O(1) in log size.
 */
export function checkTail(db: DatabaseSync, signer: LogSigner, file: string): void {
  const corrupt = (message: string): ChorusError =>
    new ChorusError('EVENTLOG_CORRUPT', `${file}: ${message}; run \`chorus log verify\` for details`);
  const raws = db.prepare(`SELECT ${COLUMNS} FROM entries ORDER BY seq DESC LIMIT 2`).all();
  const lastRaw = raws[0];
  if (lastRaw === undefined) return;
  const cp = readCheckpoint(db);
  if (typeof cp === 'string') throw corrupt(`the checkpoint is malformed: ${cp}`);
  const anchor: ChainAnchor = cp ? { seq: cp.seq, hash: cp.hash, time: cp.entryTime } : GENESIS;
  const first = db.prepare('SELECT min(seq) AS s FROM entries').get()?.s;
  if (first !== anchor.seq + 1) {
    throw corrupt(
      `the log starts at seq ${String(first)}, not ${anchor.seq + 1}${cp ? ' (after its checkpoint)' : ''}`,
    );
  }
  const last = parseRow(lastRaw);
  if (typeof last === 'string') throw corrupt(`last entry is malformed: ${last}`);
  if (rowHash(last) !== last.hash) throw corrupt(`last entry ${last.seq} does not match its hash`);
  // every append ends with a signed entry (the last of its batch), whatever the format
  if (last.signature === '') throw corrupt(`last entry ${last.seq} carries no signature`);
  const own = (_a: string, d: Uint8Array, s: Uint8Array): boolean => signer.verify(d, s);
  if (last.author === signer.author && !signatureValid(own, last.author, last.hash, last.signature)) {
    throw corrupt(`last entry ${last.seq} has a bad signature`);
  }
  const prevRaw = raws[1];
  if (prevRaw === undefined) {
    if (last.seq !== anchor.seq + 1 || last.prevHash !== anchor.hash) {
      throw corrupt(cp ? 'first entry does not link to the checkpoint' : 'first entry does not start the chain');
    }
    return;
  }
  const prev = parseRow(prevRaw);
  if (typeof prev === 'string') throw corrupt(`entry before the last is malformed: ${prev}`);
  if (rowHash(prev) !== prev.hash) throw corrupt(`entry ${prev.seq} does not match its hash`);
  if (last.seq !== prev.seq + 1) throw corrupt(`entries ${prev.seq + 1}..${last.seq - 1} are missing`);
  if (last.prevHash !== prev.hash) throw corrupt(`last entry ${last.seq} does not link to entry ${prev.seq}`);
}
