// The decision store over the Kademlia DHT: versioned, signed, role-encrypted decisions with verified
// replication (a PUT counts the peers that stored it), fast reads (local copy when it is known to be
// the newest, otherwise the lookup stops as soon as enough valid answers agree), and re-replication.
import { setTimeout as delay } from 'node:timers/promises';
import { Record as DhtRecord } from '@libp2p/kad-dht';
import { EventEmitter } from 'node:events';
import type { Datastore } from 'interface-datastore';
import { base32 } from 'multiformats/bases/base32';
import { CID } from 'multiformats/cid';
import { sha256 } from 'multiformats/hashes/sha2';
import { decryptAsRole, encryptForRoles } from '../crypto/envelope.ts';
import type { RoleKeyring } from '../crypto/keyring.ts';
import { readersOf, type RolePolicy } from '../crypto/policy.ts';
import type { DirectReplicas } from '../dht/direct.ts';
import { readLocalRecord, DHT_DATASTORE_PREFIX, type DhtContext } from '../dht/kad.ts';
import { ChorusError, describeError, UsageError } from '../errors.ts';
import { checkDecisionSize } from '../limits.ts';
import type { Logger } from '../log.ts';
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
import {
  compareRecords,
  decodeRecord,
  encodeRecord,
  latestKey,
  LATEST_NS,
  VERSION_NS,
  signDecision,
  versionKey,
  type DecisionRecord,
} from './record.ts';

export class NotFoundError extends ChorusError {
  constructor(what: string) {
    super('UCXL-404-NOT_FOUND', `UCXL-404-NOT_FOUND: ${what} not found`);
    this.name = 'NotFound';
  }
}

export class ReplicationError extends ChorusError {
  readonly holders: number;
  constructor(message: string, holders: number) {
    super('REPLICATION_FAILED', message);
    this.name = 'ReplicationFailed';
    this.holders = holders;
  }
}

export interface DecisionMeta {
  address: string;
  subject: string;
  version: number;
  author: string;
  authorRole: string;
  timestamp: string;
  contentType: string;
  prevHash: string;
  hash: string;
  roles: string[];
  size: number;
  deleted: boolean;
}

export interface PutReceipt extends DecisionMeta {
  /** Peers holding the latest record: this node plus the remote peers that confirmed storing it. */
  holders: number;
  holderPeers: string[];
  replication: number;
}

export interface DecisionStoreOptions {
  libp2p: ChorusLibp2p;
  datastore: Datastore;
  keyring: RoleKeyring;
  policy: RolePolicy;
  role: string;
  signer: Signer;
  validation: DhtContext;
  replication: number;
  logger: Logger;
  /** Re-put held records on this schedule (and shortly after peers connect). */
  republishIntervalMs: number;
  /** Per-operation deadline when the caller gives no signal. */
  timeoutMs?: number;
  /** One-hop replica access through the routing table (falls back to kad-dht queries when absent or short). */
  direct?: DirectReplicas;
  /** Tells other nodes that a version exists (wired to a pubsub hint by the node). */
  announce?: (hint: { subject: string; version: number; hash: string }) => void;
}

export interface PutOptions {
  contentType?: string;
  roles?: string[];
  deleted?: boolean;
  signal?: AbortSignal;
}

function meta(d: DecisionRecord): DecisionMeta {
  const [who, rest] = d.subject.split('@') as [string, string];
  const slash = rest.indexOf('/');
  const [where, path] = slash < 0 ? [rest, ''] : [rest.slice(0, slash), rest.slice(slash + 1)];
  const address = `ucxl://${who}@${where}/*~${d.version}${path ? `/${path}` : ''}`;
  return {
    address,
    subject: d.subject,
    version: d.version,
    author: d.author,
    authorRole: d.authorRole,
    timestamp: d.timestamp,
    contentType: d.contentType,
    prevHash: d.prevHash,
    hash: d.hash,
    roles: d.roles,
    size: d.size,
    deleted: d.deleted ?? false,
  };
}

