// The election's direct libp2p protocol, /chorus/election/1.0.0: one JSON request and one JSON answer
// per stream (votes and heartbeats need answers from named peers, never best-effort gossip). The
// remote peer ID comes from the authenticated (Noise) connection, never from the message. Tests can
// cut links with a reachability predicate (both directions) to partition a cluster of real nodes.
import type { Connection, Libp2p, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { describeError } from '../errors.ts';
import { readJson, requestJson } from '../p2p/streams.ts';
import type { Logger } from '../log.ts';
import {
  isElectionRequest,
  isElectionResponse,
  type ElectionRequest,
  type ElectionResponse,
  type ElectionTransport,
} from './raft.ts';

export const ELECTION_PROTOCOL = '/chorus/election/1.0.0';
const MAX_MESSAGE = 4 * 1024 * 1024;
/** How long a peer may take to send its whole request. */
const SERVE_TIMEOUT_MS = 10_000;

export type ElectionHandler = (from: string, req: ElectionRequest) => Promise<ElectionResponse>;

export class Libp2pElectionTransport implements ElectionTransport {
  private readonly libp2p: Libp2p;
  private readonly logger: Logger;
  private handler: ElectionHandler | undefined;
  /** Test hook: peers this node can exchange election messages with. */
  reachable: (peer: string) => boolean = () => true;

  constructor(libp2p: Libp2p, logger: Logger) {
    this.libp2p = libp2p;
    this.logger = logger;
  }

  async start(handler: ElectionHandler): Promise<void> {
    this.handler = handler;
    await this.libp2p.handle(ELECTION_PROTOCOL, (stream, conn) => this.serve(stream, conn), {
      maxInboundStreams: 256,
    });
  }

  async stop(): Promise<void> {
    this.handler = undefined;
    await this.libp2p.unhandle(ELECTION_PROTOCOL).catch(() => {});
  }

  private async serve(stream: Stream, conn: Connection): Promise<void> {
    const from = conn.remotePeer.toString();
    try {
      if (!this.handler || !this.reachable(from)) throw new Error('not serving');
      const req = await readJson(stream, MAX_MESSAGE, AbortSignal.timeout(SERVE_TIMEOUT_MS));
      if (!isElectionRequest(req)) throw new Error('malformed election request');
      const res = await this.handler(from, req);
      stream.send(Buffer.from(JSON.stringify(res)));
      await stream.close();
    } catch (err) {
      this.logger.trace('election request not answered', { from, error: describeError(err) });
      stream.abort(new Error('not answered'));
    }
  }

  async send(to: string, req: ElectionRequest, timeoutMs: number): Promise<ElectionResponse> {
    if (!this.reachable(to)) {
      await new Promise((r) => setTimeout(r, Math.min(timeoutMs, 50)));
      throw new Error(`${to} is unreachable (cut)`);
    }
    const signal = AbortSignal.timeout(timeoutMs);
    const stream = await this.libp2p.dialProtocol(peerIdFromString(to), ELECTION_PROTOCOL, { signal });
    try {
      const res = await requestJson(stream, req, MAX_MESSAGE, signal);
      if (!isElectionResponse(res)) throw new Error(`malformed election answer from ${to}`);
      return res;
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }
}
