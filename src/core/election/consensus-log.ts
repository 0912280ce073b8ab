// The consensus log: Raft's log replication on top of the election (raft.ts). The leader appends
// entries in its term and ships them with its heartbeats; a follower accepts them only when they extend
// an entry it holds with the same term (Log Matching), replacing a conflicting uncommitted suffix. An
// entry is committed when a majority of voters hold it and it (or a later entry) is of the leader's
// current term; committed entries are applied, in index order and exactly once, to the state machines
// registered per kind (leader-only records, tasks), so every node reaches the same state. Each new leader
// commits a "leader" entry first (Raft's no-op), which commits what earlier leaders left. Snapshots of the
// state machines bound the log; a follower too far behind receives the snapshot in chunks.
// Size: the follower side, the leader side and the applying share one commit index, the pending proposals and
// the storage (with its flushes); split apart, each part would reach into the others' state.
import { EventEmitter } from 'node:events';
import { ChorusError } from '../errors.ts';
import type { LogEntry, LogSnapshot, LogStorage } from './log-store.ts';

export type { LogEntry } from './log-store.ts';

/** A replicated, deterministic state machine: the same entries in the same order give the same state. */
export interface StateMachine {
  /** Applies a committed entry of this machine's kind; the result goes back to the proposer. Never throws for bad input: return a refusal. */
  apply(entry: LogEntry): unknown;
  /** Every node applies each new leader's "leader" entry to every machine (e.g. to extend leases). */
  onLeader?(entry: LogEntry): void;
  snapshot(): unknown;
  /** Replaces the state (undefined: empty). */
  restore(state: unknown): void;
}

/** What the leader sends a follower with each heartbeat (Raft's AppendEntries). */
export interface AppendRequest {
  /** Index and term of the entry preceding `entries`. */
  prev: readonly [number, number];
  entries: LogEntry[];
  /** The leader's commit index. */
  commit: number;
}

/** A chunk of the leader's snapshot, sent instead of entries to a follower that is too far behind. */
export interface SnapshotChunk {
  index: number;
  term: number;
  offset: number;
  total: number;
  chunk: string;
}

export interface AppendResult {
  ok: boolean;
  /** On success: the index up to which the follower's log now matches the leader's. */
  match?: number;
  /** On a mismatch: the index the leader should send from next. */
  conflict?: number;
  /** For a snapshot chunk: the offset the follower expects next (total when installed). */
  snapOffset?: number;
}

export interface ConsensusLogOptions {
  storage: LogStorage;
  /** Take a snapshot after this many applied entries (default 2000). */
  snapshotEvery?: number;
  /** Entries kept after a snapshot, so followers slightly behind still get entries (default 500). */
  keepAfterSnapshot?: number;
  /** Most entry bytes per append message (default 1 MiB). */
  maxBatchBytes?: number;
  /** Size of one snapshot chunk (default 512 KiB). */
  snapshotChunk?: number;
}

export interface ConsensusLogEvents {
  /** A committed entry was applied (every node, every entry). */
  applied: [LogEntry, unknown];
  /** New entries wait to be sent (the leader replicates now instead of at the next heartbeat). */
  replicate: [];
  /** The commit index moved. */
  commit: [number];
  /** The leader's own entries reached its disk up to this index (it may count itself for them now). */
  durable: [number];
  /** The leader's disk refused a flush: it does not count itself for those entries (followers still can). */
  'sync-failed': [Error];
  /** The log of another cluster (voter set) was moved aside; this node starts a new one. */
  archived: [{ from: string | undefined; to: string }];
}

/** The proposer learns that its entry was replaced by another leader's (it was never committed). */
export class NotCommittedError extends ChorusError {
  constructor(detail: string) {
    super('NOT_COMMITTED', detail);
    this.name = 'NotCommitted';
  }
}

interface Pending {
  term: number;
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
}

interface PeerProgress {
  next: number;
  match: number;
  /** A snapshot being sent to this peer. */
  snap?: { index: number; term: number; text: string; offset: number };
}

