// Delivery receipts over a direct libp2p protocol. Gossip is best-effort, so a publisher that needs
// to know its message arrived (chorus publish --join --confirm N) sets `ack` in the envelope; every
// node that delivers such a message answers with its content id on /chorus/ack/1.0.0.
import type { Connection, Libp2p, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { readAll } from '../p2p/streams.ts';
import { NotConfirmedError } from './errors.ts';
import type { ChorusPubSub, ReceivedMessage } from './pubsub.ts';

export const ACK_PROTOCOL = '/chorus/ack/1.0.0';
const RETAIN_MS = 60_000;
const ACK_TIMEOUT_MS = 5000;
const encoder = new TextEncoder();

export class AckService {
  private readonly libp2p: Libp2p;
  private readonly pubsub: ChorusPubSub;
  private readonly logger: Logger;
  private readonly received = new Map<string, { peers: Set<string>; at: number }>();
  private readonly waiters = new Set<() => void>();
  private readonly onMessage = (m: ReceivedMessage): void => {
    if (m.envelope?.ack) void this.sendAck(m.from, m.msgId);
  };

  constructor(libp2p: Libp2p, pubsub: ChorusPubSub, logger: Logger) {
    this.libp2p = libp2p;
    this.pubsub = pubsub;
    this.logger = logger;
  }

  async start(): Promise<void> {
    await this.libp2p.handle(ACK_PROTOCOL, (stream, connection) => this.handle(stream, connection), {
      maxInboundStreams: 256,
    });
    this.pubsub.on('message', this.onMessage);
  }

  async stop(): Promise<void> {
    this.pubsub.off('message', this.onMessage);
    await this.libp2p.unhandle(ACK_PROTOCOL);
    for (const wake of this.waiters) wake();
  }

  private async handle(stream: Stream, connection: Connection): Promise<void> {
    try {
      // an id is 32 hex characters
      const text = (await readAll(stream, 64, AbortSignal.timeout(ACK_TIMEOUT_MS))).toString('utf8');
      this.note(text.trim(), connection.remotePeer.toString());
    } catch (err) {
      this.logger.debug('ignored a malformed acknowledgement', {
        from: connection.remotePeer.toString(),
        error: describeError(err),
      });
    }
  }

  private note(msgId: string, peer: string): void {
    if (!/^[0-9a-f]{32}$/.test(msgId)) return;
    const now = Date.now();
    for (const [id, entry] of this.received) if (now - entry.at > RETAIN_MS) this.received.delete(id);
    const entry = this.received.get(msgId) ?? { peers: new Set<string>(), at: now };
    entry.peers.add(peer);
    this.received.set(msgId, entry);
    for (const wake of this.waiters) wake();
  }

  private async sendAck(to: string, msgId: string): Promise<void> {
    try {
      const signal = AbortSignal.timeout(ACK_TIMEOUT_MS);
      const stream = await this.libp2p.dialProtocol(peerIdFromString(to), ACK_PROTOCOL, { signal });
      stream.send(encoder.encode(msgId));
      await stream.close({ signal });
    } catch (err) {
      this.logger.debug('could not acknowledge a message', { to, error: describeError(err) });
    }
  }

  /** Peers that acknowledged a content id so far. */
  acknowledgers(msgId: string): string[] {
    return [...(this.received.get(msgId)?.peers ?? [])];
  }

  /** Resolves with the acknowledging peers once `count` have answered; NotConfirmed after timeoutMs. */
  async waitForAcks(msgId: string, count: number, timeoutMs: number, signal?: AbortSignal): Promise<string[]> {
    const done = (): boolean => this.acknowledgers(msgId).length >= count;
    if (done()) return this.acknowledgers(msgId);
    const { promise, resolve, reject } = Promise.withResolvers<string[]>();
    const wake = (): void => {
      if (done()) resolve(this.acknowledgers(msgId));
    };
    const timer = setTimeout(() => {
      const got = this.acknowledgers(msgId).length;
      reject(new NotConfirmedError(`delivery confirmed by ${got} of ${count} peer(s) within ${timeoutMs} ms`));
    }, timeoutMs);
    const onAbort = (): void => reject(signal?.reason ?? new Error('aborted'));
    this.waiters.add(wake);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await promise;
    } finally {
      clearTimeout(timer);
      this.waiters.delete(wake);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
