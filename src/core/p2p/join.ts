// Joins the mesh through bootstrap multiaddrs: a random stagger before the first dial, then retries
// with capped exponential backoff, and re-dials a bootstrap peer whenever its connection drops.
import type { Libp2p } from '@libp2p/interface';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { describeError, UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';

export interface JoinOptions {
  libp2p: Libp2p;
  bootstrap: string[];
  staggerMs: number;
  logger: Logger;
  /** First retry delay; doubles up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/** Parses bootstrap multiaddrs; each must name its peer (/p2p/<id>). */
export function parseBootstrap(addrs: string[]): Multiaddr[] {
  return addrs.map((a) => {
    let ma: Multiaddr;
    try {
      ma = multiaddr(a);
    } catch (err) {
      throw new UsageError(`invalid bootstrap multiaddr "${a}": ${describeError(err)}`, 'INVALID_MULTIADDR');
    }
    if (!ma.getComponents().some((c) => c.name === 'p2p')) {
      throw new UsageError(`bootstrap multiaddr "${a}" must end with /p2p/<peer-id>`, 'INVALID_MULTIADDR');
    }
    return ma;
  });
}

/** The peer a multiaddr names (its /p2p/ component; '' when none). */
export function peerOf(ma: Multiaddr): string {
  return ma.getComponents().find((c) => c.name === 'p2p')?.value ?? '';
}

export class BootstrapJoiner {
  private readonly opts: Required<JoinOptions>;
  private addrs: Multiaddr[];
  private readonly controller = new AbortController();
  private readonly connected = new Set<string>();
  private readonly loops = new Map<string, Promise<void>>();
  private readonly onDisconnect = (evt: CustomEvent<{ toString(): string }>): void => {
    const peer = evt.detail.toString();
    const addr = this.addrs.find((a) => peerOf(a) === peer);
    if (addr && !this.controller.signal.aborted) {
      this.connected.delete(peer);
      this.ensureLoop(addr, 0);
    }
  };

  constructor(opts: JoinOptions) {
    this.opts = { backoffMs: 500, maxBackoffMs: 15_000, ...opts };
    this.addrs = parseBootstrap(opts.bootstrap);
  }

  start(): void {
    this.opts.libp2p.addEventListener('peer:disconnect', this.onDisconnect as EventListener);
    for (const addr of this.addrs) this.ensureLoop(addr, Math.random() * this.opts.staggerMs);
  }

  async stop(): Promise<void> {
    this.controller.abort();
    this.opts.libp2p.removeEventListener('peer:disconnect', this.onDisconnect as EventListener);
    await Promise.allSettled(this.loops.values());
  }

  /**
   * Replaces the bootstrap list (SIGHUP); new peers are dialled (after a random delay up to `staggerMs`),
   * dropped ones are no longer retried.
   */
  update(bootstrap: string[], staggerMs = 0): void {
    this.addrs = parseBootstrap(bootstrap);
    for (const addr of this.addrs) this.ensureLoop(addr, Math.random() * staggerMs);
  }

  /** Bootstrap peers currently connected. */
  connectedCount(): number {
    return this.connected.size;
  }

  /** True while a bootstrap peer is being dialled, or waited for between retries. */
  dialling(): boolean {
    return this.loops.size > 0;
  }

  private ensureLoop(addr: Multiaddr, delayMs: number): void {
    const peer = peerOf(addr);
    if (this.loops.has(peer) || peer === this.opts.libp2p.peerId.toString()) return;
    const loop = this.dialUntilConnected(addr, delayMs).finally(() => this.loops.delete(peer));
    this.loops.set(peer, loop);
  }

  private async dialUntilConnected(addr: Multiaddr, delayMs: number): Promise<void> {
    const signal = this.controller.signal;
    const peer = peerOf(addr);
    let backoff = this.opts.backoffMs;
    if (delayMs > 0) await sleep(delayMs, signal);
    while (!signal.aborted && this.addrs.some((a) => peerOf(a) === peer)) {
      try {
        await this.opts.libp2p.dial(addr, { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) });
        this.connected.add(peer);
        this.opts.logger.info('joined bootstrap peer', { peer: addr.toString() });
        return;
      } catch (err) {
        if (signal.aborted) return;
        this.opts.logger.warn('bootstrap dial failed; retrying', {
          peer: addr.toString(),
          retryInMs: Math.round(backoff),
          error: describeError(err),
        });
        await sleep(backoff * (0.75 + Math.random() * 0.5), signal);
        backoff = Math.min(backoff * 2, this.opts.maxBackoffMs);
      }
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
