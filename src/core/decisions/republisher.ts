// Re-replication of the decisions a node holds: every record is re-put on a schedule, and when peers
// join or leave, the records whose replica set involves one of them are re-put (a joining peer gets
// the records it is now responsible for; a departed holder is replaced).
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { DirectReplicas } from '../dht/direct.ts';
import { LATEST_NS, type DecisionRecord } from './record.ts';

/** What the republisher needs of the store. */
export interface RepublishSource {
  heldRecords(): AsyncGenerator<{ dhtKey: string; bytes: Uint8Array; record: DecisionRecord }>;
  replicate(key: Uint8Array, value: Uint8Array, signal: AbortSignal): Promise<string[]>;
  /** The signal of one operation (its default deadline). */
  operationSignal(): AbortSignal;
  /** A re-replication of a latest record reached `holders` of `want`. */
  replicated(subject: string, holders: number, want: number): void;
}

export interface RepublisherOptions {
  store: RepublishSource;
  /** Emits 'peer:connect' / 'peer:disconnect' (libp2p). */
  membership: Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;
  direct?: Pick<DirectReplicas, 'replicaSet'>;
  replication: number;
  intervalMs: number;
  /** Provider announcement of a subject (paced elsewhere). */
  provide: (subject: string) => void;
  logger: Logger;
}

export class Republisher {
  private readonly opts: RepublisherOptions;
  private timer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly controller = new AbortController();
  /** Peers that joined or left since the last targeted re-replication. */
  private readonly changedPeers = new Set<string>();
  private readonly onMembership = (evt: Event): void => {
    this.changedPeers.add(String((evt as CustomEvent<unknown>).detail));
    clearTimeout(this.connectTimer);
    this.connectTimer = setTimeout(() => {
      const peers = new Set(this.changedPeers);
      this.changedPeers.clear();
      void this.republish(peers);
    }, 1000);
    this.connectTimer.unref();
  };

  constructor(opts: RepublisherOptions) {
    this.opts = opts;
  }

  start(): void {
    this.timer = setInterval(() => void this.republish(), this.opts.intervalMs);
    this.timer.unref();
    this.opts.membership.addEventListener('peer:connect', this.onMembership);
    this.opts.membership.addEventListener('peer:disconnect', this.onMembership);
  }

  async stop(): Promise<void> {
    this.controller.abort();
    clearInterval(this.timer);
    clearTimeout(this.connectTimer);
    this.opts.membership.removeEventListener('peer:connect', this.onMembership);
    this.opts.membership.removeEventListener('peer:disconnect', this.onMembership);
    await this.running?.catch(() => {});
  }

  /**
   * Re-puts held decision records so that each lives on `replication` current peers; with `changed`,
   * only records whose replica set involves one of those peers. One pass at a time.
   */
  republish(changed?: Set<string>): Promise<void> {
    const { store, direct, replication, logger } = this.opts;
    this.running ??= (async () => {
      try {
        for await (const { dhtKey, bytes, record } of store.heldRecords()) {
          if (this.controller.signal.aborted) return;
          const key = new TextEncoder().encode(dhtKey);
          if (changed && direct) {
            const set = direct.replicaSet(key, replication + changed.size);
            if (!set.some((p) => changed.has(p))) continue;
          }
          const latest = dhtKey.startsWith(`/${LATEST_NS}/`);
          if (latest) this.opts.provide(record.subject);
          const holders = await store.replicate(key, bytes, store.operationSignal());
          if (latest) store.replicated(record.subject, holders.length, replication);
          if (holders.length < replication) {
            logger.warn('decision under-replicated', {
              subject: record.subject,
              version: record.version,
              holders: holders.length,
              want: replication,
            });
          }
        }
      } catch (err) {
        logger.debug('republish stopped', { error: describeError(err) });
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }
}
