// Node certificates: the licensee's signature binding one node (its libp2p peer ID) to one license.
// This, not the license, is what a node proves: it is useless without the secret key of the peer it
// names (admission checks that the remote *is* that peer), and only the licensee key can make one.
// The certificate carries its license, so it verifies alone: authority → license → licensee → node.
import { peerIdFromString } from '@libp2p/peer-id';
import { sign, type KeyObject } from 'node:crypto';
import * as z from 'zod';
import { signedBytes } from '../canonical.ts';
import { keyString } from '../crypto/ed25519.ts';
import { UsageError } from '../errors.ts';
import {
  checkWindow,
  firstIssue,
  isoDate,
  LicenseError,
  licenseDigest,
  MAX_LICENSE_BYTES,
  parseJsonInput,
  signatureField,
  toLicenseDocument,
  verifyLicense,
  verifySignature,
  type License,
  type LicenseDocument,
  type VerifyOptions,
} from './document.ts';

export const CERT_FORMAT = 'chorus-node-cert/1';
export const MAX_CERT_BYTES = MAX_LICENSE_BYTES + 2048;
/** Clock skew a self-issued certificate allows for between nodes. */
const SKEW_MS = 5 * 60_000;

const nodeSchema = z.strictObject({
  /** The node's libp2p peer ID: only the holder of its secret key can prove this certificate. */
  peer: z.string().min(1).max(128),
  /** licenseDigest() of the license this certificate is for. */
  license: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  notBefore: isoDate,
  expiresAt: isoDate,
});

const certificateSchema = z.strictObject({
  format: z.literal(CERT_FORMAT),
  license: z.unknown(),
  node: nodeSchema,
  signature: signatureField,
});

export type NodeBinding = z.output<typeof nodeSchema>;

export interface NodeCertificate {
  format: typeof CERT_FORMAT;
  license: LicenseDocument;
  node: NodeBinding;
  signature: string;
}

/** What a credential file holds: a license (for the licensee) or a node certificate (for one node). */
export type Credential = { kind: 'license'; doc: LicenseDocument } | { kind: 'certificate'; cert: NodeCertificate };

function certBytes(node: NodeBinding): Buffer {
  return signedBytes(CERT_FORMAT, node);
}

/** Throws UsageError unless `peer` is an Ed25519 peer ID (the only kind chorus nodes have). */
export function assertPeerId(peer: string, flag = 'peer'): void {
  try {
    if (peerIdFromString(peer).type === 'Ed25519') return;
  } catch {
    // falls through
  }
  throw new UsageError(`${flag}: not an Ed25519 peer ID: ${peer.length > 60 ? `${peer.slice(0, 60)}…` : peer}`);
}

export interface CertificateOptions {
  notBefore?: Date;
  /** Default: when the license expires (never later). */
  expiresAt?: Date;
}

/** Signs a node certificate with the licensee key the license names; refuses any other key. */
export function issueCertificate(
  doc: LicenseDocument,
  licenseeKey: KeyObject,
  peer: string,
  opts: CertificateOptions = {},
): NodeCertificate {
  const lic = doc.license;
  const key = keyString(licenseeKey);
  if (key !== lic.licenseeKey) {
    throw new UsageError(
      `this licensee key (${key}) is not the one license ${lic.id} was issued to (${lic.licenseeKey})`,
      'WRONG_LICENSEE_KEY',
    );
  }
  assertPeerId(peer);
  const licenseEnd = Date.parse(lic.expiresAt);
  const expiresAt = Math.min(opts.expiresAt?.getTime() ?? licenseEnd, licenseEnd);
  const notBefore = Math.max(opts.notBefore?.getTime() ?? Date.now() - SKEW_MS, Date.parse(lic.notBefore));
  if (expiresAt <= notBefore) throw new UsageError('cannot enrol: the certificate would expire before it starts');
  const node: NodeBinding = {
    peer,
    license: licenseDigest(doc),
    notBefore: new Date(notBefore).toISOString(),
    expiresAt: new Date(expiresAt).toISOString(),
  };
  const signature = sign(null, certBytes(node), licenseeKey).toString('base64url');
  return { format: CERT_FORMAT, license: doc, node, signature };
}

/** Parses an already-decoded value as a node certificate; throws LicenseError('malformed'). */
export function toCertificate(json: unknown): NodeCertificate {
  const parsed = certificateSchema.safeParse(json);
  if (!parsed.success) throw new LicenseError('malformed', `malformed node certificate: ${firstIssue(parsed.error)}`);
  const license = toLicenseDocument(parsed.data.license);
  return { format: CERT_FORMAT, license, node: parsed.data.node, signature: parsed.data.signature };
}

/** Reads a credential file's content: a license or a node certificate, told apart by its format. */
export function parseCredential(input: string | Uint8Array): Credential {
  const json = parseJsonInput(input, 'license', MAX_CERT_BYTES);
  if ((json as { format?: unknown } | null)?.format === CERT_FORMAT) {
    return { kind: 'certificate', cert: toCertificate(json) };
  }
  return { kind: 'license', doc: toLicenseDocument(json) };
}

export interface VerifiedCertificate {
  certificate: NodeCertificate;
  license: License;
  node: NodeBinding;
  /** The earlier of the license's and the certificate's expiry (ms since the epoch). */
  expiresAt: number;
}

/**
 * Verifies the whole chain: the license (authority, validity, cluster), the licensee's signature over
 * the binding, that the binding is for this very license, its validity window, and — when `peer` is
 * given — that it names that peer. Throws LicenseError with the reason.
 */
export function verifyCertificate(cert: NodeCertificate, opts: VerifyOptions & { peer?: string }): VerifiedCertificate {
  const license = verifyLicense(cert.license, opts);
  const what = `node certificate of license ${license.id}`;
  if (!verifySignature(license.licenseeKey, certBytes(cert.node), cert.signature)) {
    throw new LicenseError('bad_signature', `${what}: not signed by the licensee key the license names`);
  }
  if (cert.node.license !== licenseDigest(cert.license)) {
    throw new LicenseError('bad_signature', `${what}: signed for another license`);
  }
  checkWindow(what, cert.node.notBefore, cert.node.expiresAt, (opts.now ?? new Date()).getTime());
  if (opts.peer !== undefined && cert.node.peer !== opts.peer) {
    throw new LicenseError('wrong_peer', `${what}: issued to peer ${cert.node.peer}, not to ${opts.peer}`);
  }
  return {
    certificate: cert,
    license,
    node: cert.node,
    expiresAt: Math.min(Date.parse(license.expiresAt), Date.parse(cert.node.expiresAt)),
  };
}

export function serializeCertificate(cert: NodeCertificate): string {
  return `${JSON.stringify(cert, null, 2)}\n`;
}