export class ConsensusLog extends EventEmitter<ConsensusLogEvents> {
  readonly storage: LogStorage;
  private readonly machines = new Map<string, StateMachine>();
  private readonly snapshotEvery: number;
  private readonly keepAfterSnapshot: number;
  private readonly maxBatchBytes: number;
  private readonly snapshotChunk: number;
  private commitIndex = 0;
  private lastApplied = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly progress = new Map<string, PeerProgress>();
  private leaderTerm: number | undefined;
  /** Leader: the index up to which this node's own log is known on disk (it counts itself up to there). */
  private durableMatch = 0;
  private frozen = false;
  /** Entries proposed this turn, written together. */
  private queued: LogEntry[] = [];
  private incoming: { index: number; term: number; parts: string[]; size: number; total: number } | undefined;
  private started = false;

  constructor(opts: ConsensusLogOptions) {
    super();
    this.storage = opts.storage;
    this.snapshotEvery = opts.snapshotEvery ?? 2000;
    this.keepAfterSnapshot = opts.keepAfterSnapshot ?? 500;
    this.maxBatchBytes = opts.maxBatchBytes ?? 1024 * 1024;
    this.snapshotChunk = opts.snapshotChunk ?? 512 * 1024;
  }

  /** Registers the state machine of a kind (before start). */
  register(kind: string, machine: StateMachine): void {
    if (kind === 'leader') throw new Error('"leader" is the no-op kind');
    if (this.machines.has(kind)) throw new Error(`a state machine for ${kind} is registered already`);
    this.machines.set(kind, machine);
  }

  /** Restores the snapshot and applies the entries known committed. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const snap = this.storage.snapshot();
    this.restoreMachines(snap);
    this.lastApplied = this.commitIndex = snap?.index ?? 0;
    this.advanceTo(Math.min(this.storage.commitHint(), this.storage.last().index));
  }

  /**
   * Binds the log to a cluster (its voter set). A log written under another voter set cannot be merged
   * with this one (the same index and term may hold different entries), so it is moved aside and the
   * state machines start empty.
   */
  bindCluster(key: string): void {
    const current = this.storage.cluster();
    if (current === key) return;
    const empty = this.storage.last().index === 0 && !this.storage.snapshot();
    if (!empty || current !== undefined) {
      const to = this.storage.archive();
      this.failPendingFrom(0);
      this.progress.clear();
      this.commitIndex = this.lastApplied = 0;
      this.restoreMachines(undefined);
      if (to) this.emit('archived', { from: current, to });
    }
    this.storage.setCluster(key);
  }

  // ---- queries ------------------------------------------------------------------------------------

  /** [term, index] of the newest entry: Raft's up-to-date rule compares it. */
  position(): readonly [number, number] {
    const last = this.storage.last();
    return [last.term, last.index];
  }

  get commit(): number {
    return this.commitIndex;
  }

  get applied(): number {
    return this.lastApplied;
  }

