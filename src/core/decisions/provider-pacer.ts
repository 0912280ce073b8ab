// Provider records of decisions: announcements paced, and the lookup of a subject's providers. An
// announcement goes one hop to the closest peers the routing table knows (DirectReplicas.provideTo); only
// when that cannot be used is it kad-dht's provide, an iterative walk plus ADD_PROVIDER to the k closest
// peers (~40 streams). Either way they run in the background, one at a time, once writes pause.
import { setTimeout as delay } from 'node:timers/promises';
import { CID } from 'multiformats/cid';
import { sha256 } from 'multiformats/hashes/sha2';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';

/** Quiet time after the last write before provider records are announced (1-2x, jittered). */
const PROVIDE_DEBOUNCE_MS = 2000;
/**
 * Mean time between two provider announcements of one node (0.5-1.5x, jittered). Back to back, 20
 * nodes in one process announcing 200 writes kept the event loop saturated for 12 s (GET p99
 * 0.7-1.1 s; without announcements 16 ms).
 */
const PROVIDE_GAP_MS = 5000;

/** The CID a subject's provider records are announced under. */
export async function subjectCid(subject: string): Promise<CID> {
  return CID.createV1(0x55, await sha256.digest(new TextEncoder().encode(subject)));
}

export interface ProvidePacerOptions {
  /** Announces this node as a provider of `cid`. */
  provide: (cid: CID, options: { signal: AbortSignal }) => Promise<unknown>;
  /** Deadline of one announcement. */
  timeoutMs: () => number;
  logger: Logger;
}

export class ProvidePacer {
  private readonly opts: ProvidePacerOptions;
  private readonly queue = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private draining = false;
  private readonly controller = new AbortController();

  constructor(opts: ProvidePacerOptions) {
    this.opts = opts;
  }

  start(): void {}

  stop(): void {
    this.controller.abort();
    clearTimeout(this.timer);
  }

  /** Queues a subject for announcement (a subject queued twice goes once). */
  schedule(subject: string): void {
    if (this.controller.signal.aborted) return;
    this.queue.add(subject);
    clearTimeout(this.timer);
    if (this.draining) return; // the running drain takes it
    // jittered: nodes that wrote together do not all start walking at the same moment
    this.timer = setTimeout(() => void this.drain(), PROVIDE_DEBOUNCE_MS * (1 + Math.random()));
    this.timer.unref();
  }

  /** Announces the queued subjects one at a time, PROVIDE_GAP_MS apart. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      for (const subject of this.queue) {
        if (this.controller.signal.aborted) return;
        this.queue.delete(subject);
        await this.provide(subject);
        if (this.queue.size > 0) {
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
      const signal = AbortSignal.timeout(this.opts.timeoutMs());
      await this.opts.provide(await subjectCid(subject), { signal });
    } catch (err) {
      this.opts.logger.debug('provide failed', { subject, error: describeError(err) });
    }
  }
}

/** Peers currently known to provide a subject (a deadline ends the search with what was found). */
export async function findProviders(
  dht: { findProviders(cid: CID, options: { signal: AbortSignal }): AsyncIterable<unknown> },
  subject: string,
  signal: AbortSignal,
): Promise<string[]> {
  const found = new Set<string>();
  try {
    for await (const e of dht.findProviders(await subjectCid(subject), { signal })) {
      const event = e as { name?: string; providers?: { id: { toString(): string } }[] };
      if (event.name === 'PROVIDER') for (const p of event.providers ?? []) found.add(p.id.toString());
    }
  } catch {
    // a timeout ends the search with what was found
  }
  return [...found];
}
