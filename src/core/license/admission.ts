// Admission: no unlicensed peer in the mesh. On every new connection each side challenges the other
// over /chorus/admission/2.0.0; the answer is the peer's node certificate (the licensee's signature
// binding the peer's ID to the license) and the peer's signature over the challenge, both peer IDs and
// the cluster. The connection is authenticated as that peer by Noise, so a certificate is worth
// nothing without its node's secret key, and a transcript is worth nothing on another connection.
// Peers that fail are disconnected and denied for a while; a peer that only missed the deadline (slow
// under load, not lying) is disconnected but may redial at once. Certificates of authors met only through
// third nodes are looked up from admitted peers, so pubsub messages and DHT records from unlicensed
// authors are refused wherever they come from.
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as z from 'zod';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Signer } from '../p2p/signer.ts';
import { verifyByAuthor } from '../p2p/signer.ts';
import { readJson, requestJson } from '../p2p/streams.ts';
import { signedBytes } from '../canonical.ts';
import { toCertificate, verifyCertificate, type NodeCertificate, type VerifiedCertificate } from './certificate.ts';
import { LicenseError } from './document.ts';

export const ADMISSION_PROTOCOL = '/chorus/admission/2.0.0';
const MAX_MESSAGE = 64 * 1024;
const MAX_LOOKUP = 32;
const DENY_MS = 60_000;
/** How long an author nobody could vouch for stays unknown before it is looked up again. */
const UNKNOWN_MS = 10_000;
const PROOF_DOMAIN = 'chorus-admission/2';

const requestSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('prove'), challenge: z.string().regex(/^[A-Za-z0-9_-]{43}$/) }),
  z.strictObject({ op: z.literal('lookup'), peers: z.array(z.string().max(128)).max(MAX_LOOKUP) }),
]);

export interface AdmittedPeer {
  peerId: string;
  licenseId: string;
  licensee: string;
  dev: boolean;
  expiresAt: number;
  /** 'direct': proved itself to this node; 'vouched': its certificate came through an admitted peer. */
  via: 'direct' | 'vouched';
}

export interface AdmissionOptions {
  libp2p: Libp2p;
  signer: Signer;
  /** This node's certificate: it must name `signer`'s peer ID. */
  credential: NodeCertificate;
  authorities: string[];
  clusterId: string;
  handshakeTimeoutMs: number;
  logger: Logger;
  /**
   * false: prove this node's license to others without checking theirs. Only for test harnesses
   * that play a misbehaving relay; a node always enforces.
   */
  enforce?: boolean;
}

/** What a prover signs: the verifier's fresh challenge, both peer IDs and the cluster. */
export function proofBytes(cluster: string, challenge: string, verifier: string, prover: string): Buffer {
  return signedBytes(PROOF_DOMAIN, { challenge, cluster, prover, verifier });
}

export interface AdmissionEvents {
  admitted: [AdmittedPeer];
  refused: [{ peerId: string; reason: string }];
  /** A peer that did not prove itself within the deadline: disconnected, not denied. */
  late: [{ peerId: string }];
}

export class Admission extends EventEmitter<AdmissionEvents> {
  private readonly opts: AdmissionOptions;
  private readonly known = new Map<string, AdmittedPeer & { certificate: NodeCertificate }>();
  private readonly pending = new Map<string, Promise<boolean>>();
  private readonly denied = new Map<string, number>();
  private readonly lookups = new Map<string, Promise<boolean>>();
  private readonly unknown = new Map<string, number>();
  /** Peers refused since start. */
  refusedCount = 0;
  private readonly onConnection = (evt: CustomEvent<Connection>): void => {
    void this.admit(evt.detail);
  };

  constructor(opts: AdmissionOptions) {
    super();
    this.opts = opts;
    // a node proves only its own certificate, and only a valid one
    const self = verifyCertificate(opts.credential, {
      authorities: opts.authorities,
      clusterId: opts.clusterId,
      peer: opts.signer.author,
    });
    this.remember(self, 'direct');
  }

  async start(): Promise<void> {
    await this.opts.libp2p.handle(ADMISSION_PROTOCOL, (stream, conn) => this.serve(stream, conn), {
      maxInboundStreams: 64,
      // a peer must be able to prove itself before anything else is allowed to it
      runOnLimitedConnection: false,
    });
    if (this.opts.enforce === false) return;
    this.opts.libp2p.addEventListener('connection:open', this.onConnection);
    for (const conn of this.opts.libp2p.getConnections()) void this.admit(conn);
  }

