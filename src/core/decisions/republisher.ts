// Re-replication of the decisions a node holds: records are re-put on a schedule, and when peers
// join or leave, the records whose replica set involves one of them are re-put (a joining peer gets
// the records it is now responsible for; a departed holder is replaced) — those this node stored before it
// saw the change: a record stored since went out with that peer known. A change is seen when the peer connects
// or disconnects and again when kad-dht's routing table adds or removes it (which is when replica sets change).
// The schedule skips a record stored here within the last interval: a write or another holder's re-put just sent
// it to its replica set (Kademlia's rule), so of a record's holders, the one whose pass comes first re-puts it.
// Each node's first pass falls at a random point, so that holders started together do not re-put in step.
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { DirectReplicas, RoutingEvents } from '../dht/direct.ts';
import { LATEST_NS } from './record.ts';
import type { HeldRecord, HeldRecordsOptions } from './store.ts';

/**
 * The share of the interval a scheduled pass allows for drift: a record stored more recently than (1 − this) ×
 * the interval before the pass reaches it is not re-put. The holder that re-put it stored it too, and its own next
 * pass, one interval later, must still find it due although that pass may reach it a little earlier than the last
 * one did (its timer, or records before it that took less time).
 */
const DRIFT_SHARE = 0.05;

/** Peers that left the routing table remembered at most (a bound, not a limit a cluster meets). */
const MAX_DEPARTED = 1024;

/** Peers that joined or left, each with when this node last saw it happen (ms since the epoch). */
export type PeerChanges = ReadonlyMap<string, number>;

/** What a pass re-puts: the records due on the schedule, those that changed peers involve, or both. */
interface PassRequest {
  scheduled: boolean;
  changed?: PeerChanges;
}

/** A pass asked for while one runs: every such request merged, and its end. */
interface WaitingPass {
  request: PassRequest;
  done: Promise<void>;
}

/** What the republisher needs of the store. */
export interface RepublishSource {
  /** Held records; with `wanted`, those it takes (asked before a record is decoded and checked). */
  heldRecords(opts?: HeldRecordsOptions): AsyncGenerator<HeldRecord>;
  replicate(key: Uint8Array, value: Uint8Array, signal: AbortSignal): Promise<string[]>;
  /** The signal of one operation (its default deadline). */
  operationSignal(): AbortSignal;
  /** A re-replication of a latest record reached `holders` of `want`. */
  replicated(subject: string, holders: number, want: number): void;
  /** The holders a record needs: `replication`, or fewer where this node is on its own (a lone node: itself). */
  holdersWanted(replication: number): number;
  /** As of now: whether this node's last write or re-put of a subject fell short, asked with either DHT key. */
  fellShort(): (dhtKey: string) => boolean;
}

export interface RepublisherOptions {
  store: RepublishSource;
  /** Emits 'peer:connect' / 'peer:disconnect' (libp2p). */
  membership: Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;
  /** The replica sets; with routingEvents, the routing table whose changes count as peers changing. */
  direct?: Pick<DirectReplicas, 'replicaSet'> & Partial<Pick<DirectReplicas, 'routingEvents'>>;
  replication: number;
  intervalMs: number;
  /** Provider announcement of a subject (paced elsewhere). */
  provide: (subject: string) => void;
  logger: Logger;
  /** Where in [0, 1) the first scheduled pass falls between 0.5 and 1.5 intervals after start (default random). */
  random?: () => number;
}

