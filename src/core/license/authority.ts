// A license authority and a licensee: their Ed25519 keypairs on disk (private key 0600), the issuing
// of licenses (authority → licensee key) and the writing of license and certificate files.
import { randomUUID, sign } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { generateKeyFile, loadKeyFile, parseKeyString, type KeyPair } from '../crypto/ed25519.ts';
import { UsageError } from '../errors.ts';
import { serializeCertificate, type NodeCertificate } from './certificate.ts';
import {
  firstIssue,
  LICENSE_FORMAT,
  licenseSchema,
  serializeLicense,
  signingBytes,
  type License,
  type LicenseDocument,
} from './document.ts';

export type Authority = KeyPair;

/** Creates an authority keypair: the private key as PKCS#8 PEM (0600), the public key beside it (`.pub`). */
export function generateAuthority(privateKeyFile: string, opts: { force?: boolean } = {}): Authority {
  return generateKeyFile(privateKeyFile, { ...opts, what: 'authority key' });
}

export function loadAuthority(privateKeyFile: string): Authority {
  return loadKeyFile(privateKeyFile, 'authority key');
}

export interface IssueOptions {
  id?: string;
  licensee: string;
  /** The licensee's public key (`ed25519:<base64url>`): who may enrol nodes under this license. */
  licenseeKey: string;
  clusterId: string;
  maxNodes: number;
  features?: string[];
  notBefore?: Date;
  expiresAt: Date;
  dev?: boolean;
}

/** Signs a license; input is validated by the same schema every verifier uses. */
export function issueLicense(authority: Authority, opts: IssueOptions): LicenseDocument {
  if (!parseKeyString(opts.licenseeKey)) {
    throw new UsageError(`cannot issue: the licensee key is not ed25519:<base64url>: ${opts.licenseeKey}`);
  }
  const candidate: License = {
    id: opts.id ?? `lic-${randomUUID()}`,
    licensee: opts.licensee,
    licenseeKey: opts.licenseeKey,
    clusterId: opts.clusterId,
    maxNodes: opts.maxNodes,
    features: opts.features ?? [],
    notBefore: (opts.notBefore ?? new Date()).toISOString(),
    expiresAt: opts.expiresAt.toISOString(),
    dev: opts.dev ?? false,
    authority: authority.publicKey,
  };
  const parsed = licenseSchema.safeParse(candidate);
  if (!parsed.success) throw new UsageError(`cannot issue: ${firstIssue(parsed.error)}`);
  if (Date.parse(parsed.data.expiresAt) <= Date.parse(parsed.data.notBefore)) {
    throw new UsageError('cannot issue: the expiry must be after not-before');
  }
  const signature = sign(null, signingBytes(parsed.data), authority.privateKey).toString('base64url');
  return { format: LICENSE_FORMAT, license: parsed.data, signature };
}

/** Writes a license or node certificate file whole (0600): a reader never sees half of one. */
export function writeCredentialFile(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  try {
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}

export function writeLicense(file: string, doc: LicenseDocument): void {
  writeCredentialFile(file, serializeLicense(doc));
}

export function writeCertificate(file: string, cert: NodeCertificate): void {
  writeCredentialFile(file, serializeCertificate(cert));
}
