// The decision store over the Kademlia DHT: versioned, signed, role-encrypted decisions with verified
// replication (a PUT counts the peers that stored it) and fast reads (local copy when it is known to be
// the newest, otherwise the lookup stops as soon as enough valid answers agree; a new version this node
// holds is verified and decrypted ahead of its first read, read-ahead.ts). Re-replication
// (republisher.ts), provider announcements (provider-pacer.ts) and the wiring (service.ts) live beside it.
// Size: the read and the write paths share the version rules, the local copy and the hints, and read best
// together; what could stand apart (re-replication, pacing, replication writes, records) already does.
import { EventEmitter } from 'node:events';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Datastore } from 'interface-datastore';
import { decryptAsRole, encryptForRoles } from '../crypto/envelope.ts';
import type { RoleKeyring } from '../crypto/keyring.ts';
import { readersOf, type RolePolicy } from '../crypto/policy.ts';
import type { DirectReplicas } from '../dht/direct.ts';
import { withDeadline } from '../deadline.ts';
import { heldRecordKeys, heldRecords, readLocalRecord } from '../dht/kad.ts';
import { ChorusError, describeError, UsageError } from '../errors.ts';
import { checkDecisionSize } from '../limits.ts';
import { meta, NotFoundError, ReplicationError, type DecisionMeta, type PutReceipt } from './meta.ts';
import { decodeLoose } from './namespace.ts';
import type { Logger } from '../log.ts';
import { connectedToAny } from '../p2p/connected.ts';
import type { ChorusLibp2p } from '../p2p/host.ts';
import type { Signer } from '../p2p/signer.ts';
import {
  formatAddress,
  isPattern,
  matches,
  parseAddress,
  resolveTemporal,
  subjectKey,
  type UcxlAddress,
} from '../ucxl/address.ts';
import { VersionHints, type VersionHint } from './hints.ts';
import { checkWritable, currentOf, describeVersion, type VersionVotes } from './votes.ts';
import { findProviders } from './provider-pacer.ts';
import { BoundedLru, PlaintextCache } from './read-cache.ts';
import { ReadAheadQueue, WriteQuiet } from './read-ahead.ts';
import { warmDecisionPaths } from './warm-up.ts';
import { LoopLoad } from '../loop-load.ts';
import { AnswerTimes, readReplicas, type ReplicaRead } from './replica-read.ts';
import { createAll, replicate, replicateAll } from './replicate.ts';
import {
  compareRecords,
  decodeRecord,
  encodeOwnRecord,
  latestKey,
  LATEST_NS,
  VERSION_NS,
  signDecision,
  subjectId,
  subjectIdOf,
  versionKey,
  type DecisionRecord,
  type ValidationContext,
} from './record.ts';

export { NotFoundError, ReplicationError, type DecisionMeta, type PutReceipt } from './meta.ts';
export type { VersionVotes } from './votes.ts';

/** At most this many subjects are remembered as fallen short (fellShort). */
const MAX_SHORT_SUBJECTS = 10_000;

/**
 * Read-ahead waits until this node has seen no write for this long (ms). Under a stream of writes it would take
 * CPU from the writes' other hops (measured with `bench dht --procs 5`: PUT p95 0.5–0.8 ms lower without it);
 * once they pause it catches up. A read before then decrypts on its own, as without read-ahead.
 */
const READ_AHEAD_QUIET_MS = 30;
/** While writes never pause for READ_AHEAD_QUIET_MS, read-ahead still takes one subject this often (ms). */
const READ_AHEAD_MAX_WAIT_MS = 1000;
/** How long read-ahead stands back while the event loop is busy (ms). */
const LOOP_BUSY_WAIT_MS = 100;

/** A decision record this node holds (listings and the republisher read them). */
export interface HeldRecord {
  dhtKey: string;
  bytes: Uint8Array;
  record: DecisionRecord;
  /** When this node last stored it (ms since the epoch; NaN when unknown). */
  storedAt: number;
}

/** Which held records to read (DecisionStore.heldRecords). */
export interface HeldRecordsOptions {
  /** Asked with each record's DHT key and stored time, before the record is decoded: false passes over it. */
  wanted?: (dhtKey: string, storedAt: number) => boolean;
  /** Ends the reading. */
  signal?: AbortSignal;
}

export interface DecisionStoreOptions {
  libp2p: ChorusLibp2p;
  datastore: Datastore;
  keyring: RoleKeyring;
  policy: RolePolicy;
  role: string;
  signer: Signer;
  validation: ValidationContext & { awaitAdmission?: (author: string) => Promise<unknown> };
  replication: number;
  logger: Logger;
  /** Per-operation deadline when the caller gives no signal. */
  timeoutMs?: number;
  /** One-hop replica access through the routing table (falls back to kad-dht queries when absent or short). */
  direct?: DirectReplicas;
  /** Versions heard of (default: a fresh, bounded, expiring table). */
  hints?: VersionHints;
  /** Tells other nodes that a version exists; `holders` (which stored the write) know already. */
  announce?: (hint: VersionHint, holders: readonly string[], record: Uint8Array) => void;
  /** Queues a provider announcement of a subject written here (paced by the service). */
  /** A lone node (the only voter, see DecisionComponents): with no peer known, one holder is enough. */
  soleMember?: () => boolean;
  provide?: (subject: string) => void;
}

