// COOEE hello: when a peer joins the coordination topic, each node tells that peer who it is (role,
// capabilities, availability) over a direct stream, /chorus/hello/1.0.0, instead of broadcasting to
// the whole cluster. A broadcast answering every join costs N deliveries per join, N² as a cluster
// forms; a hello costs one. The newcomer announces itself with one broadcast (see node.ts).
// The sender is the Noise-authenticated remote of the stream; unadmitted peers are never heard.
import { EventEmitter } from 'node:events';
import type { Connection, Libp2p, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { readJson } from '../p2p/streams.ts';
import type { Redactor } from '../shhh/redactor.ts';
import type { Presence } from './presence.ts';

export const HELLO_PROTOCOL = '/chorus/hello/1.0.0';
const MAX_MESSAGE = 64 * 1024;
const TIMEOUT_MS = 5000;

export interface HelloOptions {
  libp2p: Libp2p;
  presence: Presence;
  logger: Logger;
  redactor?: Redactor;
  /** Resolves true when the peer holds a license for this cluster. */
  admit: (peer: string) => boolean | Promise<boolean>;
  record?: (kind: string, data: unknown) => void;
}

export interface HelloEvents {
  /** A peer's hello was taken into the directory. */
  heard: [{ from: string; hello: Record<string, unknown> }];
  /** A hello was refused: unadmitted sender, malformed, too large or too slow. */
  ignored: [{ from: string; reason: string }];
}

export class PresenceHello extends EventEmitter<HelloEvents> {
  private readonly opts: HelloOptions;
  /** Peers greeted on their current connection (forgotten when they disconnect). */
  private readonly greeted = new Set<string>();
  private readonly onDisconnect = (evt: CustomEvent<{ toString(): string }>): void => {
    this.greeted.delete(evt.detail.toString());
  };

  constructor(opts: HelloOptions) {
    super();
    this.opts = opts;
  }

  async start(): Promise<void> {
    await this.opts.libp2p.handle(HELLO_PROTOCOL, (stream, conn) => this.serve(stream, conn), {
      runOnLimitedConnection: false,
    });
    this.opts.libp2p.addEventListener('peer:disconnect', this.onDisconnect);
  }

  async stop(): Promise<void> {
    this.opts.libp2p.removeEventListener('peer:disconnect', this.onDisconnect);
    await this.opts.libp2p.unhandle(HELLO_PROTOCOL).catch(() => {});
  }

  /** Tells `peer` who this node is, once per connection. Failures are logged, never thrown. */
  async greet(peer: string): Promise<boolean> {
    if (this.greeted.has(peer)) return false;
    this.greeted.add(peer);
    try {
      if (!(await this.opts.admit(peer))) throw new Error('the peer is not admitted');
      let hello = this.opts.presence.announcement();
      if (this.opts.redactor) {
        // like every outbound message: through SHHH (a deny rule refuses the hello), with an audit record per finding
        const { value, findings } = this.opts.redactor.redactValue(hello, 'hello');
        hello = value;
        for (const f of findings) {
          const { rule, severity, tags, location, sha256 } = f;
          this.opts.record?.('shhh_redaction', {
            rule,
            severity,
            tags,
            location,
            sha256,
            protocol: HELLO_PROTOCOL,
            to: peer,
          });
        }
      }
      const signal = AbortSignal.timeout(TIMEOUT_MS);
      const stream = await this.opts.libp2p.dialProtocol(peerIdFromString(peer), HELLO_PROTOCOL, { signal });
      stream.send(Buffer.from(JSON.stringify(hello)));
      await stream.close({ signal });
      this.opts.record?.('capability_broadcast', { via: 'hello', to: peer, hello });
      return true;
    } catch (err) {
      this.greeted.delete(peer);
      this.opts.logger.debug('could not greet a peer', { peer, error: describeError(err) });
      return false;
    }
  }

  private async serve(stream: Stream, conn: Connection): Promise<void> {
    const from = conn.remotePeer.toString();
    try {
      const raw = await readJson(stream, MAX_MESSAGE, AbortSignal.timeout(TIMEOUT_MS));
      if (!(await this.opts.admit(from))) throw new Error('the peer is not admitted');
      const hello = this.opts.presence.observeAnnouncement(from, raw);
      this.opts.record?.('capability_broadcast', { direction: 'in', via: 'hello', from, hello });
      this.emit('heard', { from, hello });
    } catch (err) {
      const reason = describeError(err);
      this.opts.logger.debug('ignored a hello', { from, error: reason });
      stream.abort(new Error('hello refused'));
      this.emit('ignored', { from, reason });
    }
  }
}