  async stop(): Promise<void> {
    this.opts.libp2p.removeEventListener('connection:open', this.onConnection);
    await this.opts.libp2p.unhandle(ADMISSION_PROTOCOL);
  }

  /** Sync check used by validators: a known, unexpired certificate for this cluster. */
  isAdmitted(peer: string): boolean {
    const p = this.known.get(peer);
    return p !== undefined && p.expiresAt > Date.now();
  }

  /** The connection gater's question: was this peer refused recently? */
  isDenied(peer: string): boolean {
    const until = this.denied.get(peer);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.denied.delete(peer);
    return false;
  }

  info(peer: string): AdmittedPeer | undefined {
    const p = this.known.get(peer);
    if (!p) return undefined;
    const { certificate: _c, ...view } = p;
    return view;
  }

  /** This node as its peers admit it: its license and when its certificate (or license) expires. */
  self(): AdmittedPeer {
    return this.info(this.opts.signer.author) as AdmittedPeer;
  }

  admitted(): AdmittedPeer[] {
    return [...this.known.keys()].map((k) => this.info(k)).filter((p): p is AdmittedPeer => p !== undefined);
  }

  /**
   * Resolves once `author` is admitted or known not to be: waits for a handshake in progress, and
   * otherwise asks admitted connected peers for the author's certificate.
   */
  async awaitAdmission(author: string, signal?: AbortSignal): Promise<boolean> {
    if (this.isAdmitted(author)) return true;
    const pending = this.pending.get(author);
    if (pending) return pending;
    if (this.isDenied(author)) return false;
    const until = this.unknown.get(author);
    if (until !== undefined && until > Date.now()) return false;
    // one lookup per author at a time, however many of its messages or records are waiting
    let running = this.lookups.get(author);
    if (!running) {
      running = this.lookup(author, signal ?? AbortSignal.timeout(this.opts.handshakeTimeoutMs)).then((ok) => {
        if (ok) this.unknown.delete(author);
        else {
          if (this.unknown.size > 10_000) this.unknown.clear();
          this.unknown.set(author, Date.now() + UNKNOWN_MS);
        }
        return ok;
      });
      this.lookups.set(author, running);
      void running.finally(() => this.lookups.delete(author));
    }
    return running;
  }

  /**
   * Verifies a node certificate end to end (authority, license, licensee signature, validity, cluster)
   * and, when given, that it names `expectedPeer`; returns the verified chain or throws LicenseError.
   */
  verifyCredential(raw: unknown, expectedPeer?: string): VerifiedCertificate {
    const cert = toCertificate(raw);
    return verifyCertificate(cert, {
      authorities: this.opts.authorities,
      clusterId: this.opts.clusterId,
      peer: expectedPeer,
    });
  }

  private remember(verified: VerifiedCertificate, via: AdmittedPeer['via']): AdmittedPeer {
    const entry = {
      peerId: verified.node.peer,
      licenseId: verified.license.id,
      licensee: verified.license.licensee,
      dev: verified.license.dev,
      expiresAt: verified.expiresAt,
      via,
      certificate: verified.certificate,
    };
    const prev = this.known.get(entry.peerId);
    if (!prev || prev.via === 'vouched' || via === 'direct') this.known.set(entry.peerId, entry);
    const { certificate: _c, ...view } = entry;
    return view;
  }

  /** Challenges the remote of a new connection (once per peer at a time); refuses it on failure. */
  private admit(conn: Connection): Promise<boolean> {
    const peer = conn.remotePeer.toString();
    const current = this.known.get(peer);
    if (current?.via === 'direct' && current.expiresAt > Date.now()) return Promise.resolve(true);
    let running = this.pending.get(peer);
    if (!running) {
      running = this.challenge(conn).finally(() => this.pending.delete(peer));
      this.pending.set(peer, running);
    }
    return running;
  }

