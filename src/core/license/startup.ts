// The license a node starts with: found, verified and (in --dev mode) created here, before any
// networking. Fail-closed: every path without a valid license ends in a LicenseError.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { ChorusConfig } from '../config/schema.ts';
import { generateAuthority, issueLicense, loadAuthority, writeLicense } from './authority.ts';
import { LicenseError, parseLicense, verifyLicense, type License, type LicenseDocument } from './document.ts';

export const LICENSE_FILE = 'license.json';
export const DEV_AUTHORITY_FILE = 'dev-authority.key';
const DEV_LICENSE_YEARS = 10;
const DEV_MAX_NODES = 1000;

export interface NodeLicense {
  doc: LicenseDocument;
  license: License;
  /** Authorities whose licenses this node admits. */
  authorities: string[];
  /** The cluster peers must be licensed for. */
  clusterId: string;
  file: string;
  /** What --dev created on this start (for a one-time notice). */
  created: { authority?: string; license?: string };
}

export function licenseFile(config: ChorusConfig): string {
  return config.license.file || join(config.dataDir, LICENSE_FILE);
}

/** Reads and parses a license file; a missing or unreadable file is LicenseError('missing'). */
export function readLicenseFile(file: string): LicenseDocument {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    throw new LicenseError(
      'missing',
      `no license at ${file}: set license.file, or run \`chorus node --dev\` for a local development cluster`,
    );
  }
  return parseLicense(bytes);
}

/** The dev cluster's id: derived from its authority so two dev authorities never share a cluster. */
export function devClusterId(authority: string): string {
  return `dev-${createHash('sha256').update(authority).digest('hex').slice(0, 12)}`;
}

function devLicense(config: ChorusConfig, file: string): NodeLicense {
  const keyFile = config.license.devAuthority || join(config.dataDir, DEV_AUTHORITY_FILE);
  const created: NodeLicense['created'] = {};
  let authority;
  try {
    authority = generateAuthority(keyFile);
    created.authority = keyFile;
  } catch (err) {
    if ((err as { code?: string }).code !== 'AUTHORITY_EXISTS') throw err;
    authority = loadAuthority(keyFile); // made earlier, or by another local node sharing the file
  }
  const clusterId = devClusterId(authority.publicKey);
  const opts = { authorities: [authority.publicKey], clusterId };
  let doc: LicenseDocument | undefined;
  try {
    doc = readLicenseFile(file);
    verifyLicense(doc, opts);
  } catch {
    doc = undefined;
  }
  if (!doc) {
    const now = new Date();
    doc = issueLicense(authority, {
      licensee: 'local development',
      clusterId,
      maxNodes: DEV_MAX_NODES,
      features: ['dev'],
      notBefore: new Date(now.getTime() - 60_000),
      expiresAt: new Date(now.getTime() + DEV_LICENSE_YEARS * 365 * 86_400_000),
      dev: true,
    });
    writeLicense(file, doc);
    created.license = file;
  }
  return { doc, license: verifyLicense(doc, opts), authorities: opts.authorities, clusterId, file, created };
}

/** Finds and verifies this node's license (creating a dev one with --dev); throws LicenseError. */
export function resolveNodeLicense(config: ChorusConfig, now = new Date()): NodeLicense {
  const file = licenseFile(config);
  if (config.license.dev) return devLicense(config, file);
  const doc = readLicenseFile(file);
  const authorities = config.license.authority;
  if (authorities.length === 0) {
    throw new LicenseError(
      'untrusted_authority',
      'license.authority is not set: configure the public key of your license authority (CHORUS_LICENSE_AUTHORITY)',
    );
  }
  const license = verifyLicense(doc, { authorities, clusterId: config.license.clusterId || undefined, now });
  return { doc, license, authorities, clusterId: license.clusterId, file, created: {} };
}
