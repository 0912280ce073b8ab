// The leader-only paths: SLURP context writes and SHHH policy changes. Only the leader proposes them;
// they are entries of the consensus log ("records"), so a write is acknowledged once a majority of voters
// hold it, and every node applies the same records in the same order: a SHHH policy replaces the
// Redactor's extra rules, each record is logged in the event log. Records kept by an earlier version in
// leader-records.json are imported into the log by the first leader that finds the log without them.
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { redactionRuleSchema, type RedactionRuleConfig } from '../config/schema.ts';
import { DATA_FILES } from '../datadir.ts';
import { ChorusError, describeError, UsageError } from '../errors.ts';
import { compileRules } from '../shhh/configured.ts';
import type { ConsensusLog, LogEntry, StateMachine } from './consensus-log.ts';
import type { Raft } from './raft.ts';
import { NotLeaderError } from './errors.ts';
import type { ElectionServiceOptions } from './options.ts';

export const RECORD_KINDS = ['slurp-context', 'shhh-policy'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];
/** The file an earlier version kept leader-only records in (imported once, then renamed). */
export const LEGACY_LEDGER_FILE = DATA_FILES.legacyLeaderRecords;
/** Most SLURP context records kept (the oldest go first). */
const MAX_CONTEXTS = 10_000;

export interface RecordFields {
  kind: RecordKind;
  term: number;
  leader: string;
  /** The record's index in the consensus log. */
  seq: number;
  issuedAt: string;
  payload: unknown;
}

export interface ContextEntry {
  key: string;
  content: unknown;
  term: number;
  leader: string;
  seq: number;
  issuedAt: string;
}

export interface PolicyView {
  rules: RedactionRuleConfig[];
  source: 'config' | 'leader';
  term?: number;
  leader?: string;
  seq?: number;
  issuedAt?: string;
}

export interface ProposeResult {
  kind: RecordKind;
  term: number;
  leader: string;
  seq: number;
  issuedAt: string;
  /** Voters (this leader included) holding the record when it committed, of how many. */
  acceptedBy: number;
  voters: number;
  committed: boolean;
}

const rulesSchema = z.array(redactionRuleSchema);
/** How long a leader-only write may wait for its majority. */
const PROPOSE_TIMEOUT_MS = 10_000;

/** Validates a SHHH policy (a list of extra redaction rules). */
export function parsePolicy(value: unknown): RedactionRuleConfig[] {
  const rules = (value as { rules?: unknown } | null)?.rules ?? value;
  const parsed = rulesSchema.safeParse(rules);
  if (!parsed.success) throw new UsageError(`invalid SHHH policy: ${parsed.error.issues[0]?.message ?? 'bad rules'}`);
  try {
    compileRules(parsed.data, (_i, name) => `rule ${name}`); // the linear-time engine every node will run
  } catch (err) {
    throw new UsageError(`invalid SHHH policy: ${describeError(err)}`);
  }
  return parsed.data;
}

/** What a "records" log entry carries. */
interface RecordEntry {
  kind?: RecordKind;
  leader?: string;
  issuedAt?: string;
  payload?: unknown;
  /** An import of an earlier version's records (each with its original fields). */
  imported?: RecordFields[];
}

export class LeaderPaths implements StateMachine {
  private readonly opts: ElectionServiceOptions;
  private readonly raft: Raft;
  private readonly log: ConsensusLog;
  private readonly self: string;
  private readonly configRules: RedactionRuleConfig[];
  private contextsHeld: RecordFields[] = [];
  private policyRecord: RecordFields | undefined;
  private importedLegacy = false;

  constructor(opts: ElectionServiceOptions, raft: Raft, log: ConsensusLog, configRules: RedactionRuleConfig[]) {
    this.opts = opts;
    this.raft = raft;
    this.log = log;
    this.self = raft.id;
    this.configRules = configRules;
    log.register('records', this);
  }

  /** Imports an earlier version's records when this node leads a log that holds none. */
  start(): void {
    this.raft.on('leader', ({ leader }) => {
      if (leader === this.self) void this.importLegacy();
    });
  }

  // ---- the state machine ------------------------------------------------------------------------------

  apply(entry: LogEntry): unknown {
    const e = entry.data as RecordEntry | null;
    if (!e || typeof e !== 'object') return undefined;
    if (Array.isArray(e.imported)) {
      for (const f of e.imported) this.keep(f, 'import');
      this.importedLegacy = true;
      this.renameLegacy();
      return { imported: e.imported.length };
    }
    if (!e.kind || !(RECORD_KINDS as readonly string[]).includes(e.kind)) return undefined;
    const fields: RecordFields = {
      kind: e.kind,
      term: entry.term,
      leader: typeof e.leader === 'string' ? e.leader : '',
      seq: entry.index,
      issuedAt: typeof e.issuedAt === 'string' ? e.issuedAt : '',
      payload: e.payload,
    };
    this.keep(fields, 'leader');
    return fields;
  }