const decoder = new TextDecoder();
/** Quiet time after the last write before provider records are announced (1-2x, jittered). */
const PROVIDE_DEBOUNCE_MS = 2000;
/**
 * Mean time between two provider announcements of one node (0.5-1.5x, jittered). Each is a Kademlia
 * walk plus ADD_PROVIDER to the k closest peers (~40 streams): back to back, 20 nodes in one process
 * announcing 200 writes kept the event loop saturated for 12 s (GET p99 0.7-1.1 s; without
 * announcements 16 ms).
 */
const PROVIDE_GAP_MS = 5000;

export interface DecisionStoreEvents {
  version: [{ subject: string; version: number }];
  /** One finished operation (metrics): its latency, and the error code when it failed. */
  op: [{ op: 'put' | 'get' | 'resolve' | 'history'; ms: number; ok: boolean; code?: string }];
  /** A write or re-replication of a subject reached `holders` of the `want` required. */
  replication: [{ subject: string; holders: number; want: number }];
}

export class DecisionStore extends EventEmitter<DecisionStoreEvents> {
  private readonly opts: DecisionStoreOptions;
  /** Newest version heard of per subject (own writes, reads, announcements). */
  private readonly hints = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private republishing: Promise<void> | undefined;
  private readonly provideQueue = new Set<string>();
  private provideTimer: NodeJS.Timeout | undefined;
  private draining = false;
  private readonly controller = new AbortController();
  /** Peers that joined or left since the last targeted re-replication. */
  private readonly changedPeers = new Set<string>();
  private readonly onMembership = (evt: CustomEvent<{ toString(): string }>): void => {
    this.changedPeers.add(evt.detail.toString());
    clearTimeout(this.connectTimer);
    this.connectTimer = setTimeout(() => {
      const peers = new Set(this.changedPeers);
      this.changedPeers.clear();
      void this.republish(peers);
    }, 1000);
    this.connectTimer.unref();
  };

  constructor(opts: DecisionStoreOptions) {
    super();
    this.opts = opts;
  }

  start(): void {
    this.timer = setInterval(() => void this.republish(), this.opts.republishIntervalMs);
    this.timer.unref();
    this.opts.libp2p.addEventListener('peer:connect', this.onMembership as EventListener);
    this.opts.libp2p.addEventListener('peer:disconnect', this.onMembership as EventListener);
  }

  async stop(): Promise<void> {
    this.controller.abort();
    clearInterval(this.timer);
    clearTimeout(this.connectTimer);
    clearTimeout(this.provideTimer);
    this.opts.libp2p.removeEventListener('peer:connect', this.onMembership as EventListener);
    this.opts.libp2p.removeEventListener('peer:disconnect', this.onMembership as EventListener);
    await this.republishing?.catch(() => {});
  }

  /** The one-hop replica access this store writes and reads through (the health probe uses it too). */
  get replicas(): DirectReplicas | undefined {
    return this.opts.direct;
  }

  /** Records that a newer version exists somewhere (from an announcement). */
  noteVersion(subject: string, version: number): void {
    if ((this.hints.get(subject) ?? 0) >= version) return;
    this.hints.set(subject, version);
    this.emit('version', { subject, version });
  }

  /** The newest version of a subject this node has heard of. */
  knownVersion(subject: string): number | undefined {
    return this.hints.get(subject);
  }

  /**
   * The signal of one operation: its deadline and the caller's signal. (Not the store's own stop
   * signal: AbortSignal.any keeps every composite alive as long as a long-lived source lives — about
   * 1 KB per operation. On stop, libp2p closes its streams, so operations in flight end anyway.)
   */
  private signal(signal?: AbortSignal): AbortSignal {
    const deadline = AbortSignal.timeout(this.opts.timeoutMs ?? 10_000);
    return signal ? AbortSignal.any([deadline, signal]) : deadline;
  }

  private decode(bytes: Uint8Array): DecisionRecord {
    return decodeRecord(bytes, this.opts.validation);
  }