export class Republisher {
  private readonly opts: RepublisherOptions;
  private timer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private waiting: WaitingPass | undefined;
  private readonly controller = new AbortController();
  private routing: RoutingEvents | undefined;
  /** Peers that joined or left since the last targeted re-replication, with when. */
  private readonly changedPeers = new Map<string, number>();
  /**
   * Peers kad-dht's routing table removed and has not added again, with when: a pass for them works out the replica
   * sets records had while the table held them. Kept for one interval (the pass their removal asks for comes a second
   * later), at most MAX_DEPARTED (the oldest go first).
   */
  private readonly departed = new Map<string, number>();
  private readonly onTableRemove = (evt: Event): void => {
    const peer = String((evt as CustomEvent<unknown>).detail);
    const now = Date.now();
    for (const [old, at] of this.departed) {
      if (at >= now - this.opts.intervalMs && this.departed.size < MAX_DEPARTED) break;
      this.departed.delete(old); // the map's order is the order of removal: the oldest first
    }
    this.departed.delete(peer); // re-added last
    this.departed.set(peer, now);
    this.onMembership(evt);
  };
  private readonly onTableAdd = (evt: Event): void => {
    this.departed.delete(String((evt as CustomEvent<unknown>).detail));
    this.onMembership(evt);
  };
  private readonly onMembership = (evt: Event): void => {
    this.changedPeers.set(String((evt as CustomEvent<unknown>).detail), Date.now());
    clearTimeout(this.connectTimer);
    this.connectTimer = setTimeout(() => {
      const peers = new Map(this.changedPeers);
      this.changedPeers.clear();
      void this.republish(peers);
    }, 1000);
    this.connectTimer.unref();
  };

  constructor(opts: RepublisherOptions) {
    this.opts = opts;
  }

  start(): void {
    const { intervalMs, random = Math.random } = this.opts;
    this.timer = setTimeout(
      () => {
        void this.republish();
        this.timer = setInterval(() => void this.republish(), intervalMs);
        this.timer.unref();
      },
      intervalMs * (0.5 + random()),
    );
    this.timer.unref();
    this.opts.membership.addEventListener('peer:connect', this.onMembership);
    this.opts.membership.addEventListener('peer:disconnect', this.onMembership);
    this.routing = this.opts.direct?.routingEvents?.();
    this.routing?.addEventListener('peer:add', this.onTableAdd);
    this.routing?.addEventListener('peer:remove', this.onTableRemove);
  }

  async stop(): Promise<void> {
    this.controller.abort();
    clearTimeout(this.timer); // the first pass's timeout or, after it, the interval
    clearTimeout(this.connectTimer);
    this.opts.membership.removeEventListener('peer:connect', this.onMembership);
    this.opts.membership.removeEventListener('peer:disconnect', this.onMembership);
    this.routing?.removeEventListener('peer:add', this.onTableAdd);
    this.routing?.removeEventListener('peer:remove', this.onTableRemove);
    await (this.waiting?.done ?? this.running)?.catch(() => {});
  }

  /**
   * Re-puts held decision records so that each lives on `replication` current peers; with `changed`, the records
   * whose replica set involves one of those peers and that this node stored no later than it saw that peer change.
   * A record stored after that went out with the peer known to this node; a write that had not seen the change yet
   * may have placed it without that peer, and its writer re-puts it when it sees the change (the schedule re-puts
   * it within about two intervals). Without `changed` (the schedule), the records not stored here within the last
   * interval, and those whose last write or re-put here fell short; the latest records' providers are announced
   * either way. One pass at a time: one asked for meanwhile runs after it, with every such request merged.
   */
  republish(changed?: PeerChanges): Promise<void> {
    return this.request(changed ? { scheduled: false, changed } : { scheduled: true });
  }

