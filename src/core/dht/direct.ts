// One-hop access to a key's replicas. In a cluster the Kademlia routing table already knows the peers
// closest (by XOR distance) to any key, so a write goes straight to them and a read asks them directly,
// instead of an iterative lookup that walks the network first. Records are stored exactly as kad-dht
// stores them (same datastore key, record format and validators), so kad-dht GET_VALUE queries find
// them too; callers fall back to the iterative kad-dht query when the direct path is not enough.
// Requests travel on a persistent channel per peer (/chorus/kad-direct/1.1.0, p2p/rpc.ts), opened as the peer
// connects (once identify says it speaks the protocol); the one-stream-per-request /chorus/kad-direct/1.0.0 is
// still answered, and used towards peers without 1.1.0.
// A record stored under several keys at once (a decision's latest-version and version keys) goes to a peer
// that replicates more than one of them in one request (op 'puts': one value, its keys; one validation pass and
// one datastore batch on the receiver). A peer of an earlier release answers that op "bad request": it then
// gets one 'put' per key, as before.
// Provider records go the same way: ADD_PROVIDER straight to the peers closest to the CID (provideTo).
// A short note (noteTo: a kind and bytes, handed with the sender's peer ID to the handler registered for that
// kind) rides the same channels: the decisions service tells peers of a new version that way.
// A create (op 'creates', createAllTo) is a 'puts' that a peer carries out only when it holds no other record under
// any of the keys, and then under all of them or none: a writer's first version of a subject needs no read first.
// A peer of an earlier release answers it "bad request", and the writer reads first, as before. A create that did
// not take on every replica is taken back (op 'retract') from the peers that took it: only by the peer that sent
// it, shortly after, and only while the same bytes are held.
// A peer that does not answer a request is passed over until it answers again (unresponsive.ts): liveReplicaSet names
// the next-closest peer in its place, so that writes and reads do not wait out each request's deadline on it again;
// whether it answers again is asked in the background (probe). Such a peer that still does not answer and that no
// connection reaches any more leaves kad-dht's routing table (leaveTableIfGone).
// Size: one class for the one-hop protocol: its requests, its answers and the replica sets they go to share the
// channel and the per-peer state (earlier releases, creates, unresponsive peers).
import type { Connection, IdentifyResult, Libp2p, PeerId, Stream } from '@libp2p/interface';
import { MessageType, Record as DhtRecord } from '@libp2p/kad-dht';
import type { CID } from 'multiformats/cid';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Datastore } from 'interface-datastore';
import { isTimeoutReason, withDeadline } from '../deadline.ts';
import { ReplicaSets, type RoutingTableView } from './replica-sets.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { connectedToAny } from '../p2p/connected.ts';
import { RemoteError, RpcClient, serveChannel } from '../p2p/rpc.ts';
import { readJson, requestJson } from '../p2p/streams.ts';
import { UnresponsivePeers } from './unresponsive.ts';
import { CreatedRecords } from './created-records.ts';
import { readLocalRecord, recordDatastoreKey } from './kad.ts';
import type { RecordNamespaces } from './namespaces.ts';

export const DIRECT_PROTOCOL = '/chorus/kad-direct/1.1.0';
/** The one-stream-per-request protocol of earlier releases, still answered. */
export const DIRECT_PROTOCOL_V1 = '/chorus/kad-direct/1.0.0';
const MAX_MESSAGE = 2 * 1024 * 1024;

interface Request {
  op: 'get' | 'put' | 'puts' | 'creates' | 'retract' | 'note';
  /** base64 DHT key (get, put; puts, creates: its first key, so that a peer of an earlier release answers "bad request"); the note's kind (note) */
  key: string;
  value?: string;
  /** puts, creates, retract: every base64 DHT key the value is stored under */
  keys?: string[];
}

/** Takes a note from a peer (the sender's peer ID, authenticated by the connection); the handler checks the bytes. */
export type NoteHandler = (from: string, value: Uint8Array) => void;

interface Response {
  ok: boolean;
  value?: string;
  error?: string;
  /** puts, creates: per key, in order, whether it was stored (and why not; `exists`: another record is held) */
  results?: { ok: boolean; error?: string; exists?: boolean }[];
}

