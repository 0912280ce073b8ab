// Integrity of the files a node keeps its state in (SQLite databases and JSON state files): which one is
// damaged and why, named with the fix, and moving a damaged store aside (`chorus node --repair`) where starting
// fresh is safe. Callers list the stores; nothing here knows a feature, and nothing touches a file not listed.
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { ChorusError, describeError } from './errors.ts';

/** SQLite's primary result codes for a damaged file: SQLITE_CORRUPT and SQLITE_NOTADB. */
const SQLITE_DAMAGE_CODES = new Set([11, 26]);

/** A store that is damaged: no restart fixes it, an operator must act (exit 4). */
export class StoreDamagedError extends ChorusError {
  readonly file: string;
  constructor(file: string, message: string, cause?: unknown) {
    super('STORE_DAMAGED', message, { kind: 'fatal', cause });
    this.name = 'StoreDamagedError';
    this.file = file;
  }
}

/** The reason, when `err` is SQLite saying the file is damaged (malformed, or not a database); else undefined. */
export function sqliteDamage(err: unknown): string | undefined {
  const e = err as { errcode?: unknown; errstr?: unknown; message?: unknown } | null;
  if (typeof e?.errcode !== 'number' || !SQLITE_DAMAGE_CODES.has(e.errcode & 0xff)) return undefined;
  return typeof e.errstr === 'string' ? e.errstr : describeError(err);
}

/** SQLite's quick_check of an open database: undefined when intact, else the first problem it names. */
export function quickCheck(db: DatabaseSync): string | undefined {
  try {
    const rows = db.prepare('PRAGMA quick_check(1)').all();
    const first = rows[0] ? String(Object.values(rows[0])[0]) : 'ok';
    if (first === 'ok') return undefined;
    // "*** in database main ***\nTree 2 page 151: btreeInitPage() returns error code 11"
    const detail = first
      .split('\n')
      .filter((l) => !l.startsWith('***'))
      .join('; ');
    return `database disk image is malformed (${detail || first})`;
  } catch (err) {
    const reason = sqliteDamage(err);
    if (reason !== undefined) return reason;
    throw err;
  }
}

/** Why a SQLite file is damaged, or undefined when it is intact or absent. Opens it read-only. */
export function sqliteFileDamage(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(file, { readOnly: true, timeout: 5000 });
    return quickCheck(db);
  } catch (err) {
    const reason = sqliteDamage(err);
    if (reason !== undefined) return reason;
    throw new ChorusError('STORE_UNREADABLE', `cannot read ${file}: ${describeError(err)}`, { cause: err });
  } finally {
    db?.close();
  }
}

/** Why a JSON file is damaged (not JSON), or undefined when it parses or is absent. */
export function jsonFileDamage(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ChorusError('STORE_UNREADABLE', `cannot read ${file}: ${describeError(err)}`, { cause: err });
  }
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    return text.trim() === '' ? 'empty file, not JSON' : `not JSON (${describeError(err)})`;
  }
}

export interface StoreSpec {
  file: string;
  format: 'sqlite' | 'json';
  /**
   * Safe to move aside and start fresh: what happens then (e.g. "the DHT refills from replicas"). A string
   * `fix` instead says what the operator must do; --repair never moves such a store.
   */
  repair: { fresh: string } | { fix: string };
}

export interface StoreRepair {
  file: string;
  reason: string;
  /** Where the damaged file (and its -wal/-shm) went. */
  movedTo: string[];
  /** What happens now that it starts fresh. */
  then: string;
}

/** `2026-11-30T14:59:23.123Z` → `20261130T145923Z`. */
function stamp(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Moves a store (and a SQLite store's -wal and -shm) aside with a `.damaged-<time>` suffix. */
function moveAside(spec: StoreSpec, now: Date): string[] {
  const suffix = `.damaged-${stamp(now)}`;
  const parts = spec.format === 'sqlite' ? [spec.file, `${spec.file}-wal`, `${spec.file}-shm`] : [spec.file];
  const moved: string[] = [];
  for (const part of parts) {
    if (!existsSync(part)) continue;
    try {
      renameSync(part, `${part}${suffix}`);
    } catch (err) {
      throw new StoreDamagedError(spec.file, `cannot move ${part} aside: ${describeError(err)}`, err);
    }
    moved.push(`${part}${suffix}`);
  }
  return moved;
}

/**
 * Checks every listed store (SQLite: quick_check; JSON: parses). A damaged store throws StoreDamagedError naming
 * the file and the fix — unless `repair` is set and starting fresh is safe for it: then it is moved aside and
 * reported. Returns what was repaired (empty when every store is intact).
 */
export function checkStores(stores: StoreSpec[], opts: { repair: boolean; now?: Date }): StoreRepair[] {
  const repaired: StoreRepair[] = [];
  for (const spec of stores) {
    const reason = spec.format === 'sqlite' ? sqliteFileDamage(spec.file) : jsonFileDamage(spec.file);
    if (reason === undefined) continue;
    if (!('fresh' in spec.repair)) {
      throw new StoreDamagedError(spec.file, `${spec.file} is damaged (${reason}): ${spec.repair.fix}`);
    }
    if (!opts.repair) {
      throw new StoreDamagedError(
        spec.file,
        `${spec.file} is damaged (${reason}): run \`chorus node --repair\` to move it aside and start fresh (${spec.repair.fresh}), or move it aside yourself`,
      );
    }
    repaired.push({
      file: spec.file,
      reason,
      movedTo: moveAside(spec, opts.now ?? new Date()),
      then: spec.repair.fresh,
    });
  }
  return repaired;
}