export interface PutOptions {
  contentType?: string;
  roles?: string[];
  deleted?: boolean;
  signal?: AbortSignal;
}

export interface DecisionStoreEvents {
  version: [{ subject: string; version: number }];
  /** One finished operation (metrics): its latency, and the error code when it failed. */
  op: [{ op: 'put' | 'get' | 'resolve' | 'history'; ms: number; ok: boolean; code?: string }];
  /** A write or re-replication of a subject reached `holders` of the `want` required. */
  replication: [{ subject: string; holders: number; want: number }];
  /** A new version was read ahead: verified, kept, and decrypted for this node's role. */
  readAhead: [{ subject: string; version: number }];
  /** A version was sent to its replicas, as a create or after a read; `stored`: false when a create did not take. */
  write: [{ subject: string; version: number; create: boolean; stored: boolean }];
}

/** A write in progress (putNow): what every attempt at its version needs. */
interface PendingWrite {
  subject: string;
  roles: string[];
  readers: string[];
  content: Uint8Array;
  opts: PutOptions;
  signal: AbortSignal;
  /** The sealed payload (it does not depend on the version). */
  sealing: Promise<Uint8Array> | undefined;
  /** Its version 1, once signed (see recordAfter). */
  first?: { record: DecisionRecord; bytes: Uint8Array };
}

/** A read's signal, made on first use (see DecisionStore.lazySignal). */
type Deadline = () => AbortSignal;

/** Records a pass over the held ones reads between two turns of the event loop. */
const HELD_RECORDS_PER_TURN = 64;

/** The reason a read's own early stop aborts its remaining requests with: one object, not a new error per read. */
const READ_DONE = new DOMException('the read has its answer', 'AbortError');

export class DecisionStore extends EventEmitter<DecisionStoreEvents> {
  private readonly opts: DecisionStoreOptions;
  /** Newest version heard of per subject (own writes, reads, announcements): hearsay, bounded, expiring. */
  private readonly hints: VersionHints;
  /** Decision voting (absent: every version is current when it is the newest). */
  private votes: VersionVotes | undefined;
  /** How long replicas take to answer, for hedged reads. */
  private readonly replicaRtt = new AnswerTimes();
  /** Plaintexts of records this node decrypted (a repeated read of a verified record skips age). */
  readonly plaintexts = new PlaintextCache();
  /**
   * Ids of the subjects whose last write or re-put here reached fewer holders than wanted: the schedule re-puts
   * them although they were stored within its interval (fellShort). Bounded: MAX_SHORT_SUBJECTS, the oldest go
   * first (the schedule re-puts them when they are due).
   */
  private readonly shortSubjects = new Set<string>();
  /**
   * The latest record of each subject a read last returned (verified; from the replicas or this node's own
   * store): served again while it is as new as any version heard of — the held-copy rule of fetchLatest.
   * Bounded: 1024 subjects, 8 MiB of payload.
   */
  private readonly kept = new BoundedLru<DecisionRecord>({
    maxEntries: 1024,
    maxSize: 8 * 1024 * 1024,
    sizeOf: (r) => r.payload.length,
  });
  /** Records peers' write notes carried (noteRecord), unverified until a read takes one. Bounded like `kept`. */
  private readonly noted = new BoundedLru<{ hint: VersionHint; bytes: Uint8Array }>({
    maxEntries: 1024,
    maxSize: 8 * 1024 * 1024,
    sizeOf: (n) => n.bytes.byteLength,
  });

  /** Writes this node saw lately: read-ahead waits until they have been quiet for a moment. */
  readonly writeQuiet = new WriteQuiet(READ_AHEAD_QUIET_MS, READ_AHEAD_MAX_WAIT_MS);
  /** The event loop's recent load: read-ahead stands back while it is busy. */
  private readonly loopLoad = new LoopLoad();
  /** New versions this node holds, waiting to be read ahead (readAheadNow). */
  readonly readAheadQueue = new ReadAheadQueue((subject) => this.readAheadNow(subject), {
    standBack: () => {
      // both asked on every turn: the loop's windows stay short, and the quiet spell's give-way counts every wait
      const [loopBusy, writes] = [this.loopLoad.busy(), this.writeQuiet.wait()];
      return writes || (loopBusy ? LOOP_BUSY_WAIT_MS : 0);
    },
  });
  /** The start-up run of warmUp(), once made. */
  private warming: Promise<boolean> | undefined;
  /** Set by stop(): a warm-up that has not run yet does not. */
  private stopped = false;
  /** Hashes of the records this node is storing as their writer now (stored() reads none of them ahead). */
  private readonly writing = new Set<string>();

  constructor(opts: DecisionStoreOptions) {
    super();
    this.opts = opts;
    this.hints = opts.hints ?? new VersionHints();
  }

  /** The one-hop replica access this store writes and reads through (the health probe uses it too). */
  get replicas(): DirectReplicas | undefined {
    return this.opts.direct;
  }

  /**
   * Plugs decision voting in (undefined unplugs it): `*^` then steps back over versions whose proposal is
   * open or rejected, reads carry each version's proposal, and no version is written over an open one.
   */
  useVotes(votes: VersionVotes | undefined): void {
    this.votes = votes;
  }

