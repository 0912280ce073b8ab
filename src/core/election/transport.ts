// The election's direct libp2p protocol (votes, heartbeats carrying the consensus log, forwarded
// proposals need answers from named peers, never best-effort gossip): /chorus/election/1.1.0 is a
// persistent channel per peer (p2p/rpc.ts: one long-lived stream, requests by id, many in flight);
// /chorus/election/1.0.0, one JSON request and one JSON answer per stream, is still answered and used
// towards peers that do not speak 1.1.0 (one release of compatibility). The remote peer ID comes from
// the authenticated (Noise) connection, never from the message. Tests can cut links with a
// reachability predicate (both directions) to partition a cluster of real nodes.
import type { Connection, Libp2p, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { withDeadline } from '../deadline.ts';
import { describeError } from '../errors.ts';
import { RpcClient, serveChannel } from '../p2p/rpc.ts';
import { readJson, requestJson } from '../p2p/streams.ts';
import type { Logger } from '../log.ts';
import {
  isElectionRequest,
  isElectionResponse,
  type ElectionRequest,
  type ElectionResponse,
  type ElectionTransport,
} from './raft.ts';

export const ELECTION_PROTOCOL = '/chorus/election/1.1.0';
/** The one-stream-per-message protocol of earlier releases, still answered. */
export const ELECTION_PROTOCOL_V1 = '/chorus/election/1.0.0';
const MAX_MESSAGE = 4 * 1024 * 1024;
/** How long a peer may take to send its whole request. */
const SERVE_TIMEOUT_MS = 10_000;

export type ElectionHandler = (from: string, req: ElectionRequest) => Promise<ElectionResponse>;

export class Libp2pElectionTransport implements ElectionTransport {
  private readonly libp2p: Libp2p;
  private readonly logger: Logger;
  private handler: ElectionHandler | undefined;
  private readonly rpc: RpcClient;
  /** Test hook: peers this node can exchange election messages with. */
  reachable: (peer: string) => boolean = () => true;

  constructor(libp2p: Libp2p, logger: Logger) {
    this.libp2p = libp2p;
    this.logger = logger;
    this.rpc = new RpcClient({
      libp2p,
      protocol: ELECTION_PROTOCOL,
      maxMessage: MAX_MESSAGE,
      legacy: (peer, req, signal) => this.sendV1(peer, req as ElectionRequest, signal),
    });
  }

  async start(handler: ElectionHandler): Promise<void> {
    this.handler = handler;
    this.rpc.start();
    await this.libp2p.handle(
      ELECTION_PROTOCOL,
      (stream, conn) =>
        serveChannel(stream, conn, (from, req) => this.answer(from, req), {
          maxMessage: MAX_MESSAGE,
          logger: this.logger,
        }),
      { maxInboundStreams: 32 },
    );
    await this.libp2p.handle(ELECTION_PROTOCOL_V1, (stream, conn) => this.serveV1(stream, conn), {
      maxInboundStreams: 256,
    });
  }

  async stop(): Promise<void> {
    this.handler = undefined;
    this.rpc.stop();
    await this.libp2p.unhandle(ELECTION_PROTOCOL).catch(() => {});
    await this.libp2p.unhandle(ELECTION_PROTOCOL_V1).catch(() => {});
  }

  /** One request from a peer, on either protocol. */
  private answer(from: string, req: unknown): Promise<ElectionResponse> {
    if (!this.handler || !this.reachable(from)) throw new Error('not serving');
    if (!isElectionRequest(req)) throw new Error('malformed election request');
    return this.handler(from, req);
  }

  private async serveV1(stream: Stream, conn: Connection): Promise<void> {
    const from = conn.remotePeer.toString();
    try {
      if (!this.handler || !this.reachable(from)) throw new Error('not serving');
      const res = await this.answer(from, await readJson(stream, MAX_MESSAGE, AbortSignal.timeout(SERVE_TIMEOUT_MS)));
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
    const res = await withDeadline(timeoutMs, (signal) => this.rpc.request(to, req, signal));
    if (!isElectionResponse(res)) throw new Error(`malformed election answer from ${to}`);
    return res;
  }

  /** The exchange of /chorus/election/1.0.0: one stream per message. */
  private async sendV1(to: string, req: ElectionRequest, signal: AbortSignal): Promise<unknown> {
    const stream = await this.libp2p.dialProtocol(peerIdFromString(to), ELECTION_PROTOCOL_V1, { signal });
    try {
      return await requestJson(stream, req, MAX_MESSAGE, signal);
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }
}