  /** Resolves once this node applied `index` (or the signal fires). */
  async waitApplied(index: number, signal?: AbortSignal): Promise<void> {
    if (this.lastApplied >= index) return;
    await new Promise<void>((resolve, reject) => {
      const onApplied = (): void => {
        if (this.lastApplied < index) return;
        cleanup();
        resolve();
      };
      const onAbort = (): void => {
        cleanup();
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      const cleanup = (): void => {
        this.off('applied', onApplied);
        signal?.removeEventListener('abort', onAbort);
      };
      if (signal?.aborted) return onAbort();
      this.on('applied', onApplied);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  // ---- follower side ------------------------------------------------------------------------------

  /**
   * AppendEntries from the current leader (the caller checked the term and the sender). The entries are
   * written at once; the answer waits until they are on disk, since a success counts toward a commit.
   */
  async handleAppend(req: AppendRequest): Promise<AppendResult> {
    const result = this.appendFromLeader(req);
    if (result.ok) await this.storage.sync(); // also when nothing was new: a resent batch may still be in flight
    return result;
  }

  private appendFromLeader(req: AppendRequest): AppendResult {
    const [prevIndex, prevTerm] = req.prev;
    const last = this.storage.last();
    if (prevIndex > last.index) return { ok: false, conflict: last.index + 1 };
    const snapIndex = this.storage.snapshot()?.index ?? 0;
    if (prevIndex >= snapIndex) {
      const held = this.storage.termAt(prevIndex);
      if (held !== prevTerm) {
        // step back over the whole conflicting term at once (never below what is committed)
        let back = prevIndex;
        while (back - 1 > Math.max(this.commitIndex, snapIndex) && this.storage.termAt(back - 1) === held) back--;
        return { ok: false, conflict: Math.max(this.commitIndex + 1, back) };
      }
    }
    const fresh: LogEntry[] = [];
    for (const e of req.entries) {
      if (e.index <= snapIndex || e.index <= this.commitIndex) continue; // committed: identical by Log Matching
      if (fresh.length === 0) {
        const held = this.storage.termAt(e.index);
        if (held === e.term) continue;
        if (held !== undefined) {
          this.storage.truncateFrom(e.index);
          this.failPendingFrom(e.index);
        }
      }
      fresh.push(e);
    }
    this.storage.append(fresh);
    const match = prevIndex + req.entries.length;
    const commit = Math.min(req.commit, match);
    if (commit > this.commitIndex) this.advanceTo(commit);
    return { ok: true, match };
  }

  /** A chunk of the leader's snapshot; the last one installs it. */
  handleSnapshot(c: SnapshotChunk): AppendResult {
    if (c.index <= this.commitIndex) return { ok: true, snapOffset: c.total, match: this.commitIndex };
    if (c.offset === 0) this.incoming = { index: c.index, term: c.term, parts: [], size: 0, total: c.total };
    const inc = this.incoming;
    if (!inc || inc.index !== c.index || inc.term !== c.term || inc.size !== c.offset)
      return { ok: false, snapOffset: 0 };
    inc.parts.push(c.chunk);
    inc.size += c.chunk.length;
    if (inc.size < inc.total) return { ok: true, snapOffset: inc.size };
    this.incoming = undefined;
    const snap: LogSnapshot = { index: inc.index, term: inc.term, state: inc.parts.join('') };
    if (this.storage.termAt(snap.index) === snap.term) this.storage.saveSnapshot(snap, 0);
    else {
      this.storage.resetTo(snap);
      this.failPendingFrom(0);
    }
    this.restoreMachines(snap);
    this.lastApplied = this.commitIndex = snap.index;
    this.storage.saveCommitHint(snap.index);
    this.emit('commit', this.commitIndex);
    return { ok: true, snapOffset: inc.total, match: snap.index };
  }

  // ---- leader side --------------------------------------------------------------------------------

  /** This node leads `term`: it commits a "leader" entry first (at = its wall clock, for leases). */
  becomeLeader(term: number, peers: readonly string[], at: number): void {
    this.leaderTerm = term;
    this.durableMatch = 0;
    this.progress.clear();
    const next = this.storage.last().index + 1;
    for (const p of peers) this.progress.set(p, { next, match: 0 });
    this.appendLocal(term, 'leader', { at });
  }

  /** No longer leading: proposals stay pending until their index is applied (committed or replaced). */
  stepDown(): void {
    this.leaderTerm = undefined;
    this.durableMatch = 0;
    this.frozen = false;
    this.progress.clear();
  }

  /** A leader handing over takes no new proposals (it still replicates what it holds). */
  freeze(): void {
    if (this.leaderTerm !== undefined) this.frozen = true;
  }

  /** Leader: the index up to which a peer's log is known to match this one. */
  matchOf(peer: string): number {
    return this.progress.get(peer)?.match ?? 0;
  }

  get leading(): boolean {
    return this.leaderTerm !== undefined && !this.frozen;
  }

  /** Leader only: appends an entry and resolves with its state machine's result once it is applied here. */
  propose(kind: string, data: unknown, signal?: AbortSignal): Promise<unknown> {
    const term = this.leaderTerm;
    if (term === undefined || this.frozen)
      return Promise.reject(new NotCommittedError('this node is not the leader (or is handing over)'));
    if (!this.machines.has(kind)) return Promise.reject(new Error(`no state machine for ${kind}`));
    const index = this.appendLocal(term, kind, data);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.pending.delete(index);
        reject(
          new ChorusError('OUTCOME_UNKNOWN', `entry ${index} not applied before the deadline; it may still commit`),
        );
      };
      this.pending.set(index, {
        term,
        resolve: (r) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Queues an entry of this leader's term; the entries proposed in one turn of the event loop are written
   * together and go out to the followers while they are flushed to this node's disk (Raft's leader may write
   * in parallel with replicating: it counts itself only once the flush is done). The turn ends at
   * setImmediate, after its I/O callbacks: proposals that arrive in separate requests of one poll (a busy
   * leader's usual case) share one write and one flush.
   */
  private appendLocal(term: number, kind: string, data: unknown): number {
    const index = this.storage.last().index + this.queued.length + 1;
    this.queued.push({ index, term, kind, data });
    if (this.queued.length === 1) setImmediate(() => this.flushQueued());
    return index;
  }

  private flushQueued(): void {
    const batch = this.queued;
    this.queued = [];
    const first = batch[0];
    if (!first) return;
    if (this.leaderTerm !== first.term) {
      // stepped down before they were written: they never existed
      for (const e of batch) {
        const p = this.pending.get(e.index);
        this.pending.delete(e.index);
        p?.reject(new NotCommittedError(`entry ${e.index} was not written: this node stopped leading`));
      }
      return;
    }
    this.storage.append(batch);
    this.emit('replicate');
    const upTo = (batch[batch.length - 1] as LogEntry).index;
    this.storage.sync().then(
      () => {
        if (this.leaderTerm !== first.term || upTo <= this.durableMatch) return;
        this.durableMatch = upTo;
        this.emit('durable', upTo);
      },
      (err: unknown) => this.emit('sync-failed', err instanceof Error ? err : new Error(String(err))),
    );
  }

  /** Adds a peer the leader replicates to (an observer that said hello, or a voter). */
  track(peer: string): void {
    if (this.leaderTerm !== undefined && !this.progress.has(peer))
      this.progress.set(peer, { next: this.storage.last().index + 1, match: 0 });
  }

  /** What to send a peer with the next heartbeat: entries, or a snapshot chunk when it is too far behind. */
  messageFor(peer: string): { append?: AppendRequest; snapshot?: SnapshotChunk } {
    const p = this.progress.get(peer);
    if (!p || this.leaderTerm === undefined) return {};
    const snap = this.storage.snapshot();
    const prevIndex = p.next - 1;
    const prevTerm = this.storage.termAt(prevIndex);
    if (snap && (p.next < this.storage.first() || prevTerm === undefined)) {
      if (!p.snap || p.snap.index !== snap.index)
        p.snap = { index: snap.index, term: snap.term, text: snap.state, offset: 0 };
      const s = p.snap;
      return {
        snapshot: {
          index: s.index,
          term: s.term,
          offset: s.offset,
          total: s.text.length,
          chunk: s.text.slice(s.offset, s.offset + this.snapshotChunk),
        },
      };
    }
    const last = this.storage.last().index;
    const entries = p.next <= last ? this.storage.entries(p.next, last, this.maxBatchBytes) : [];
    return { append: { prev: [prevIndex, prevTerm ?? 0], entries, commit: this.commitIndex } };
  }

  /** Whether a peer has entries waiting (so the leader sends again at once). */
  hasMoreFor(peer: string): boolean {
    const p = this.progress.get(peer);
    return !!p && (p.next <= this.storage.last().index || p.snap !== undefined);
  }

  /** A peer's answer to an append or snapshot chunk; `voters` decide what is committed. */
  onResult(
    peer: string,
    sent: { append?: AppendRequest; snapshot?: SnapshotChunk },
    r: AppendResult,
    voters: readonly string[],
    self: string,
  ): void {
    const p = this.progress.get(peer);
    if (!p || this.leaderTerm === undefined) return;
    if (sent.snapshot) {
      if (!p.snap) return;
      if (r.ok && r.snapOffset !== undefined && r.snapOffset >= p.snap.text.length) {
        p.match = Math.max(p.match, p.snap.index);
        p.next = p.snap.index + 1;
        p.snap = undefined;
      } else p.snap.offset = r.ok && r.snapOffset !== undefined ? r.snapOffset : 0;
      this.advanceCommit(voters, self);
      return;
    }
    if (!sent.append) return;
    if (r.ok) {
      const match = r.match ?? sent.append.prev[0] + sent.append.entries.length;
      p.match = Math.max(p.match, match);
      p.next = Math.max(p.next, p.match + 1);
    } else if (r.conflict !== undefined) p.next = Math.max(1, Math.min(r.conflict, p.next - 1 || 1));
    this.advanceCommit(voters, self);
  }

  /** Leader: how many voters (this leader included, once it has the entry on disk) hold the entry at `index`. */
  heldBy(index: number, voters: readonly string[], self: string): number {
    return voters.filter((v) => this.matchOfVoter(v, self) >= index).length;
  }

  private matchOfVoter(voter: string, self: string): number {
    return voter === self ? this.durableMatch : (this.progress.get(voter)?.match ?? 0);
  }

  /** Leader: the highest index a majority of voters hold, committed when it is of the current term. */
  advanceCommit(voters: readonly string[], self: string): void {
    const term = this.leaderTerm;
    if (term === undefined || voters.length === 0) return;
    const matches = voters.map((v) => this.matchOfVoter(v, self)).sort((a, b) => b - a);
    const n = matches[Math.floor(voters.length / 2)] ?? 0;
    if (n > this.commitIndex && this.storage.termAt(n) === term) {
      this.advanceTo(n);
      this.emit('replicate'); // followers learn the new commit index now, not at the next heartbeat
    }
  }

  // ---- applying -----------------------------------------------------------------------------------

  private advanceTo(commit: number): void {
    if (commit <= this.commitIndex && commit <= this.lastApplied) return;
    this.commitIndex = Math.max(this.commitIndex, commit);
    while (this.lastApplied < this.commitIndex) {
      const batch = this.storage.entries(this.lastApplied + 1, this.commitIndex, 4 * this.maxBatchBytes);
      if (batch.length === 0) break; // not held yet (a follower learning the commit before the entries)
      for (const e of batch) this.applyEntry(e);
    }
    this.storage.saveCommitHint(this.lastApplied);
    this.emit('commit', this.commitIndex);
    if (this.lastApplied - (this.storage.snapshot()?.index ?? 0) >= this.snapshotEvery) this.takeSnapshot();
  }

  private applyEntry(e: LogEntry): void {
    let result: unknown;
    if (e.kind === 'leader') {
      for (const m of this.machines.values()) m.onLeader?.(e);
    } else {
      const m = this.machines.get(e.kind);
      result = m ? m.apply(e) : undefined;
    }
    this.lastApplied = e.index;
    const waiting = this.pending.get(e.index);
    if (waiting) {
      this.pending.delete(e.index);
      if (waiting.term === e.term) waiting.resolve(result);
      else waiting.reject(new NotCommittedError(`entry ${e.index} was replaced by a newer leader’s`));
    }
    this.emit('applied', e, result);
  }

  private failPendingFrom(index: number): void {
    for (const [i, p] of this.pending) {
      if (i < index) continue;
      this.pending.delete(i);
      p.reject(new NotCommittedError(`entry ${i} was replaced by a newer leader’s`));
    }
  }

  private takeSnapshot(): void {
    const term = this.storage.termAt(this.lastApplied);
    if (term === undefined) return;
    const state: Record<string, unknown> = {};
    for (const [kind, m] of this.machines) state[kind] = m.snapshot();
    this.storage.saveSnapshot({ index: this.lastApplied, term, state: JSON.stringify(state) }, this.keepAfterSnapshot);
  }

  private restoreMachines(snap: LogSnapshot | undefined): void {
    const state = snap ? (JSON.parse(snap.state) as Record<string, unknown>) : {};
    for (const [kind, m] of this.machines) m.restore(state[kind]);
  }
}