  /** decode() for answers from peers: an author this node has not met yet gets one admission lookup. */
  private async decodeRemote(bytes: Uint8Array): Promise<DecisionRecord> {
    try {
      return this.decode(bytes);
    } catch (err) {
      const author = looseAuthor(bytes);
      const { awaitAdmission, isAdmitted } = this.opts.validation;
      if (!awaitAdmission || author === undefined || isAdmitted(author)) throw err;
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
    return this.timed('put', () => this.putNow(address, content, opts));
  }

  private async putNow(address: UcxlAddress, content: Uint8Array, opts: PutOptions): Promise<PutReceipt> {
    if (isPattern(address))
      throw new UsageError('cannot write to an address with "any": name the agent, role, project and task');
    if (address.temporal.kind !== 'latest') {
      throw new UsageError(
        `writes always create the next version: use *^ in the address, not ${formatAddress(address)}`,
      );
    }
    checkDecisionSize(content.byteLength); // the documented limit, before encryption inflates it
    const signal = this.signal(opts.signal);
    const subject = subjectKey(address);
    const previous = await this.fetchLatest(subject, signal, true).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    const roles = opts.roles?.length ? opts.roles : [this.opts.role];
    const readers = readersOf(roles, this.opts.policy);
    const payload = opts.deleted
      ? new Uint8Array()
      : await encryptForRoles(content, this.opts.keyring.recipients(readers));
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
        roles,
        payload: Buffer.from(payload).toString('base64'),
        size: opts.deleted ? 0 : content.byteLength,
        ...(opts.deleted ? { deleted: true } : {}),
      },
      this.opts.signer.sign,
    );
    const bytes = encodeRecord(record);
    const [holderPeers] = await Promise.all([
      this.replicate(latestKey(subject), bytes, signal),
      this.replicate(versionKey(subject, record.version), bytes, signal),
    ]);
    this.noteVersion(subject, record.version);
    this.opts.announce?.({ subject, version: record.version, hash: record.hash });
    this.scheduleProvide(subject);
    const receipt = { ...meta(record), holders: holderPeers.length, holderPeers, replication: this.opts.replication };
    this.emit('replication', { subject, holders: holderPeers.length, want: this.opts.replication });
    if (holderPeers.length < this.opts.replication) {
      throw new ReplicationError(
        `stored on ${holderPeers.length} of ${this.opts.replication} required peers (version ${record.version} is kept locally and re-replicated when peers join)`,
        holderPeers.length,
      );
    }
    return receipt;
  }

  /**
   * PUTs a record into the DHT and returns its holders: this node (kad-dht stores the record locally
   * first and serves it from there) plus every remote peer that confirmed storing it. Stops once
   * `replication` holders are reached.
   */
  private async replicate(key: Uint8Array, value: Uint8Array, signal: AbortSignal): Promise<string[]> {
    const self = this.opts.libp2p.peerId.toString();
    const direct = this.opts.direct;
    if (direct) {
      await direct.store(key, value);
      const holders = new Set<string>([self]);
      const want = this.opts.replication;
      const tried = new Set<string>([self]);
      // the replica set first, then the next-closest peers, until enough confirmed
      for (const width of [want, want + 3]) {
        const batch = direct.replicaSet(key, width).filter((p) => !tried.has(p));
        batch.forEach((p) => tried.add(p));
        const ok = await Promise.all(batch.map((p) => direct.putTo(p, key, value, signal)));
        batch.forEach((p, i) => ok[i] && holders.add(p));
        if (holders.size >= want) return [...holders];
      }
      for (const p of await this.replicateKad(key, value, signal)) holders.add(p);
      return [...holders];
    }
    return this.replicateKad(key, value, signal);
  }

  /** The iterative kad-dht PUT (lookup of the closest peers, then PUT_VALUE to them). */
  private async replicateKad(key: Uint8Array, value: Uint8Array, signal: AbortSignal): Promise<string[]> {
    const stop = new AbortController();
    const holders = new Set<string>([this.opts.libp2p.peerId.toString()]);
    try {
      for await (const event of this.opts.libp2p.services.dht.put(key, value, {
        signal: AbortSignal.any([signal, stop.signal]),
      })) {
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE' && event.record) {
          holders.add(event.from.toString());
          if (holders.size >= this.opts.replication) {
            stop.abort();
            break;
          }
        }
      }
    } catch (err) {
      if (!stop.signal.aborted && !signal.aborted) throw err;
      if (signal.aborted && holders.size < this.opts.replication)
        this.opts.logger.debug('put interrupted', { error: describeError(err) });
    }
    return [...holders];
  }

  /**
   * Provider records are announced in the background, one at a time, once writes pause: a provide is
   * an iterative DHT walk, and running one per write made every write several times slower.
   */
  private scheduleProvide(subject: string): void {
    this.provideQueue.add(subject);
    clearTimeout(this.provideTimer);
    if (this.draining) return; // the running drain takes it
    // jittered: nodes that wrote together do not all start walking at the same moment
    this.provideTimer = setTimeout(() => void this.drainProvides(), PROVIDE_DEBOUNCE_MS * (1 + Math.random()));
    this.provideTimer.unref();
  }

  /** Announces the queued subjects one at a time, PROVIDE_GAP_MS apart (a subject queued twice goes once). */
  private async drainProvides(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      for (const subject of this.provideQueue) {
        if (this.controller.signal.aborted) return;
        this.provideQueue.delete(subject);
        await this.provide(subject);
        if (this.provideQueue.size > 0) {
          const gap = PROVIDE_GAP_MS * (0.5 + Math.random());
          await delay(gap, undefined, { signal: this.controller.signal, ref: false }).catch(() => {});
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private async provide(subject: string): Promise<void> {
    try {
      const cid = CID.createV1(0x55, await sha256.digest(new TextEncoder().encode(subject)));
      for await (const _ of this.opts.libp2p.services.dht.provide(cid, { signal: this.signal() })) {
        // drain
      }
    } catch (err) {
      this.opts.logger.debug('provide failed', { subject, error: describeError(err) });
    }
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
   * The newest version of a subject. Served locally when the local copy is at least as new as any
   * version heard of (announcements arrive within milliseconds of a write); otherwise, and always for
   * `fresh` reads (a writer choosing the next version), asks the DHT (see query).
   */
  private async fetchLatest(subject: string, signal: AbortSignal, fresh = false): Promise<DecisionRecord> {
    const local = await this.localLatest(subject);
    const hint = fresh ? undefined : this.hints.get(subject);
    if (local && hint !== undefined && local.version >= hint) return local;
    const best = await this.query(latestKey(subject), signal, local, hint);
    if (!best) throw new NotFoundError(`ucxl://${subject}`);
    this.noteVersion(subject, best.version);
    return best;
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
    signal: AbortSignal,
    local?: DecisionRecord,
    known?: number,
  ): Promise<DecisionRecord | undefined> {
    const stop = new AbortController();
    const answered = new Set<string>();
    let best = local;
    let empty = 0;
    const enough = (): boolean =>
      best !== undefined && ((known !== undefined && best.version >= known) || answered.size >= this.opts.replication);
    if (local) answered.add(this.opts.libp2p.peerId.toString());
    if (enough()) return best;
    const direct = this.opts.direct;
    if (direct) {
      const self = this.opts.libp2p.peerId.toString();
      const replicas = direct.replicaSet(key, this.opts.replication).filter((p) => p !== self);
      let failures = 0;
      const done = await new Promise<boolean>((resolve) => {
        let pending = replicas.length;
        if (pending === 0) resolve(false);
        for (const peer of replicas) {
          void direct.getFrom(peer, key, AbortSignal.any([signal, stop.signal])).then(async (answer) => {
            if (!answer) failures++;
            else if (answer.value) {
              try {
                const record = await this.decodeRemote(answer.value);
                answered.add(peer);
                if (!best || compareRecords(record, best) < 0) best = record;
              } catch {
                // invalid answers never count
              }
            }
            if (enough()) resolve(true);
            else if (--pending === 0) resolve(false);
          });
        }
      });
      if (done) {
        stop.abort();
        return best;
      }
      // every replica answered and none holds a record: a miss, without walking the network
      if (failures === 0 && !best && replicas.length >= this.opts.replication - 1) return undefined;
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
      stop.abort();
    }
    return best;
  }

  private async fetchVersion(subject: string, version: number, signal: AbortSignal): Promise<DecisionRecord> {
    const key = versionKey(subject, version);
    const localBytes = await readLocalRecord(this.opts.datastore, key);
    if (localBytes) {
      try {
        return this.decode(localBytes); // versions are immutable: any valid copy is the copy
      } catch {
        // fall through to the network
      }
    }
    const found = await this.query(key, signal, undefined, version); // immutable: one valid copy is enough
    if (!found) throw new NotFoundError(`ucxl://${subject} version ${version}`);
    return found;
  }

  /** Finds the record an address (with its temporal selector) names. */
  private async locate(address: UcxlAddress, signal: AbortSignal): Promise<DecisionRecord> {
    if (isPattern(address)) throw new UsageError('an address with "any" names many decisions: use `ucxl ls`');
    const subject = subjectKey(address);
    const t = address.temporal;
    if (t.kind === 'latest') return this.fetchLatest(subject, signal);
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
    return this.timed('resolve', async () => meta(await this.locate(address, this.signal(signal))));
  }

  /** Reads and decrypts a decision with this node's role keys. */
  get(address: UcxlAddress, signal?: AbortSignal): Promise<{ meta: DecisionMeta; content: Uint8Array }> {
    return this.timed('get', () => this.getNow(address, signal));
  }

  private async getNow(
    address: UcxlAddress,
    signal?: AbortSignal,
  ): Promise<{ meta: DecisionMeta; content: Uint8Array }> {
    const record = await this.locate(address, this.signal(signal));
    if (record.deleted) throw new NotFoundError(`${meta(record).address} (deleted)`);
    const content = await decryptAsRole(Buffer.from(record.payload, 'base64'), {
      role: this.opts.role,
      identities: this.opts.keyring.identitiesFor(this.opts.role),
      readers: readersOf(record.roles, this.opts.policy),
    });
    return { meta: meta(record), content };
  }

  /** Every version, newest first, with the hash chain checked link by link. */
  history(address: UcxlAddress, signal?: AbortSignal): Promise<DecisionMeta[]> {
    return this.timed('history', () => this.historyNow(address, signal));
  }

  private async historyNow(address: UcxlAddress, signal?: AbortSignal): Promise<DecisionMeta[]> {
    const s = this.signal(signal);
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
    return out.map(meta);
  }

  /** Latest records this node holds that match a pattern (an address with "any" parts). */
  async list(pattern: UcxlAddress): Promise<DecisionMeta[]> {
    const out: DecisionMeta[] = [];
    for await (const { dhtKey, record } of this.heldRecords()) {
      if (!dhtKey.startsWith(`/${LATEST_NS}/`)) continue;
      try {
        if (matches(pattern, parseAddress(meta(record).address))) out.push(meta(record));
      } catch {
        // a subject that no longer parses is skipped
      }
    }
    return out.sort((a, b) => a.subject.localeCompare(b.subject));
  }

  /** The record this node stores under a DHT key, if any (as raw bytes). */
  localRecord(key: Uint8Array): Promise<Uint8Array | undefined> {
    return readLocalRecord(this.opts.datastore, key);
  }

  /** How many decision records the local store holds: latest pointers and immutable versions. */
  async heldRecordCount(): Promise<{ latest: number; versions: number }> {
    const prefix = `${DHT_DATASTORE_PREFIX}/record/`;
    const count = { latest: 0, versions: 0 };
    for await (const key of this.opts.datastore.queryKeys({ prefix })) {
      let dhtKey: string;
      try {
        dhtKey = decoder.decode(base32.baseDecode(key.toString().slice(prefix.length)));
      } catch {
        continue;
      }
      if (dhtKey.startsWith(`/${LATEST_NS}/`)) count.latest++;
      else if (dhtKey.startsWith(`/${VERSION_NS}/`)) count.versions++;
    }
    return count;
  }

  /** Changes the role used to author and decrypt, and the operation deadline (SIGHUP). */
  configure(opts: { role?: string; timeoutMs?: number }): void {
    if (opts.role) this.opts.role = opts.role;
    if (opts.timeoutMs) this.opts.timeoutMs = opts.timeoutMs;
  }

  /** Subjects this node holds or has heard announced. */
  async knownSubjects(): Promise<string[]> {
    const subjects = new Set(this.hints.keys());
    for await (const { record } of this.heldRecords()) subjects.add(record.subject);
    return [...subjects].sort();
  }

  /** Every valid decision record in the local datastore, with the DHT key it is stored under. */
  private async *heldRecords(): AsyncGenerator<{ dhtKey: string; bytes: Uint8Array; record: DecisionRecord }> {
    const prefix = `${DHT_DATASTORE_PREFIX}/record/`;
    for await (const { key, value } of this.opts.datastore.query({ prefix })) {
      try {
        const dhtKey = decoder.decode(base32.baseDecode(key.toString().slice(prefix.length)));
        const bytes = DhtRecord.deserialize(value).value;
        yield { dhtKey, bytes, record: this.decode(bytes) };
      } catch {
        // not a decision record (or damaged): skipped
      }
    }
  }

  /**
   * Re-puts held decision records so that each lives on `replication` current peers. With `changed`
   * (peers that joined or left), only records whose replica set involves one of them are re-put: a
   * joining peer receives the records it is now responsible for, and a departed holder is replaced.
   */
  republish(changed?: Set<string>): Promise<void> {
    this.republishing ??= (async () => {
      try {
        for await (const { dhtKey, bytes, record } of this.heldRecords()) {
          if (this.controller.signal.aborted) return;
          const key = new TextEncoder().encode(dhtKey);
          const direct = this.opts.direct;
          if (changed && direct) {
            const set = direct.replicaSet(key, this.opts.replication + changed.size);
            if (!set.some((p) => changed.has(p))) continue;
          }
          if (dhtKey.startsWith(`/${LATEST_NS}/`)) this.scheduleProvide(record.subject);
          const holders = await this.replicate(key, bytes, this.signal());
          if (dhtKey.startsWith(`/${LATEST_NS}/`)) {
            this.emit('replication', { subject: record.subject, holders: holders.length, want: this.opts.replication });
          }
          if (holders.length < this.opts.replication) {
            this.opts.logger.warn('decision under-replicated', {
              subject: record.subject,
              version: record.version,
              holders: holders.length,
              want: this.opts.replication,
            });
          }
        }
      } catch (err) {
        this.opts.logger.debug('republish stopped', { error: describeError(err) });
      } finally {
        this.republishing = undefined;
      }
    })();
    return this.republishing;
  }

  /** Peers currently known to provide a subject (provider records). */
  async providers(address: UcxlAddress, signal?: AbortSignal): Promise<string[]> {
    const cid = CID.createV1(0x55, await sha256.digest(new TextEncoder().encode(subjectKey(address))));
    const found = new Set<string>();
    try {
      for await (const e of this.opts.libp2p.services.dht.findProviders(cid, { signal: this.signal(signal) })) {
        if (e.name === 'PROVIDER') for (const p of e.providers) found.add(p.id.toString());
      }
    } catch {
      // a timeout ends the search with what was found
    }
    return [...found];
  }
}

function looseAuthor(bytes: Uint8Array): string | undefined {
  try {
    const author = (JSON.parse(new TextDecoder().decode(bytes)) as { author?: unknown }).author;
    return typeof author === 'string' ? author : undefined;
  } catch {
    return undefined;
  }
}