  private request(req: PassRequest): Promise<void> {
    if (this.controller.signal.aborted) return Promise.resolve();
    if (this.running === undefined) {
      this.running = this.pass(req).finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    if (this.waiting) {
      this.waiting.request = mergeRequests(this.waiting.request, req);
      return this.waiting.done;
    }
    const waiting: WaitingPass = { request: req, done: Promise.resolve() };
    waiting.done = this.running.then(() => {
      this.waiting = undefined;
      return this.controller.signal.aborted ? undefined : this.request(waiting.request);
    });
    this.waiting = waiting;
    return waiting.done;
  }

  private async pass({ scheduled, changed }: PassRequest): Promise<void> {
    const { store, direct, replication, logger, intervalMs } = this.opts;
    const involved = changed && involvedIn(changed, direct, replication, this.departed);
    const fellShort = scheduled ? store.fellShort() : undefined;
    // on the schedule: a record not stored here within the interval before now (a time that did not parse, NaN,
    // or one ahead of this node's clock counts as not), or whose last write or re-put here fell short
    const due = (dhtKey: string, storedAt: number): boolean => {
      if (fellShort === undefined) return false;
      const now = Date.now();
      return !(storedAt > now - intervalMs * (1 - DRIFT_SHARE) && storedAt <= now) || fellShort(dhtKey);
    };
    const take = (dhtKey: string, storedAt: number): boolean =>
      (involved?.(dhtKey, storedAt) ?? false) || due(dhtKey, storedAt);
    // the schedule takes every latest record, for its provider announcement
    const wanted = scheduled ? (dhtKey: string, storedAt: number) => isLatest(dhtKey) || take(dhtKey, storedAt) : take;
    try {
      const signal = this.controller.signal;
      for await (const { dhtKey, bytes, record, storedAt } of store.heldRecords({ wanted, signal })) {
        if (signal.aborted) return;
        const key = new TextEncoder().encode(dhtKey);
        const latest = isLatest(dhtKey);
        if (latest) this.opts.provide(record.subject);
        if (scheduled && !take(dhtKey, storedAt)) continue; // a write or another holder's re-put sent it out lately
        let holders: string[];
        try {
          holders = await store.replicate(key, bytes, store.operationSignal());
        } catch (err) {
          // this node's store refused it (a newer version arrived meanwhile, say): the pass goes on
          if (signal.aborted) return;
          logger.debug('re-put failed', {
            subject: record.subject,
            version: record.version,
            error: describeError(err),
          });
          continue;
        }
        if (latest) store.replicated(record.subject, holders.length, replication);
        const want = store.holdersWanted(replication);
        if (holders.length < want) {
          logger.warn('decision under-replicated', {
            subject: record.subject,
            version: record.version,
            holders: holders.length,
            want,
          });
        }
      }
    } catch (err) {
      logger.debug('republish stopped', { error: describeError(err) });
    }
  }
}

const isLatest = (dhtKey: string): boolean => dhtKey.startsWith(`/${LATEST_NS}/`);

/** Two requests as one: scheduled if either is; every changed peer of both, each at its latest time. */
function mergeRequests(a: PassRequest, b: PassRequest): PassRequest {
  const scheduled = a.scheduled || b.scheduled;
  if (!a.changed || !b.changed) return { scheduled, changed: a.changed ?? b.changed };
  const merged = new Map(a.changed);
  for (const [peer, at] of b.changed) merged.set(peer, Math.max(at, merged.get(peer) ?? at));
  return { scheduled, changed: merged };
}

/**
 * Which held records a pass for `changed` re-puts: those whose replica set involves a changed peer and that this node
 * stored no later than it saw that peer change (a time that did not parse, NaN, counts as before). A changed peer is
 * involved when it is among the record's `replication` closest peers in the routing table: a peer that joined and is
 * now a replica (the table's add is a change of its own, so a pass comes after it), or one that left and was one
 * (kad-dht keeps a peer that disconnects in its table until it has gone unanswered for a while with no
 * connection, DirectReplicas.leaveTableIfGone: one the table removed counts among the record's closest peers where
 * it was). A peer that joined further out takes none of the record's copies, and one that left from there held
 * none; so is a peer the table never held (a client that joined to publish). Asked with the record's DHT key and
 * stored time only, before the record is decoded.
 */
function involvedIn(
  changed: PeerChanges,
  direct: Pick<DirectReplicas, 'replicaSet'> | undefined,
  replication: number,
  departed: ReadonlyMap<string, number>,
): (dhtKey: string, storedAt: number) => boolean {
  const latest = Math.max(...changed.values());
  return (dhtKey, storedAt) => {
    if (storedAt > latest) return false; // stored after every change of the pass
    const key = new TextEncoder().encode(dhtKey);
    // a changed peer the table removed (now, or while the pass runs) counts where it was: among the closest
    const left = [...changed.keys()].filter((peer) => departed.has(peer));
    const set = direct ? direct.replicaSet(key, replication, left) : [...changed.keys()];
    return set.some((peer) => {
      const at = changed.get(peer);
      return at !== undefined && !(storedAt > at);
    });
  };
}
