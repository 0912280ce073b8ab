// A license authority: its Ed25519 keypair on disk (private key 0600) and the issuing of licenses.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ChorusError, UsageError } from '../errors.ts';
import {
  authorityKeyString,
  LICENSE_FORMAT,
  licenseSchema,
  serializeLicense,
  signingBytes,
  type License,
  type LicenseDocument,
} from './document.ts';

export interface Authority {
  privateKey: KeyObject;
  /** `ed25519:<base64url>`: what nodes configure as `license.authority`. */
  publicKey: string;
}

function publicString(privateKey: KeyObject): string {
  const der = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return authorityKeyString(der.subarray(der.length - 32));
}

/** Creates an authority keypair: the private key as PKCS#8 PEM (0600), the public key beside it (`.pub`). */
export function generateAuthority(privateKeyFile: string, opts: { force?: boolean } = {}): Authority {
  const { privateKey } = generateKeyPairSync('ed25519');
  mkdirSync(dirname(privateKeyFile), { recursive: true, mode: 0o700 });
  // written whole to a temporary file, then linked into place: never half a key, never an overwrite
  const tmp = `${privateKeyFile}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(tmp, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  try {
    if (opts.force) renameSync(tmp, privateKeyFile);
    else linkSync(tmp, privateKeyFile);
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') {
      throw new ChorusError(
        'AUTHORITY_EXISTS',
        `${privateKeyFile} already exists; refusing to overwrite an authority key`,
        { kind: 'usage' },
      );
    }
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  const publicKey = publicString(privateKey);
  writeFileSync(`${privateKeyFile}.pub`, `${publicKey}\n`);
  return { privateKey, publicKey };
}

export function loadAuthority(privateKeyFile: string): Authority {
  let pem: string;
  try {
    pem = readFileSync(privateKeyFile, 'utf8');
  } catch (err) {
    throw new ChorusError('AUTHORITY_KEY', `cannot read authority key ${privateKeyFile}: ${(err as Error).message}`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new UsageError(`${privateKeyFile} is not a PEM private key`, 'AUTHORITY_KEY');
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new UsageError(`${privateKeyFile} is not an Ed25519 key`, 'AUTHORITY_KEY');
  }
  return { privateKey, publicKey: publicString(privateKey) };
}

export interface IssueOptions {
  id?: string;
  licensee: string;
  clusterId: string;
  maxNodes: number;
  features?: string[];
  notBefore?: Date;
  expiresAt: Date;
  dev?: boolean;
}

/** Signs a license; input is validated by the same schema every verifier uses. */
export function issueLicense(authority: Authority, opts: IssueOptions): LicenseDocument {
  const candidate: License = {
    id: opts.id ?? `lic-${randomUUID()}`,
    licensee: opts.licensee,
    clusterId: opts.clusterId,
    maxNodes: opts.maxNodes,
    features: opts.features ?? [],
    notBefore: (opts.notBefore ?? new Date()).toISOString(),
    expiresAt: opts.expiresAt.toISOString(),
    dev: opts.dev ?? false,
    authority: authority.publicKey,
  };
  const parsed = licenseSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`cannot issue: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  if (Date.parse(parsed.data.expiresAt) <= Date.parse(parsed.data.notBefore)) {
    throw new UsageError('cannot issue: the expiry must be after not-before');
  }
  const signature = sign(null, signingBytes(parsed.data), authority.privateKey).toString('base64url');
  return { format: LICENSE_FORMAT, license: parsed.data, signature };
}

export function writeLicense(file: string, doc: LicenseDocument): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, serializeLicense(doc), { mode: 0o600 });
}