  private keep(fields: RecordFields, via: 'leader' | 'import'): void {
    if (fields.kind === 'slurp-context') {
      this.contextsHeld.push(fields);
      if (this.contextsHeld.length > MAX_CONTEXTS) this.contextsHeld.shift();
    } else {
      this.policyRecord = fields;
      this.applyPolicy();
    }
    const summary =
      fields.kind === 'slurp-context'
        ? { kind: 'context', key: (fields.payload as { key?: unknown })?.key }
        : { kind: 'shhh_policy', rules: (fields.payload as { rules?: unknown[] })?.rules?.length };
    this.opts.recorder?.record('slurp_event', {
      ...summary,
      term: fields.term,
      leader: fields.leader,
      seq: fields.seq,
      via,
    });
  }

  snapshot(): unknown {
    return { contexts: this.contextsHeld, policy: this.policyRecord ?? null, imported: this.importedLegacy };
  }

  restore(state: unknown): void {
    const s = state as { contexts?: RecordFields[]; policy?: RecordFields | null; imported?: boolean } | undefined;
    this.contextsHeld = Array.isArray(s?.contexts) ? s.contexts : [];
    this.policyRecord = s?.policy ?? undefined;
    this.importedLegacy = s?.imported === true;
    this.applyPolicy();
  }

  private applyPolicy(): void {
    if (!this.opts.redactor) return;
    if (!this.policyRecord) return;
    try {
      this.opts.redactor.setPolicyRules(parsePolicy(this.policyRecord.payload));
    } catch (err) {
      this.opts.logger.warn('ignored an invalid SHHH policy record', { error: describeError(err) });
    }
  }

  // ---- the earlier version's ledger ---------------------------------------------------------------------

  private legacyFile(): string {
    return join(this.opts.dataDir, LEGACY_LEDGER_FILE);
  }

  private renameLegacy(): void {
    const file = this.legacyFile();
    if (existsSync(file)) renameSync(file, `${file}.imported`);
  }

  private async importLegacy(): Promise<void> {
    if (this.importedLegacy || this.contextsHeld.length > 0 || this.policyRecord) return;
    let list: { body?: string }[];
    try {
      list = JSON.parse(readFileSync(this.legacyFile(), 'utf8')) as { body?: string }[];
    } catch {
      return; // none, or unreadable: nothing to import
    }
    const imported: RecordFields[] = [];
    for (const signed of Array.isArray(list) ? list : []) {
      try {
        const f = JSON.parse(String(signed.body)) as RecordFields;
        if ((RECORD_KINDS as readonly string[]).includes(f.kind)) imported.push(f);
      } catch {
        // a damaged entry is skipped
      }
    }
    if (imported.length === 0) return;
    imported.sort((a, b) => a.term - b.term || a.seq - b.seq);
    try {
      await this.log.propose('records', { imported }, AbortSignal.timeout(PROPOSE_TIMEOUT_MS));
      this.opts.logger.info('imported leader-only records of an earlier version', { records: imported.length });
    } catch (err) {
      this.opts.logger.warn('could not import leader-only records of an earlier version', {
        error: describeError(err),
      });
    }
  }

  // ---- leader-only writes -----------------------------------------------------------------------------

  /** Leader only: proposes a record; resolves once a majority of voters hold it. */
  async propose(kind: RecordKind, payload: unknown): Promise<ProposeResult> {
    if (this.raft.state !== 'leader' || !this.log.leading) {
      const leader = this.raft.leader;
      throw new NotLeaderError(leader === this.self ? undefined : leader);
    }
    const term = this.raft.term;
    const issuedAt = new Date().toISOString();
    const fields = (await this.log.propose(
      'records',
      { kind, leader: this.self, issuedAt, payload },
      AbortSignal.timeout(PROPOSE_TIMEOUT_MS),
    )) as RecordFields | undefined;
    if (!fields) throw new ChorusError('NOT_COMMITTED', 'the record was not applied');
    const voters = this.raft.voters ?? [];
    return {
      kind,
      term,
      leader: this.self,
      seq: fields.seq,
      issuedAt,
      acceptedBy: this.log.heldBy(fields.seq, voters, this.self),
      voters: voters.length,
      committed: true,
    };
  }

  async putContext(key: string, content: unknown): Promise<ProposeResult> {
    if (typeof key !== 'string' || key === '' || key.length > 512)
      throw new UsageError('a context needs a key (1–512 characters)');
    return this.propose('slurp-context', { key, content });
  }

  async setPolicy(value: unknown): Promise<ProposeResult> {
    return this.propose('shhh-policy', { rules: parsePolicy(value) });
  }

  contexts(key?: string): ContextEntry[] {
    return this.contextsHeld
      .map((fields) => {
        const p = fields.payload as { key: string; content: unknown };
        return {
          key: p.key,
          content: p.content,
          term: fields.term,
          leader: fields.leader,
          seq: fields.seq,
          issuedAt: fields.issuedAt,
        };
      })
      .filter((c) => key === undefined || c.key === key);
  }

  policy(): PolicyView {
    const f = this.policyRecord;
    if (!f) return { rules: this.configRules, source: 'config' };
    return {
      rules: parsePolicy(f.payload),
      source: 'leader',
      term: f.term,
      leader: f.leader,
      seq: f.seq,
      issuedAt: f.issuedAt,
    };
  }
}
