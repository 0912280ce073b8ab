// Admission: no unlicensed peer in the mesh. On every new connection each side challenges the other
// over /chorus/admission/1.0.0; the answer is the peer's attestation (its license, signed by the
// peer's own key) and a signature over the challenge. Peers that fail are disconnected and denied
// for a while. Attestations of authors met only through third nodes are looked up from admitted
// peers, so pubsub messages and DHT records from unlicensed authors are refused wherever they come from.
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Signer } from '../p2p/signer.ts';
import { verifyByAuthor } from '../p2p/signer.ts';
import { readJson, requestJson } from '../p2p/streams.ts';
import {
  canonicalJson,
  LicenseError,
  parseLicense,
  verifyLicense,
  type License,
  type LicenseDocument,
} from './document.ts';

export const ADMISSION_PROTOCOL = '/chorus/admission/1.0.0';
const MAX_MESSAGE = 64 * 1024;
const MAX_LOOKUP = 32;
const DENY_MS = 60_000;
/** How long an author nobody could vouch for stays unknown before it is looked up again. */
const UNKNOWN_MS = 10_000;
const ATTESTATION_DOMAIN = 'chorus-attestation/1';
const PROOF_DOMAIN = 'chorus-admission/1';

export interface Attestation {
  license: LicenseDocument;
  peer: string;
  at: string;
  signature: string;
}

const attestationSchema = z.strictObject({
  license: z.unknown(),
  peer: z.string().min(1).max(128),
  at: z.string().max(64),
  signature: z.string().max(128),
});

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
  /** 'direct': proved itself to this node; 'vouched': attestation obtained through an admitted peer. */
  via: 'direct' | 'vouched';
}

export interface AdmissionOptions {
  libp2p: Libp2p;
  signer: Signer;
  license: LicenseDocument;
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

function attestationBytes(a: Omit<Attestation, 'signature'>): Buffer {
  return Buffer.from(`${ATTESTATION_DOMAIN}\n${canonicalJson({ license: a.license, peer: a.peer, at: a.at })}`);
}

function proofBytes(challenge: string, verifier: string, prover: string): Buffer {
  return Buffer.from(`${PROOF_DOMAIN}\n${challenge}\n${verifier}\n${prover}`);
}

export class AdmissionRefusedError extends LicenseError {}

export interface AdmissionEvents {
  admitted: [AdmittedPeer];
  refused: [{ peerId: string; reason: string }];
}

export class Admission extends EventEmitter<AdmissionEvents> {
  private readonly opts: AdmissionOptions;
  private readonly self: Attestation;
  private readonly known = new Map<string, AdmittedPeer & { attestation: Attestation }>();
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
    const unsigned = { license: opts.license, peer: opts.signer.author, at: new Date().toISOString() };
    this.self = {
      ...unsigned,
      signature: Buffer.from(opts.signer.sign(attestationBytes(unsigned))).toString('base64url'),
    };
    const lic = opts.license.license;
    this.known.set(opts.signer.author, {
      peerId: opts.signer.author,
      licenseId: lic.id,
      licensee: lic.licensee,
      dev: lic.dev,
      expiresAt: Date.parse(lic.expiresAt),
      via: 'direct',
      attestation: this.self,
    });
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

  /** Sync check used by validators: a known, unexpired attestation for this cluster. */
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
    const { attestation: _a, ...view } = p;
    return view;
  }

  admitted(): AdmittedPeer[] {
    return [...this.known.keys()].map((k) => this.info(k)).filter((p): p is AdmittedPeer => p !== undefined);
  }

  /**
   * Resolves once `author` is admitted or known not to be: waits for a handshake in progress, and
   * otherwise asks admitted connected peers for the author's attestation.
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

  /** Verifies an attestation end to end; returns the license or throws LicenseError. */
  verifyAttestation(raw: unknown, expectedPeer?: string): License {
    const parsed = attestationSchema.safeParse(raw);
    if (!parsed.success) throw new LicenseError('malformed', 'malformed attestation');
    const a = parsed.data;
    if (expectedPeer !== undefined && a.peer !== expectedPeer) {
      throw new LicenseError('malformed', 'attestation names another peer');
    }
    const doc = parseLicense(JSON.stringify(a.license));
    if (
      !verifyByAuthor(
        a.peer,
        attestationBytes({ license: doc, peer: a.peer, at: a.at }),
        Buffer.from(a.signature, 'base64url'),
      )
    ) {
      throw new LicenseError('bad_signature', 'attestation is not signed by the peer it names');
    }
    return verifyLicense(doc, { authorities: this.opts.authorities, clusterId: this.opts.clusterId });
  }

  private remember(raw: Attestation, license: License, via: AdmittedPeer['via']): AdmittedPeer {
    const entry = {
      peerId: raw.peer,
      licenseId: license.id,
      licensee: license.licensee,
      dev: license.dev,
      expiresAt: Date.parse(license.expiresAt),
      via,
      attestation: raw,
    };
    const prev = this.known.get(raw.peer);
    if (!prev || prev.via === 'vouched' || via === 'direct') this.known.set(raw.peer, entry);
    const { attestation: _a, ...view } = entry;
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
    try {
      const signal = AbortSignal.timeout(this.opts.handshakeTimeoutMs);
      const stream = await conn.newStream(ADMISSION_PROTOCOL, { signal });
      const answer = (await requestJson(stream, { op: 'prove', challenge }, MAX_MESSAGE, signal)) as {
        attestation?: unknown;
        proof?: unknown;
      };
      const license = this.verifyAttestation(answer.attestation, peer);
      const proof = typeof answer.proof === 'string' ? Buffer.from(answer.proof, 'base64url') : Buffer.alloc(0);
      if (!verifyByAuthor(peer, proofBytes(challenge, this.opts.signer.author, peer), proof)) {
        throw new LicenseError('bad_signature', 'the challenge was not signed by the peer');
      }
      const admitted = this.remember(answer.attestation as Attestation, license, 'direct');
      this.opts.logger.debug('admitted a peer', { peer, license: license.id });
      this.emit('admitted', admitted);
      return true;
    } catch (err) {
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

  private async serve(stream: Stream, conn: Connection): Promise<void> {
    let response: unknown;
    try {
      const req = requestSchema.parse(
        await readJson(stream, MAX_MESSAGE, AbortSignal.timeout(this.opts.handshakeTimeoutMs)),
      );
      if (req.op === 'prove') {
        const verifier = conn.remotePeer.toString();
        const proof = this.opts.signer.sign(proofBytes(req.challenge, verifier, this.opts.signer.author));
        response = { attestation: this.self, proof: Buffer.from(proof).toString('base64url') };
      } else {
        // only admitted peers may ask who else is admitted
        const asker = conn.remotePeer.toString();
        const ok = this.isAdmitted(asker) || (await this.pending.get(asker));
        response = {
          attestations: ok ? req.peers.map((p) => this.known.get(p)?.attestation).filter(Boolean) : [],
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
        attestations?: unknown[];
      };
      const raw = answer.attestations?.[0];
      if (raw === undefined) throw new Error('unknown to this peer');
      const license = this.verifyAttestation(raw, author);
      this.remember(raw as Attestation, license, 'vouched');
      return true;
    });
    try {
      return await Promise.any(attempts);
    } catch {
      return false;
    }
  }
}
