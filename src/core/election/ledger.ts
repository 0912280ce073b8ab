// What this node holds of the leader-only records it accepted: every SLURP context record and the SHHH
// policy records, kept in a JSON file in the data dir so a restarted node keeps them. The newest SHHH
// policy (by term, then sequence number) is the one in force.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RecordFields, RecordKind, SignedRecord } from './records.ts';

export const LEDGER_FILE = 'leader-records.json';
const MAX_RECORDS = 10_000;

export interface HeldRecord {
  signed: SignedRecord;
  fields: RecordFields;
}

const idOf = (f: RecordFields): string => `${f.kind}:${f.term}:${f.seq}`;
export const newer = (a: RecordFields, b: RecordFields | undefined): boolean =>
  !b || a.term > b.term || (a.term === b.term && a.seq > b.seq);

export class LeaderLedger {
  private readonly file: string | undefined;
  private readonly held = new Map<string, HeldRecord>();
  private newest: readonly [number, number] = [0, 0];

  constructor(dataDir?: string) {
    this.file = dataDir ? join(dataDir, LEDGER_FILE) : undefined;
  }

  /** Loads the held records; each is parsed again from its signed body. */
  load(): void {
    if (!this.file) return;
    let list: SignedRecord[];
    try {
      list = JSON.parse(readFileSync(this.file, 'utf8')) as SignedRecord[];
    } catch {
      return;
    }
    for (const signed of Array.isArray(list) ? list : []) {
      try {
        const fields = JSON.parse(signed.body) as RecordFields;
        this.held.set(idOf(fields), { signed, fields });
        this.note(fields);
      } catch {
        // skip a damaged entry
      }
    }
  }

  /** Adds a record (written to the file unless `save` is false: call save() after a batch); false when already held. */
  add(signed: SignedRecord, fields: RecordFields, save = true): boolean {
    const id = idOf(fields);
    if (this.held.has(id)) return false;
    this.held.set(id, { signed, fields });
    this.note(fields);
    if (this.held.size > MAX_RECORDS) {
      const oldest = this.sorted().find((r) => r.fields.kind === 'slurp-context');
      if (oldest) this.held.delete(idOf(oldest.fields));
    }
    if (save) this.save();
    return true;
  }

  private note(f: RecordFields): void {
    const [term, seq] = this.newest;
    if (f.term > term || (f.term === term && f.seq > seq)) this.newest = [f.term, f.seq];
  }

  /** [term, seq] of the newest record held ([0, 0] when none). */
  position(): readonly [number, number] {
    return this.newest;
  }

  save(): void {
    if (!this.file) return;
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.all()), { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  /** Oldest first, by term then sequence. */
  sorted(kind?: RecordKind): HeldRecord[] {
    return [...this.held.values()]
      .filter((r) => !kind || r.fields.kind === kind)
      .sort((a, b) => a.fields.term - b.fields.term || a.fields.seq - b.fields.seq);
  }

  latest(kind: RecordKind): HeldRecord | undefined {
    return this.sorted(kind).at(-1);
  }

  /** The newest records (oldest first) whose bodies and signatures fit in about `maxBytes`. */
  newestRecords(maxBytes: number): SignedRecord[] {
    const out: SignedRecord[] = [];
    let bytes = 0;
    for (const r of this.sorted().reverse()) {
      bytes += r.signed.body.length + r.signed.sig.length + 32;
      if (bytes > maxBytes && out.length > 0) break;
      out.push(r.signed);
    }
    return out.reverse();
  }

  all(): SignedRecord[] {
    return this.sorted().map((r) => r.signed);
  }
}