  /**
   * Records that a newer version exists somewhere (from an announcement: it only makes reads ask the network).
   * True when it is newer than any version heard of before.
   */
  noteVersion(subject: string, version: number): boolean {
    const newer = this.hints.note(subject, version);
    if (newer) this.emit('version', { subject, version });
    return newer;
  }

  /** The newest version of a subject this node has heard of. */
  knownVersion(subject: string): number | undefined {
    return this.hints.get(subject);
  }

  /**
   * The signal of one operation: its deadline and the caller's signal. (Not the store's own stop
   * signal: AbortSignal.any keeps every composite alive as long as a long-lived source lives — about
   * 1 KB per operation. On stop, libp2p closes its streams, so operations in flight end anyway.) A write
   * uses withDeadline instead, whose timer goes when the write ends.
   */
  operationSignal(signal?: AbortSignal): AbortSignal {
    const deadline = AbortSignal.timeout(this.timeoutMs);
    return signal ? AbortSignal.any([deadline, signal]) : deadline;
  }

  /**
   * operationSignal(), made when the read first asks the network: a read answered from a kept or a local copy
   * needs no deadline timer and no composite signal. The deadline runs from that moment.
   */
  private lazySignal(signal?: AbortSignal): Deadline {
    let made: AbortSignal | undefined;
    return () => (made ??= this.operationSignal(signal));
  }

  private decode(bytes: Uint8Array): DecisionRecord {
    return decodeRecord(bytes, this.opts.validation);
  }

  /** decode() for answers from peers: an author this node has not met yet gets one admission lookup. */
  private async decodeRemote(bytes: Uint8Array): Promise<DecisionRecord> {
    try {
      return this.decode(bytes);
    } catch (err) {
      const author: unknown = decodeLoose(bytes)?.author;
      const { awaitAdmission, isAdmitted } = this.opts.validation;
      if (!awaitAdmission || typeof author !== 'string' || isAdmitted(author)) throw err;
      await awaitAdmission(author);
      return this.decode(bytes);
    }
  }