/** What a create (createAllTo) came to on one peer. */
export type CreateOutcome =
  | 'created' // stored under every key
  | 'exists' // the peer holds another record under one of the keys: nothing stored
  | 'refused' // a key's namespace refused the record: nothing stored
  | 'unsupported' // a peer of an earlier release (no 'creates'): nothing stored
  | 'failed'; // no answer

/** A create found another record under its key (storeAll with `create`). */
export class RecordExistsError extends Error {
  constructor(key: Uint8Array) {
    super(`another record is held under ${new TextDecoder().decode(key)}`);
    this.name = 'RecordExistsError';
  }
}

/** Keys one 'puts' request may carry. */
const MAX_PUT_KEYS = 8;
/** What a receiver without an op ('puts', 'creates') answers. */
const BAD_REQUEST = 'bad request';
/** How long a peer that lacks an op is served without it (one 'put' per key; a read before a first version). */
const EARLIER_RELEASE_MS = 5 * 60_000;

/** What a listener of kad-dht's routing table needs: it emits 'peer:add' and 'peer:remove' with a PeerId. */
export type RoutingEvents = Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;

/**
 * The parts of kad-dht 16's service that a one-hop provider announcement uses (public fields of its
 * KadDHT class, not of the exported interface: when a release lacks them, provideTo returns undefined
 * and the caller walks the network with kad-dht's own provide).
 */
interface KadInternals {
  routingTable?: RoutingTableView;
  providers?: { addProvider(cid: CID, provider: PeerId, options?: { signal?: AbortSignal }): Promise<void> };
  network?: {
    sendMessage(
      to: PeerId,
      msg: { type: MessageType; key: Uint8Array; providers: { id: Uint8Array; multiaddrs: Uint8Array[] }[] },
      options: { signal?: AbortSignal; path: { index: number; queued: number; running: number; total: number } },
    ): AsyncIterable<{ name: string }>;
  };
}

/** A request cut short by its caller's deadline counts as the peer's silence only after this long. */
const MIN_SILENCE_MS = 1000;
/** liveReplicaSet looks at most this many peers further out for those it passes over. */
const MAX_PASSED_OVER_WIDTH = 16;

/** What a probe reads (unresponsive.ts): a key under no namespace, so nobody holds a record under it. */
const PROBE_KEY = Buffer.from('/chorus-probe').toString('base64');

/** The keys of a 'puts' request: base64 strings, at least one, at most MAX_PUT_KEYS. */
function validKeys(keys: unknown): keys is string[] {
  return (
    Array.isArray(keys) && keys.length > 0 && keys.length <= MAX_PUT_KEYS && keys.every((k) => typeof k === 'string')
  );
}

export interface DirectOptions {
  libp2p: Libp2p & { services: { dht: unknown } };
  datastore: Datastore;
  /** The registered record namespaces: a record is stored only when its namespace validates it. */
  namespaces: Pick<RecordNamespaces, 'validate'>;
  logger: Logger;
  timeoutMs?: number;
}