  private async challenge(conn: Connection): Promise<boolean> {
    const peer = conn.remotePeer.toString();
    const challenge = randomBytes(32).toString('base64url');
    const signal = AbortSignal.timeout(this.opts.handshakeTimeoutMs);
    try {
      const stream = await conn.newStream(ADMISSION_PROTOCOL, { signal });
      const answer = (await requestJson(stream, { op: 'prove', challenge }, MAX_MESSAGE, signal)) as {
        certificate?: unknown;
        proof?: unknown;
      } | null;
      // the remote is `peer` (Noise authenticated it): its certificate must name it …
      const verified = this.verifyCredential(answer?.certificate, peer);
      // … and it signs this fresh challenge, for this verifier, in this cluster
      const proof = typeof answer?.proof === 'string' ? Buffer.from(answer.proof, 'base64url') : Buffer.alloc(0);
      if (!verifyByAuthor(peer, proofBytes(this.opts.clusterId, challenge, this.opts.signer.author, peer), proof)) {
        throw new LicenseError('bad_signature', 'the challenge was not signed by the peer');
      }
      const admitted = this.remember(verified, 'direct');
      this.opts.logger.debug('admitted a peer', { peer, license: verified.license.id });
      this.emit('admitted', admitted);
      return true;
    } catch (err) {
      // too slow is not unlicensed: under load (50 nodes on one event loop) honest peers miss the
      // deadline, and denying them for a minute would keep them out of the mesh; hang up, let them redial
      if (signal.aborted && !(err instanceof LicenseError)) {
        await this.late(peer);
        return false;
      }
      await this.refuse(peer, err instanceof LicenseError ? err.message : `no license proof (${describeError(err)})`);
      return false;
    }
  }

  private async refuse(peer: string, reason: string): Promise<void> {
    if (this.known.get(peer)?.via === 'direct') this.known.delete(peer);
    this.denied.set(peer, Date.now() + DENY_MS);
    this.refusedCount++;
    this.opts.logger.warn('refused an unlicensed peer', { peer, reason });
    this.emit('refused', { peerId: peer, reason });
    await this.opts.libp2p.hangUp(peerIdFromString(peer)).catch(() => {});
  }

  private async late(peer: string): Promise<void> {
    if (this.known.get(peer)?.via === 'direct') this.known.delete(peer);
    this.opts.logger.warn('disconnected a peer that did not prove its license in time', {
      peer,
      timeoutMs: this.opts.handshakeTimeoutMs,
    });
    this.emit('late', { peerId: peer });
    await this.opts.libp2p.hangUp(peerIdFromString(peer)).catch(() => {});
  }

  private async serve(stream: Stream, conn: Connection): Promise<void> {
    let response: unknown;
    try {
      const req = requestSchema.parse(
        await readJson(stream, MAX_MESSAGE, AbortSignal.timeout(this.opts.handshakeTimeoutMs)),
      );
      if (req.op === 'prove') {
        const verifier = conn.remotePeer.toString();
        const proof = this.opts.signer.sign(
          proofBytes(this.opts.clusterId, req.challenge, verifier, this.opts.signer.author),
        );
        response = { certificate: this.opts.credential, proof: Buffer.from(proof).toString('base64url') };
      } else {
        // only admitted peers may ask who else is admitted
        const asker = conn.remotePeer.toString();
        const ok = this.isAdmitted(asker) || (await this.pending.get(asker));
        response = {
          certificates: ok ? req.peers.map((p) => this.known.get(p)?.certificate).filter(Boolean) : [],
        };
      }
    } catch {
      response = { error: 'bad request' };
    }
    try {
      stream.send(Buffer.from(JSON.stringify(response)));
      await stream.close();
    } catch {
      stream.abort(new Error('could not answer'));
    }
  }

  private async lookup(author: string, signal: AbortSignal): Promise<boolean> {
    const askers = this.opts.libp2p
      .getConnections()
      .map((c) => c.remotePeer)
      .filter((p, i, all) => all.findIndex((q) => q.equals(p)) === i && this.known.get(p.toString())?.via === 'direct')
      .slice(0, 3);
    const attempts = askers.map(async (peer: PeerId) => {
      const stream = await this.opts.libp2p.dialProtocol(peer, ADMISSION_PROTOCOL, { signal });
      const answer = (await requestJson(stream, { op: 'lookup', peers: [author] }, MAX_MESSAGE, signal)) as {
        certificates?: unknown[];
      } | null;
      const raw = Array.isArray(answer?.certificates) ? answer.certificates[0] : undefined;
      if (raw === undefined) throw new Error('unknown to this peer');
      // a relay cannot vouch for anyone: the certificate itself proves the licensee enrolled the author
      const verified = this.verifyCredential(raw, author);
      this.remember(verified, 'vouched');
      return true;
    });
    try {
      return await Promise.any(attempts);
    } catch {
      return false;
    }
  }
}