  /** Runs one operation and reports its latency and outcome as an `op` event. */
  private async timed<T>(op: DecisionStoreEvents['op'][0]['op'], fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const out = await fn();
      this.emit('op', { op, ms: performance.now() - started, ok: true });
      return out;
    } catch (err) {
      const code = err instanceof ChorusError ? err.code : 'ERROR';
      this.emit('op', { op, ms: performance.now() - started, ok: false, code });
      throw err;
    }
  }

  /** Writes a new version of the decision at `address` and replicates it to `replication` peers. */
  put(address: UcxlAddress, content: Uint8Array, opts: PutOptions = {}): Promise<PutReceipt> {
    // the deadline's timer goes with the write (see operationSignal)
    return this.timed('put', () =>
      withDeadline(this.timeoutMs, (signal) => this.putNow(address, content, opts, signal), opts.signal),
    );
  }

  private async putNow(
    address: UcxlAddress,
    content: Uint8Array,
    opts: PutOptions,
    signal: AbortSignal,
  ): Promise<PutReceipt> {
    if (isPattern(address))
      throw new UsageError('cannot write to an address with "any": name the agent, role, project and task');
    if (address.temporal.kind !== 'latest') {
      throw new UsageError(
        `writes always create the next version: use *^ in the address, not ${formatAddress(address)}`,
      );
    }
    checkDecisionSize(content.byteLength); // the documented limit, before encryption inflates it
    this.writeQuiet.note();
    const subject = subjectKey(address);
    const roles = opts.roles?.length ? opts.roles : [this.opts.role];
    const readers = readersOf(roles, this.opts.policy);
    const recipients = opts.deleted ? [] : this.opts.keyring.recipients(readers);
    const write: PendingWrite = { subject, roles, readers, content, opts, signal, sealing: undefined };
    // A subject this node has never heard of goes out as a create: its version 1, stored only by replicas that
    // hold no version of it, so no read comes first. When a replica does hold one (or the create cannot be
    // made), the write reads the newest version and goes after it, as every write of a known subject does.
    if (!opts.deleted && connectedToAny(this.opts.libp2p) && (await this.unheardOf(subject))) {
      write.sealing = encryptForRoles(content, recipients);
      const created = await this.writeVersion(write, undefined, true);
      if (created) return created;
      this.opts.logger.debug('a first version did not go out as a create: reading the newest version first', {
        subject,
      });
    }
    // The payload does not depend on the version: it is sealed while the replicas answer the fresh read (started
    // on the next turn, once the read's requests are out), not after it.
    write.sealing ??= opts.deleted
      ? Promise.resolve(new Uint8Array())
      : new Promise<void>((resolve) => setImmediate(resolve)).then(() => encryptForRoles(content, recipients));
    write.sealing.catch(() => {}); // awaited below, unless the read fails first
    const previous = await this.fetchLatest(subject, () => signal, true).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    checkWritable(previous, this.votes);
    return (await this.writeVersion(write, previous, false)) as PutReceipt;
  }

  /**
   * Runs the write and read paths once on a throwaway record that never leaves memory (warm-up.ts), on the next
   * turn (the node's start-up goes on first), once per store; nothing once the store is stopped. Resolves true when
   * the record made the whole round trip, false when part of it could not run (logged at debug level).
   */
  warmUp(): Promise<boolean> {
    const { keyring, policy, role, signer, validation, datastore, logger } = this.opts;
    this.warming ??= nextTurn()
      .then(() =>
        this.stopped
          ? false
          : warmDecisionPaths({ keyring, policy, role, signer, verify: validation.verify, datastore }),
      )
      .catch((err: unknown) => {
        logger.debug('the decision paths did not warm up', { error: describeError(err) });
        return false;
      });
    return this.warming;
  }

  /** The start-up's warmUp() run, once made: its outcome. */
  get warmedUp(): Promise<boolean> | undefined {
    return this.warming;
  }

  /** Whether this node knows nothing of a subject: no version heard of, and no record read, noted or held here. */
  private async unheardOf(subject: string): Promise<boolean> {
    if (this.hints.get(subject) !== undefined || this.kept.has(subject) || this.noted.has(subject)) return false;
    return (await readLocalRecord(this.opts.datastore, latestKey(subject))) === undefined;
  }

  /**
   * Signs the version after `previous`, stores it on its replicas and tells the other nodes. `create`: the first
   * version, sent as a create (createAll); undefined when it did not take on every replica asked.
   */
  private async writeVersion(
    w: PendingWrite,
    previous: DecisionRecord | undefined,
    create: boolean,
  ): Promise<PutReceipt | undefined> {
    const { subject, opts } = w;
    const { record, bytes } = await this.recordAfter(w, previous);
    // the writer has the plaintext: its own read of this version needs no decryption
    if (!opts.deleted && w.readers.includes(this.opts.role)) void this.plaintextOf(record, w.content).catch(() => {});
    // one request per peer, carrying the keys (latest, version) that peer replicates
    const keys = [latestKey(subject), versionKey(subject, record.version)];
    // this node stores the record too (its validators call stored()), and does not read it ahead
    this.writing.add(record.hash);
    const stored = await (
      create ? createAll(this.opts, keys, bytes, w.signal) : replicateAll(this.opts, keys, bytes, w.signal)
    ).finally(() => this.writing.delete(record.hash));
    this.emit('write', { subject, version: record.version, create, stored: stored !== undefined });
    if (!stored) return undefined;
    const [holderPeers = [], versionHolders = []] = stored;
    this.noteVersion(subject, record.version);
    this.opts.announce?.(
      { subject, version: record.version, hash: record.hash },
      [...holderPeers, ...versionHolders],
      bytes,
    );
    this.opts.provide?.(subject);
    // a lone node needs only itself (see alone()); anyone else needs dht.replication holders
    const want = this.holdersWanted(this.opts.replication);
    const receipt = { ...meta(record), holders: holderPeers.length, holderPeers, replication: want };
    // short if either key is: the schedule then re-puts both
    const reached = Math.min(holderPeers.length, versionHolders.length);
    this.noteReplication(subject, holderPeers.length, this.opts.replication, reached);
    if (holderPeers.length < want) {
      throw new ReplicationError(
        `stored on ${holderPeers.length} of ${this.opts.replication} required peers (version ${record.version} is kept locally and re-replicated when peers join)`,
        holderPeers.length,
        receipt,
      );
    }
    return receipt;
  }

  /**
   * The signed record of the version after `previous`. A version 1 is signed once per write: should a create
   * not take and the read find no version either, the same record goes out again (the same bytes a replica
   * may already hold from the create).
   */
  private async recordAfter(
    w: PendingWrite,
    previous: DecisionRecord | undefined,
  ): Promise<{ record: DecisionRecord; bytes: Uint8Array }> {
    if (!previous && w.first) return w.first;
    const { subject, opts } = w;
    const payload = await (w.sealing as Promise<Uint8Array>);
    const record = signDecision(
      {
        v: 1,
        subject,
        version: (previous?.version ?? 0) + 1,
        author: this.opts.signer.author,
        authorRole: this.opts.role,
        timestamp: new Date().toISOString(),
        contentType: opts.contentType ?? 'application/octet-stream',
        prevHash: previous?.hash ?? '',
        roles: w.roles,
        payload: Buffer.from(payload).toString('base64'),
        size: opts.deleted ? 0 : w.content.byteLength,
        ...(opts.deleted ? { deleted: true } : {}),
      },
      this.opts.signer.sign,
    );
    const signed = { record, bytes: encodeOwnRecord(record, this.opts.validation) };
    if (!previous) w.first = signed;
    return signed;
  }

  /** A lone node: the only voter of its cluster, and connected to no peer that could hold a copy. */
  private alone(): boolean {
    return (this.opts.soleMember?.() ?? false) && !connectedToAny(this.opts.libp2p);
  }

  /** PUTs a record to `replication` holders (see replicate.ts); resolves with the holders. */
  replicate(key: Uint8Array, value: Uint8Array, signal: AbortSignal): Promise<string[]> {
    return replicate(this.opts, key, value, signal);
  }

  private async localLatest(subject: string): Promise<DecisionRecord | undefined> {
    const bytes = await readLocalRecord(this.opts.datastore, latestKey(subject));
    if (!bytes) return undefined;
    try {
      return this.decode(bytes);
    } catch {
      return undefined;
    }
  }

  /**
   * The newest version of a subject. Served from the record the last read returned, the record a peer's write
   * note carried, or this node's own copy (of the latest key, or of the version heard of), when that is at least
   * as new as any version heard of (announcements arrive within milliseconds of a write); otherwise, and always
   * for `fresh` reads (a writer choosing the next version), asks the DHT (see query).
   */
  private async fetchLatest(subject: string, signal: Deadline, fresh = false): Promise<DecisionRecord> {
    const hint = fresh ? undefined : this.hints.get(subject);
    const { held, local } = await this.heldLatest(subject, hint);
    if (held) return held;
    const best = await this.query(latestKey(subject), signal, local, hint);
    if (!best) throw new NotFoundError(`ucxl://${subject}`);
    this.noteVersion(subject, best.version);
    return this.keep(best);
  }

  /**
   * The newest version of a subject when this node holds it (`held`): the record the last read returned, the
   * record a peer's write note carried, or this node's own copy (of the latest key, or of the version heard of),
   * when that is at least as new as the version heard of (`hint`; none without one). `local`: this node's copy
   * of the latest key when it was read, for a read that goes on to ask the network.
   */
  private async heldLatest(
    subject: string,
    hint: number | undefined,
  ): Promise<{ held?: DecisionRecord; local?: DecisionRecord }> {
    if (hint !== undefined) {
      // the record the last read returned, under the same rule as the local copy (its author still admitted)
      const kept = this.kept.get(subject);
      if (kept && kept.version >= hint && this.opts.validation.isAdmitted(kept.author)) return { held: kept };
      const noted = await this.takeNoted(subject, hint);
      if (noted) return { held: this.keep(noted) };
    }
    const local = await this.localLatest(subject);
    if (hint === undefined) return { local };
    if (local && local.version >= hint) return { held: this.keep(local) };
    // a replica of the version heard of (its immutable key) holds that record itself
    const version = await this.localVersion(subject, hint);
    return version ? { held: this.keep(version) } : { local };
  }

  /**
   * Read-ahead (queued by readAheadQueue) of a subject's new version this node now holds — a peer's write note
   * carried it, or it was stored here as a replica: when this node's role is among its readers, the record is
   * verified and kept, and its payload decrypted into the plaintext cache, so that the first read of it costs
   * what a repeated read does. The rules are the read's (heldLatest), only applied earlier; a note whose
   * record names readers this role is not among is not even verified.
   */
  private async readAheadNow(subject: string): Promise<void> {
    const hint = this.hints.get(subject);
    if (hint === undefined) return;
    const noted = this.noted.get(subject);
    if (noted && !this.mayRead(decodeLoose(noted.bytes)?.roles)) return;
    const { held: record } = await this.heldLatest(subject, hint);
    if (!record || record.deleted || !this.mayRead(record.roles)) return;
    await this.plaintextOf(record);
    this.emit('readAhead', { subject, version: record.version });
  }

  /** Whether this node's role is among the readers of a record authorized for `roles`. */
  private mayRead(roles: unknown): boolean {
    return Array.isArray(roles) && readersOf(roles as string[], this.opts.policy).includes(this.opts.role);
  }

  private keep(record: DecisionRecord): DecisionRecord {
    this.kept.set(record.subject, record);
    return record;
  }

  /**
   * A peer's note of its write that carried the record (hints.ts): the version is noted and the bytes are held,
   * unverified, until a read of the subject wants that version (takeNoted) — so this node's first read of it
   * needs no replica, and a record never read costs no verification.
   */
  noteRecord(hint: VersionHint, bytes: Uint8Array): void {
    this.writeQuiet.note();
    const held = this.noted.get(hint.subject);
    if (!held || held.hint.version <= hint.version) this.noted.set(hint.subject, { hint, bytes });
    // after: a listener of 'version' may read at once
    if (this.noteVersion(hint.subject, hint.version)) this.readAheadQueue.schedule(hint.subject);
  }

  /**
   * The noted record of a subject at `version` or newer, verified as a replica's answer is and exactly what
   * its signed hint named; undefined otherwise (the read then asks the replicas).
   */
  private async takeNoted(subject: string, version: number): Promise<DecisionRecord | undefined> {
    const held = this.noted.get(subject);
    if (!held || held.hint.version < version) return undefined;
    this.noted.delete(subject);
    const { hint, bytes } = held;
    try {
      const record = await this.decodeRemote(bytes);
      return record.subject === hint.subject && record.version === hint.version && record.hash === hint.hash
        ? record
        : undefined;
    } catch {
      return undefined; // an invalid record is dropped
    }
  }

  /**
   * A verified record of `subject` at `version` reached this node's datastore (its validators): the version is
   * noted, and the kept copy of a read is dropped unless newer (the datastore may now hold a better record of
   * the same version — a concurrent write — which the next read picks up). A `fresh` one (newer than the copy
   * this node held: a write, not a re-put of the same version) is read ahead, unless it is the record (`hash`) this
   * node is writing: the writer's first read of it takes its local copy, whose check encodeOwnRecord noted, and the
   * plaintext the write kept (when its role reads it at all), so the read-ahead would only take CPU from the write.
   */
  stored(subject: string, version: number, fresh: boolean, hash: string): void {
    if (fresh) this.writeQuiet.note(); // a new version, not a re-put of one held here
    const kept = this.kept.get(subject);
    if (kept && kept.version <= version) this.kept.delete(subject);
    this.noteVersion(subject, version);
    if (fresh && !this.writing.has(hash)) this.readAheadQueue.schedule(subject);
  }

  /**
   * A record this node stored as a replica of a peer's create was taken back (kad-direct's retract: the create did
   * not take everywhere). Its read-ahead kept that version: the kept copy goes, so that no read here is answered
   * with a version its replicas gave back; the writer's next version replaces it everywhere else.
   */
  retracted(bytes: Uint8Array): void {
    const given = decodeLoose(bytes);
    if (given === undefined || typeof given.subject !== 'string') return;
    const kept = this.kept.get(given.subject);
    if (kept && kept.version === given.version && kept.hash === given.hash) this.kept.delete(given.subject);
  }

  /** Read-ahead takes nothing more, nor does a warm-up that has not run yet (the node is stopping). */
  stop(): void {
    this.stopped = true;
    this.readAheadQueue.stop();
  }

  /**
   * Asks the DHT for a key and returns the best valid record, stopping as soon as it can: at once when
   * an answer reaches the newest version heard of (`known`); otherwise once `replication` peers (this
   * node included) have answered with a record — the closest peers answer first and a write reaches
   * most of them, so the best of those answers is the newest. A miss also ends early, when
   * `replication + 1` peers hold nothing; should that be wrong, a write of "version 1" is refused as
   * stale by the holders of the real record, so it fails loudly instead of forking history.
   */
  private async query(
    key: Uint8Array,
    deadline: Deadline,
    local?: DecisionRecord,
    known?: number,
  ): Promise<DecisionRecord | undefined> {
    const answered = new Set<string>();
    let best = local;
    let empty = 0;
    const enough = (): boolean =>
      best !== undefined && ((known !== undefined && best.version >= known) || answered.size >= this.opts.replication);
    if (local) answered.add(this.opts.libp2p.peerId.toString());
    if (enough()) return best;
    const signal = deadline();
    const stop = new AbortController();
    const direct = this.opts.direct;
    if (direct) {
      const self = this.opts.libp2p.peerId.toString();
      // the replicas, a peer that did not answer lately replaced by the next-closest (DirectReplicas.liveReplicaSet)
      const live = (): string[] => direct.liveReplicaSet(key, this.opts.replication).filter((p) => p !== self);
      let replicas = live();
      // not connected to anyone: there is nobody to ask, and a kad-dht walk would only wait out the
      // deadline (a lone node, like the README's first `chorus node --dev`, answers from itself)
      if (replicas.length === 0 && !connectedToAny(this.opts.libp2p)) return best;
      const responded = new Set<string>(); // peers that answered, with a record or without one
      const asking: ReplicaRead['direct'] = {
        getFrom: async (peer, k, s) => {
          const answer = await direct.getFrom(peer, k, s);
          if (answer) responded.add(peer);
          return answer;
        },
      };
      const ask = (peers: string[]) =>
        readReplicas({
          direct: asking,
          replicas: peers,
          key,
          signal: AbortSignal.any([signal, stop.signal]),
          hedged: known !== undefined,
          times: this.replicaRtt,
          enough,
          onRecord: async (peer, value) => {
            try {
              const record = await this.decodeRemote(value);
              answered.add(peer);
              if (!best || compareRecords(record, best) < 0) best = record;
            } catch {
              // invalid answers never count
            }
          },
        });
      let { done } = await ask(replicas);
      if (!done && replicas.some((p) => !responded.has(p))) {
        // those that did not answer are passed over now: the next-closest peers are asked in their places
        const asked = new Set(replicas);
        replicas = live();
        const next = replicas.filter((p) => !asked.has(p));
        if (next.length > 0) ({ done } = await ask(next));
      }
      if (done) {
        stop.abort(READ_DONE);
        return best;
      }
      const silent = replicas.some((p) => !responded.has(p));
      const belongs = direct.replicaSet(key, this.opts.replication).filter((p) => p !== self);
      // every replica answered and none holds a record: a miss, without walking the network (at least
      // replication − 1 of the key's own replicas answered: a next-closest peer that stood in for one holds nothing)
      const replicasAnswered = belongs.filter((p) => responded.has(p)).length;
      if (!silent && !best && replicasAnswered >= this.opts.replication - 1) return undefined;
      // every peer that answers was asked, in the places of replicas that do not: kad-dht's walk would ask those
      // again and wait out its deadline on them (the newest version is the best of at least replication − 1
      // holders' answers, unless a newer one was announced)
      const passedOver = belongs.some((p) => direct.unresponsive.passedOver(p));
      const newest = best && (known === undefined || best.version >= known);
      if (!silent && passedOver && newest && answered.size >= this.opts.replication - 1) return best;
      // a newest version was announced but the replicas do not have it yet, or some did not answer:
      // fall through to the iterative kad-dht lookup
    }
    try {
      for await (const event of this.opts.libp2p.services.dht.get(key, {
        signal: AbortSignal.any([signal, stop.signal]),
      })) {
        if (event.name !== 'PEER_RESPONSE' || event.messageName !== 'GET_VALUE') continue;
        if (!event.record) {
          if (!best && ++empty > this.opts.replication) break;
          continue;
        }
        let record: DecisionRecord;
        try {
          record = await this.decodeRemote(event.record.value);
        } catch {
          continue; // invalid answers never count
        }
        answered.add(event.from.toString());
        if (!best || compareRecords(record, best) < 0) best = record;
        if (enough()) break;
      }
    } catch (err) {
      if (!stop.signal.aborted && !best) {
        if (signal.aborted) throw new ChorusError('TIMEOUT', 'the DHT lookup timed out', { cause: err });
        if (!/not found/i.test(describeError(err))) throw err;
      }
    } finally {
      stop.abort(READ_DONE);
    }
    return best;
  }

  /** This node's copy of an immutable version, when it holds a valid one. */
  private async localVersion(subject: string, version: number): Promise<DecisionRecord | undefined> {
    const bytes = await readLocalRecord(this.opts.datastore, versionKey(subject, version));
    try {
      return bytes && this.decode(bytes); // versions are immutable: any valid copy is the copy
    } catch {
      return undefined;
    }
  }

  private async fetchVersion(subject: string, version: number, signal: Deadline): Promise<DecisionRecord> {
    const local = await this.localVersion(subject, version);
    if (local) return local;
    const key = versionKey(subject, version);
    const found = await this.query(key, signal, undefined, version); // immutable: one valid copy is enough
    if (!found) throw new NotFoundError(`ucxl://${subject} version ${version}`);
    return found;
  }

  /** Finds the record an address (with its temporal selector) names. */
  private async locate(address: UcxlAddress, signal: Deadline): Promise<DecisionRecord> {
    if (isPattern(address)) throw new UsageError('an address with "any" names many decisions: use `ucxl ls`');
    const subject = subjectKey(address);
    const t = address.temporal;
    if (t.kind === 'latest')
      return currentOf(await this.fetchLatest(subject, signal), this.votes, (v) =>
        this.fetchVersion(subject, v, signal),
      );
    if (t.kind === 'version') return this.fetchVersion(subject, t.version, signal);
    if (t.kind === 'first') return this.fetchVersion(subject, 1, signal);
    const latest = await this.fetchLatest(subject, signal);
    const versions = Array.from({ length: latest.version }, (_, i) => i + 1);
    const version = resolveTemporal(t, versions, t.kind === 'forward' ? 1 : undefined);
    if (version === undefined) {
      throw new ChorusError(
        'UCXL-404-NOT_FOUND',
        `UCXL-404-NOT_FOUND: ${formatAddress(address)}: no such version (latest is ${latest.version})`,
      );
    }
    return version === latest.version ? latest : this.fetchVersion(subject, version, signal);
  }

  resolve(address: UcxlAddress, signal?: AbortSignal): Promise<DecisionMeta> {
    return this.timed('resolve', async () =>
      describeVersion(await this.locate(address, this.lazySignal(signal)), this.votes),
    );
  }

  /** Reads and decrypts a decision with this node's role keys. */
  get(address: UcxlAddress, signal?: AbortSignal): Promise<{ meta: DecisionMeta; content: Uint8Array }> {
    return this.timed('get', () => this.getNow(address, signal));
  }

  private async getNow(
    address: UcxlAddress,
    signal?: AbortSignal,
  ): Promise<{ meta: DecisionMeta; content: Uint8Array }> {
    const record = await this.locate(address, this.lazySignal(signal));
    if (record.deleted) throw new NotFoundError(`${meta(record).address} (deleted)`);
    const content = await this.plaintextOf(record);
    return { meta: describeVersion(record, this.votes), content };
  }

  /**
   * A verified record's payload decrypted with this node's role keys, once per record and reader; `known`:
   * the plaintext, when this node wrote the record (kept without decrypting).
   */
  private plaintextOf(record: DecisionRecord, known?: Uint8Array): Promise<Uint8Array> {
    const role = this.opts.role;
    const identities = this.opts.keyring.identitiesFor(role);
    return this.plaintexts.read(record.hash, { role, identities }, () =>
      known
        ? Promise.resolve(known)
        : decryptAsRole(Buffer.from(record.payload, 'base64'), {
            role,
            identities,
            readers: readersOf(record.roles, this.opts.policy),
          }),
    );
  }

  /** Every version, newest first, with the hash chain checked link by link. */
  history(address: UcxlAddress, signal?: AbortSignal): Promise<DecisionMeta[]> {
    return this.timed('history', () => this.historyNow(address, signal));
  }

  private async historyNow(address: UcxlAddress, signal?: AbortSignal): Promise<DecisionMeta[]> {
    const s = this.lazySignal(signal);
    const subject = subjectKey(address);
    const latest = await this.fetchLatest(subject, s);
    const out = [latest];
    for (let v = latest.version - 1; v >= 1; v--) {
      const record = await this.fetchVersion(subject, v, s);
      const newer = out[out.length - 1] as DecisionRecord;
      if (newer.prevHash !== record.hash) {
        throw new ChorusError('CHAIN_BROKEN', `version ${newer.version} of ${subject} does not link to version ${v}`);
      }
      out.push(record);
    }
    return out.map((r) => describeVersion(r, this.votes));
  }

  /** Latest records this node holds that match a pattern (an address with "any" parts). */
  async list(pattern: UcxlAddress): Promise<DecisionMeta[]> {
    const out: DecisionMeta[] = [];
    for await (const { dhtKey, record } of this.heldRecords()) {
      if (!dhtKey.startsWith(`/${LATEST_NS}/`)) continue;
      try {
        if (matches(pattern, parseAddress(meta(record).address))) out.push(describeVersion(record, this.votes));
      } catch {
        // a subject that no longer parses is skipped
      }
    }
    // code-unit order, as sort() orders strings (localeCompare would load ICU's collation tables)
    return out.sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0));
  }

  /** The record this node stores under a DHT key, if any (as raw bytes). */
  localRecord(key: Uint8Array): Promise<Uint8Array | undefined> {
    return readLocalRecord(this.opts.datastore, key);
  }

  /** How many decision records the local store holds: latest pointers and immutable versions. */
  async heldRecordCount(): Promise<{ latest: number; versions: number }> {
    const count = { latest: 0, versions: 0 };
    for await (const dhtKey of heldRecordKeys(this.opts.datastore)) {
      if (dhtKey.startsWith(`/${LATEST_NS}/`)) count.latest++;
      else if (dhtKey.startsWith(`/${VERSION_NS}/`)) count.versions++;
    }
    return count;
  }

  /** The deadline of an operation the caller gives no signal. */
  get timeoutMs(): number {
    return this.opts.timeoutMs ?? 10_000;
  }

  /** Changes the role used to author and decrypt (a new role forgets the kept plaintexts), and the deadline (SIGHUP). */
  configure(opts: { role?: string; timeoutMs?: number }): void {
    if (opts.role && opts.role !== this.opts.role) {
      this.opts.role = opts.role;
      this.plaintexts.clear();
    }
    if (opts.timeoutMs) this.opts.timeoutMs = opts.timeoutMs;
  }

  /** Subjects this node holds or has heard announced. */
  async knownSubjects(): Promise<string[]> {
    const subjects = new Set(this.hints.subjects());
    for await (const { record } of this.heldRecords()) subjects.add(record.subject);
    return [...subjects].sort();
  }

  /**
   * Every valid decision record in the local datastore, with the DHT key it is stored under; with `wanted`, only the
   * records it takes, asked before a record is decoded and checked (~0.2 ms each); it ends once `signal` aborts.
   * The event loop gets a turn every HELD_RECORDS_PER_TURN records read, so that a pass over a large store does not
   * hold it.
   */
  async *heldRecords(opts: HeldRecordsOptions = {}): AsyncGenerator<HeldRecord> {
    const { wanted, signal } = opts;
    let read = 0;
    for await (const { dhtKey, value, storedAt } of heldRecords(this.opts.datastore)) {
      if (signal?.aborted) return;
      if (++read % HELD_RECORDS_PER_TURN === 0) await nextTurn();
      if (wanted && !wanted(dhtKey, storedAt)) continue;
      try {
        yield { dhtKey, bytes: value, record: this.decode(value), storedAt };
      } catch {
        // not a decision record: skipped
      }
    }
  }

  /** Reports a re-replication of a subject's latest record (the republisher calls it). */
  replicated(subject: string, holders: number, want: number): void {
    this.noteReplication(subject, holders, want);
  }

  /**
   * As of now (a pass re-puts a subject's latest record before or after its version records, and the first re-put
   * may clear it): whether this node's last write or re-put of a subject fell short, asked with either DHT key.
   */
  fellShort(): (dhtKey: string) => boolean {
    const ids = new Set(this.shortSubjects);
    return (dhtKey) => {
      const id = subjectIdOf(dhtKey);
      return id !== undefined && ids.has(id);
    };
  }

  /** The holders a write needs: `replication`, except on a lone node, which needs only itself (see alone()). */
  holdersWanted(replication: number): number {
    return this.alone() ? 1 : replication;
  }

  /**
   * Reports a write's or re-put's holders of the latest record; it fell short if `reached` (the fewest holders of
   * any of its keys) is below what it wanted (a lone node needs only itself), and so does the 'replication'
   * event that the under-replication metrics count.
   */
  private noteReplication(subject: string, holders: number, want: number, reached = holders): void {
    const id = subjectId(subject);
    const wanted = this.holdersWanted(want);
    this.shortSubjects.delete(id); // re-added last: the set's order is the eviction order
    if (reached < wanted) {
      this.shortSubjects.add(id);
      if (this.shortSubjects.size > MAX_SHORT_SUBJECTS)
        this.shortSubjects.delete(this.shortSubjects.values().next().value as string);
    }
    this.emit('replication', { subject, holders, want: wanted });
  }

  /**
   * A verified version of `subject` newer than `version` held by its replicas, asked directly (one
   * hop, no iterative lookup): what a validator checks before refusing a record as stale because of a hint.
   */
  async newerOnReplicas(subject: string, version: number): Promise<number | undefined> {
    const direct = this.opts.direct;
    if (!direct) return undefined;
    const key = latestKey(subject);
    const self = this.opts.libp2p.peerId.toString();
    const signal = AbortSignal.timeout(Math.min(this.timeoutMs, 3000));
    const peers = direct.liveReplicaSet(key, this.opts.replication).filter((p) => p !== self);
    const answers = await Promise.all(peers.map((p) => direct.getFrom(p, key, signal)));
    let newest: number | undefined;
    for (const answer of answers) {
      if (!answer?.value) continue;
      try {
        const record = this.decode(answer.value);
        if (record.subject === subject && record.version > version && record.version > (newest ?? 0))
          newest = record.version;
      } catch {
        // an invalid answer proves nothing
      }
    }
    return newest;
  }

  /** Peers currently known to provide a subject (provider records). */
  providers(address: UcxlAddress, signal?: AbortSignal): Promise<string[]> {
    return findProviders(this.opts.libp2p.services.dht, subjectKey(address), this.operationSignal(signal));
  }
}