export class DirectReplicas {
  private readonly opts: DirectOptions;
  private readonly rpc: RpcClient;
  private readonly notes = new Map<string, NoteHandler>();
  /** Peers that answered 'puts' with "bad request" (an earlier release), until when they get one 'put' per key. */
  private readonly singlePutsUntil = new Map<string, number>();
  /** Peers that answered 'creates' with "bad request" (an earlier release), until when they are not asked again. */
  private readonly noCreatesUntil = new Map<string, number>();
  /** Set between stop and start: no request's failure is noted then. */
  private stopped = false;
  /** Records stored here by peers' creates, which those peers may take back for a while. */
  private readonly created = new CreatedRecords();
  /** Told of each record a peer took back from this node (so what read it ahead can forget it). */
  private onGivenBack: ((key: Uint8Array, value: Uint8Array) => void) | undefined;
  /** The replica sets, from kad-dht's routing table (kept while it holds the same peers). */
  private readonly sets: ReplicaSets;
  /** Peers that did not answer a request lately: passed over by liveReplicaSet until a probe or request reaches them. */
  readonly unresponsive = new UnresponsivePeers(Date.now, (peer) => void this.probe(peer));
  /** A new connection to a peer passed over ends that: it came back (and a pass re-puts its records to it). */
  private readonly onConnect = (evt: CustomEvent<PeerId>): void => this.unresponsive.answered(evt.detail.toString());
  /** A peer passed over for a while whose last connection closed has gone: it leaves the routing table. */
  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => this.leaveTableIfGone(evt.detail.toString());
  /** A peer that speaks the channel protocol gets its channel as it connects: its first request waits for no stream. */
  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    const { protocols, peerId, connection } = evt.detail;
    if (connection.status === 'open' && protocols.includes(DIRECT_PROTOCOL)) void this.rpc.prepare(peerId.toString());
  };

  constructor(opts: DirectOptions) {
    this.opts = opts;
    this.sets = new ReplicaSets(() => this.kad.routingTable, opts.libp2p.peerId.toString());
    this.rpc = new RpcClient({
      libp2p: opts.libp2p,
      protocol: DIRECT_PROTOCOL,
      maxMessage: MAX_MESSAGE,
      legacy: (peer, req, signal) => this.callV1(peer, req as Request, signal),
    });
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.rpc.start();
    this.sets.start();
    this.unresponsive.start();
    this.opts.libp2p.addEventListener('peer:connect', this.onConnect);
    this.opts.libp2p.addEventListener('peer:disconnect', this.onDisconnect);
    this.opts.libp2p.addEventListener('peer:identify', this.onIdentify);
    await this.opts.libp2p.handle(
      DIRECT_PROTOCOL,
      (stream, conn) =>
        serveChannel(stream, conn, (from, req) => this.answer(req as Request, from), {
          maxMessage: MAX_MESSAGE,
          logger: this.opts.logger,
        }),
      { maxInboundStreams: 32 },
    );
    await this.opts.libp2p.handle(DIRECT_PROTOCOL_V1, (stream, conn) => this.serveV1(stream, conn), {
      maxInboundStreams: 512,
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.rpc.stop();
    this.unresponsive.stop();
    this.opts.libp2p.removeEventListener('peer:connect', this.onConnect);
    this.opts.libp2p.removeEventListener('peer:disconnect', this.onDisconnect);
    this.opts.libp2p.removeEventListener('peer:identify', this.onIdentify);
    this.sets.stop();
    await this.opts.libp2p.unhandle(DIRECT_PROTOCOL);
    await this.opts.libp2p.unhandle(DIRECT_PROTOCOL_V1);
  }

  private get kad(): KadInternals {
    return this.opts.libp2p.services.dht as KadInternals;
  }

  /**
   * kad-dht's routing table as an event target, or undefined without one: a peer it adds or removes changes the
   * replica sets (replicaSet) from then on.
   */
  routingEvents(): RoutingEvents | undefined {
    const table = this.kad.routingTable;
    return typeof table?.addEventListener === 'function' && typeof table.removeEventListener === 'function'
      ? (table as RoutingEvents)
      : undefined;
  }

  /**
   * The `count` peers closest to a key among this node and its routing table, closest first; with `also`, among
   * those peers too (peers that left the table: the set a record had before they left).
   */
  replicaSet(key: Uint8Array, count: number, also?: readonly string[]): string[] {
    return this.sets.of(key, count, also);
  }

  /**
   * replicaSet without the peers that did not answer a request lately (see unresponsive.ts): the next-closest peers
   * take their places. Whom a write or a read asks; replicaSet still says where a record belongs.
   */
  liveReplicaSet(key: Uint8Array, count: number): string[] {
    if (this.unresponsive.size === 0) return this.replicaSet(key, count); // every write and read: no peer passed over
    const wider = Math.min(this.unresponsive.size, MAX_PASSED_OVER_WIDTH);
    return this.replicaSet(key, count + wider)
      .filter((peer) => !this.unresponsive.passedOver(peer))
      .slice(0, count);
  }

  /**
   * Announces this node as a provider of `cid` to the `count` peers the routing table names closest to
   * it (kad-dht's ADD_PROVIDER, the message its provide sends after an iterative walk): the peers a
   * findProviders lookup converges on. Resolves with how many peers took the announcement, or undefined
   * when the one-hop path cannot be used (no kad-dht internals, or fewer than `count` peers known).
   */
  async provideTo(cid: CID, count: number, signal: AbortSignal): Promise<number | undefined> {
    const { network, providers } = this.kad;
    if (!network || !providers) return undefined;
    const key = cid.multihash.bytes;
    const self = this.opts.libp2p.peerId;
    const peers = this.replicaSet(key, count + 1)
      .filter((p) => p !== self.toString())
      .slice(0, count);
    if (peers.length < count) return undefined;
    await providers.addProvider(cid, self, { signal });
    const msg = {
      type: MessageType.ADD_PROVIDER,
      key,
      providers: [{ id: self.toMultihash().bytes, multiaddrs: this.opts.libp2p.getMultiaddrs().map((m) => m.bytes) }],
    };
    const sent = await Promise.all(
      peers.map(async (peer, index) => {
        const path = { index, queued: 0, running: 0, total: peers.length };
        let ok = false;
        for await (const event of network.sendMessage(peerIdFromString(peer), msg, { signal, path }))
          if (event.name === 'PEER_RESPONSE') ok = true;
        return ok;
      }),
    );
    return sent.filter(Boolean).length;
  }

  /** Validates and stores a record locally in kad-dht's own format. */
  async store(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.opts.namespaces.validate(key, value);
    await this.opts.datastore.put(recordDatastoreKey(key), new DhtRecord(key, value, new Date()).serialize());
  }

  /**
   * Validates one value under each of `keys` and stores those that pass in one datastore batch; resolves with
   * each key's outcome, in order (a key refused does not keep the others from being stored). With `create`,
   * the value is stored only if no other record is held under any of the keys (RecordExistsError, checked before
   * any validation), and under all of them or none.
   */
  async storeAll(
    keys: readonly Uint8Array[],
    value: Uint8Array,
    opts: { create?: boolean } = {},
  ): Promise<{ ok: boolean; error?: unknown }[]> {
    if (opts.create) {
      const held = await Promise.all(keys.map((key) => readLocalRecord(this.opts.datastore, key)));
      const exists = held.map((h, i) => h !== undefined && !Buffer.from(h).equals(value) && keys[i]);
      if (exists.some(Boolean))
        return exists.map((key) => (key ? { ok: false, error: new RecordExistsError(key) } : { ok: false }));
    }
    const results: { ok: boolean; error?: unknown }[] = [];
    const batch = this.opts.datastore.batch();
    const now = new Date();
    for (const key of keys) {
      try {
        await this.opts.namespaces.validate(key, value);
        batch.put(recordDatastoreKey(key), new DhtRecord(key, value, now).serialize());
        results.push({ ok: true });
      } catch (err) {
        results.push({ ok: false, error: err });
      }
    }
    if (opts.create && results.some((r) => !r.ok)) return results;
    await batch.commit();
    return results;
  }

  /** Hands notes of `kind` from peers to `handler` (undefined: refuses them again). */
  onNote(kind: string, handler: NoteHandler | undefined): void {
    if (handler) this.notes.set(kind, handler);
    else this.notes.delete(kind);
  }

  /** Calls `handler` for each record a peer's retract removed here, with its DHT key (undefined: nobody). */
  onRetracted(handler: ((key: Uint8Array, value: Uint8Array) => void) | undefined): void {
    this.onGivenBack = handler;
  }

  /** One request, on either protocol, from the peer `from`. */
  private async answer(req: Request, from: string): Promise<Response> {
    try {
      if (typeof req?.key !== 'string') return { ok: false, error: BAD_REQUEST };
      if (req.op === 'note') {
        const handler = this.notes.get(req.key);
        if (!handler || typeof req.value !== 'string') return { ok: false, error: BAD_REQUEST };
        handler(from, Buffer.from(req.value, 'base64'));
        return { ok: true };
      }
      const key = Buffer.from(req.key, 'base64');
      if (req.op === 'get') {
        const value = await readLocalRecord(this.opts.datastore, key);
        return { ok: true, value: value ? Buffer.from(value).toString('base64') : undefined };
      }
      if (req.op === 'put' && typeof req.value === 'string') {
        await this.store(key, Buffer.from(req.value, 'base64'));
        return { ok: true };
      }
      if ((req.op === 'puts' || req.op === 'creates') && typeof req.value === 'string' && validKeys(req.keys)) {
        const keys = req.keys.map((k) => Buffer.from(k, 'base64'));
        const value = Buffer.from(req.value, 'base64');
        const results = await this.storeAll(keys, value, { create: req.op === 'creates' });
        if (req.op === 'creates' && results.every((r) => r.ok)) this.created.note(req.keys, from, value);
        return {
          ok: true,
          results: results.map((r) =>
            r.ok
              ? { ok: true }
              : {
                  ok: false,
                  error: r.error === undefined ? 'not stored' : describeError(r.error),
                  ...(r.error instanceof RecordExistsError ? { exists: true } : {}),
                },
          ),
        };
      }
      if (req.op === 'retract' && typeof req.value === 'string' && validKeys(req.keys)) {
        const value = Buffer.from(req.value, 'base64');
        const taken = await Promise.all(req.keys.map((k) => this.retract(k, from, value)));
        return { ok: true, results: taken.map((ok) => ({ ok })) };
      }
      return { ok: false, error: BAD_REQUEST };
    } catch (err) {
      return { ok: false, error: describeError(err) };
    }
  }

  /** Takes back a record under a base64 key that `from`'s create stored here (CreatedRecords), if still held. */
  private async retract(key: string, from: string, value: Uint8Array): Promise<boolean> {
    if (!this.created.take(key, from, value)) return false;
    const raw = Buffer.from(key, 'base64');
    const held = await readLocalRecord(this.opts.datastore, raw);
    if (!held || !Buffer.from(held).equals(value)) return false;
    await this.opts.datastore.delete(recordDatastoreKey(raw));
    this.onGivenBack?.(raw, value);
    return true;
  }

  private async serveV1(stream: Stream, conn: Connection): Promise<void> {
    let response: Response;
    try {
      const deadline = AbortSignal.timeout(this.opts.timeoutMs ?? 3000);
      response = await this.answer(
        (await readJson(stream, MAX_MESSAGE, deadline)) as Request,
        conn.remotePeer.toString(),
      );
    } catch (err) {
      response = { ok: false, error: describeError(err) };
    }
    try {
      stream.send(Buffer.from(JSON.stringify(response)));
      await stream.close();
    } catch {
      stream.abort(new Error('could not answer'));
    }
  }

  /**
   * One request to `peer`. A peer that gives no answer in time, or cannot be reached, is noted unresponsive; so is
   * one that did not answer within the caller's own deadline, once it waited at least MIN_SILENCE_MS. A refusal is an
   * answer; a request its caller gave up on for another reason (a read that had its answer) says nothing.
   */
  private async call(peer: string, req: Request, signal: AbortSignal): Promise<Response> {
    const timeoutMs = this.opts.timeoutMs ?? 3000;
    const started = Date.now();
    try {
      const response = (await withDeadline(
        timeoutMs,
        (deadline) => this.rpc.request(peer, req, deadline),
        signal,
      )) as Response;
      this.unresponsive.answered(peer);
      return response;
    } catch (err) {
      const timedOut = isTimeoutReason(signal.reason) && Date.now() - started >= MIN_SILENCE_MS;
      if (err instanceof RemoteError) this.unresponsive.answered(peer);
      else if (!signal.aborted || timedOut) this.noteSilence(peer, err);
      throw err;
    }
  }

  /** Asks a peer that writes and reads pass over whether it answers again: a read of a key nobody holds. */
  private async probe(peer: string): Promise<void> {
    await this.call(peer, { op: 'get', key: PROBE_KEY }, new AbortController().signal).catch(() => {});
  }

  /**
   * A request to `peer` got no answer: it is passed over until it answers again. Said as a warning when it stops
   * answering, at debug level for each further outage (a node gone for good is asked every 2 minutes); nothing is
   * noted once this node stops (its own requests end then).
   */
  private noteSilence(peer: string, err: unknown): void {
    if (this.stopped) return;
    const first = !this.unresponsive.passedOver(peer);
    const ms = this.unresponsive.failed(peer);
    this.leaveTableIfGone(peer);
    if (ms === undefined) return;
    const fields = { peer, askedAgainInSeconds: ms / 1000, error: describeError(err) };
    if (first)
      this.opts.logger.warn(
        'a peer did not answer: writes and reads ask the next-closest peer in its place for now',
        fields,
      );
    else this.opts.logger.debug('a peer passed over still does not answer', fields);
  }

  /**
   * A peer passed over for a whole while (its background ask got no answer either) that no connection reaches any
   * more (its process ended, its host left the network) leaves kad-dht's routing table, which otherwise keeps it for
   * good (a bucket drops a peer only when it is full): the replica sets stop naming it, so the next-closest peer
   * takes its place in them, and kad-dht's walks stop asking it (a walk that hears of it from a peer that still holds
   * it dials it to add it back, and fails). It is still asked in the background (unresponsive.ts); once it connects
   * again, kad-dht adds it back. A peer that does not answer over an open connection (a hung process) stays, as does
   * every peer while this node has no connection at all (its own network is out, not theirs); a peer that restarts
   * within the first while comes back before it would leave.
   */
  private leaveTableIfGone(peer: string): void {
    const table = this.kad.routingTable;
    if (this.stopped || typeof table?.remove !== 'function' || this.unresponsive.outagesOf(peer) < 2) return;
    const id = peerIdFromString(peer);
    const libp2p = this.opts.libp2p;
    if (libp2p.getConnections(id).length > 0 || !connectedToAny(libp2p)) return;
    const held = table.size;
    table.remove(id).then(
      () => {
        // it connected again while the table let it go: kad-dht's add on that connection came first, and found it
        if (libp2p.getConnections(id).length > 0) void table.add?.(id).catch(() => {});
        else if (table.size !== undefined && held !== undefined && table.size < held)
          this.opts.logger.info('a peer that stopped answering and has no connection left the routing table', {
            peer,
          });
      },
      (err: unknown) =>
        this.opts.logger.debug('could not take a peer out of the routing table', {
          peer,
          error: describeError(err),
        }),
    );
  }

  /** The exchange of /chorus/kad-direct/1.0.0: one stream per request. */
  private async callV1(peer: string, req: Request, signal: AbortSignal): Promise<Response> {
    const stream = await this.opts.libp2p.dialProtocol(peerIdFromString(peer), DIRECT_PROTOCOL_V1, { signal });
    return (await requestJson(stream, req, MAX_MESSAGE, signal)) as Response;
  }

  /** Stores a record on a peer; resolves true when the peer validated and stored it. */
  async putTo(peer: string, key: Uint8Array, value: Uint8Array, signal: AbortSignal): Promise<boolean> {
    try {
      const r = await this.call(
        peer,
        { op: 'put', key: Buffer.from(key).toString('base64'), value: Buffer.from(value).toString('base64') },
        signal,
      );
      if (!r.ok) this.opts.logger.debug('replica refused a record', { peer, error: r.error });
      return r.ok;
    } catch (err) {
      this.opts.logger.debug('replica put failed', { peer, error: describeError(err) });
      return false;
    }
  }

  /**
   * Stores one value on a peer under each of `keys` — one request when there are several (op 'puts'), one 'put'
   * per key towards a peer of an earlier release; resolves with, per key in order, whether the peer stored it.
   */
  async putAllTo(
    peer: string,
    keys: readonly Uint8Array[],
    value: Uint8Array,
    signal: AbortSignal,
  ): Promise<boolean[]> {
    if (keys.length === 0) return [];
    if (keys.length === 1 || (this.singlePutsUntil.get(peer) ?? 0) > Date.now())
      return Promise.all(keys.map((key) => this.putTo(peer, key, value, signal)));
    const r = await this.callWithKeys(peer, 'puts', keys, value, signal);
    if (!r) return keys.map(() => false);
    if (!r.ok && r.error === BAD_REQUEST) {
      this.singlePutsUntil.set(peer, Date.now() + EARLIER_RELEASE_MS);
      return Promise.all(keys.map((key) => this.putTo(peer, key, value, signal)));
    }
    return keys.map((_, i) => {
      const one = r.ok ? r.results?.[i] : undefined;
      if (!one?.ok) this.opts.logger.debug('replica refused a record', { peer, error: one?.error ?? r.error });
      return one?.ok === true;
    });
  }

  /**
   * Stores one value on a peer under each of `keys` if the peer holds no other record under any of them (op
   * 'creates'): under all of them, or none (see CreateOutcome).
   */
  async createAllTo(
    peer: string,
    keys: readonly Uint8Array[],
    value: Uint8Array,
    signal: AbortSignal,
  ): Promise<CreateOutcome> {
    if (keys.length === 0) return 'created';
    if ((this.noCreatesUntil.get(peer) ?? 0) > Date.now()) return 'unsupported';
    const r = await this.callWithKeys(peer, 'creates', keys, value, signal);
    if (!r) return 'failed';
    if (!r.ok && r.error === BAD_REQUEST) {
      this.noCreatesUntil.set(peer, Date.now() + EARLIER_RELEASE_MS);
      return 'unsupported';
    }
    const results = r.ok ? (r.results ?? []) : [];
    if (results.length === keys.length && results.every((one) => one.ok)) return 'created';
    if (results.some((one) => one.exists)) {
      this.opts.logger.debug('replica holds another record under a key of a create', { peer });
      return 'exists';
    }
    this.opts.logger.debug('replica refused a record', {
      peer,
      error: results.find((one) => !one.ok)?.error ?? r.error,
    });
    return 'refused';
  }

  /**
   * Takes back from a peer what this node's create stored there under `keys` (see retract); resolves with how
   * many keys it removed (0 when it could not be reached).
   */
  async retractFrom(
    peer: string,
    keys: readonly Uint8Array[],
    value: Uint8Array,
    signal: AbortSignal,
  ): Promise<number> {
    const r = await this.callWithKeys(peer, 'retract', keys, value, signal);
    return r?.ok ? (r.results ?? []).filter((one) => one.ok).length : 0;
  }

  /**
   * One request carrying a value and every key it goes under (ops 'puts', 'creates', 'retract'; `key` is the first,
   * so that a peer of an earlier release answers "bad request"); undefined when the peer could not be asked.
   */
  private async callWithKeys(
    peer: string,
    op: 'puts' | 'creates' | 'retract',
    keys: readonly Uint8Array[],
    value: Uint8Array,
    signal: AbortSignal,
  ): Promise<Response | undefined> {
    const b64 = keys.map((k) => Buffer.from(k).toString('base64'));
    try {
      return await this.call(
        peer,
        { op, key: b64[0] as string, keys: b64, value: Buffer.from(value).toString('base64') },
        signal,
      );
    } catch (err) {
      this.opts.logger.debug(`replica ${op} failed`, { peer, error: describeError(err) });
      return undefined;
    }
  }

  /** Sends a peer a note of `kind`; resolves true when the peer took it (false: it failed, or the peer has no such kind). */
  async noteTo(peer: string, kind: string, value: Uint8Array, signal: AbortSignal): Promise<boolean> {
    try {
      return (await this.call(peer, { op: 'note', key: kind, value: Buffer.from(value).toString('base64') }, signal))
        .ok;
    } catch (err) {
      this.opts.logger.debug('note failed', { peer, kind, error: describeError(err) });
      return false;
    }
  }

  /** Asks a peer for its record under a key: `{ value }` (absent when it holds none), undefined when it cannot answer. */
  async getFrom(peer: string, key: Uint8Array, signal: AbortSignal): Promise<{ value?: Uint8Array } | undefined> {
    try {
      const r = await this.call(peer, { op: 'get', key: Buffer.from(key).toString('base64') }, signal);
      if (!r.ok) return undefined;
      return r.value ? { value: Buffer.from(r.value, 'base64') } : {};
    } catch (err) {
      this.opts.logger.debug('replica get failed', { peer, error: describeError(err) });
      return undefined;
    }
  }
}
