// The license a node starts with: found, verified and (in --dev mode) created here, before any
// networking. Fail-closed: every path without a valid license ends in a LicenseError. A node proves
// its license with a node certificate for its own peer ID, which comes from one of three places:
//   certificate   license.file holds a node certificate (`chorus license enroll`) naming this node;
//   licensee-key  license.file holds the license and license.licenseeKey the licensee's secret key,
//                 from which the node certifies itself at start (the key never leaves the host);
//   dev           --dev: the dev authority is licensee too and certifies every node on the spot.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChorusConfig } from '../config/schema.ts';
import { derivedRoleKey } from '../crypto/derived-keys.ts';
import { loadKeyFile, rawSeed, type KeyPair } from '../crypto/ed25519.ts';
import type { RoleKey } from '../crypto/keyring.ts';
import { DATA_FILES, dataFile } from '../datadir.ts';
import { generateAuthority, issueLicense, loadAuthority, writeLicense } from './authority.ts';
import {
  issueCertificate,
  parseCredential,
  verifyCertificate,
  type Credential,
  type NodeCertificate,
} from './certificate.ts';
import { LicenseError, verifyLicense, type License, type LicenseDocument } from './document.ts';
import { serverKeyMissing } from './lease.ts';

export const LICENSE_FILE = 'license.json';
export const DEV_AUTHORITY_FILE = 'dev-authority.key';
const DEV_LICENSE_YEARS = 10;
const DEV_MAX_NODES = 1000;

export type Enrolment = 'certificate' | 'licensee-key' | 'dev';

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
  /** Where this node's certificate comes from (see the header). */
  enrolment: Enrolment;
  /** True when any peer ID can be certified on the spot (dev, licensee key): one-shot clients use fresh keys. */
  selfEnrols: boolean;
  /** The node certificate this node proves as `peer`; throws LicenseError('wrong_peer') when it has none. */
  credentialFor(peer: string): NodeCertificate;
  /** Dev mode: the dev cluster's key for a role, the same on every node of the dev authority. */
  devRoleKey?: (role: string) => Promise<RoleKey>;
}

export function licenseFile(config: ChorusConfig): string {
  return config.license.file || join(config.dataDir, LICENSE_FILE);
}

/** Reads and parses a credential file; a missing or unreadable file is LicenseError('missing'). */
export function readCredentialFile(file: string): Credential {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    throw new LicenseError(
      'missing',
      `no license at ${file}: set license.file, or run \`chorus node --dev\` for a local development cluster`,
    );
  }
  return parseCredential(bytes);
}

/** Reads a license file (a node certificate yields the license inside it). */
export function readLicenseFile(file: string): LicenseDocument {
  const c = readCredentialFile(file);
  return c.kind === 'license' ? c.doc : c.cert.license;
}

/** The dev cluster's id: derived from its authority so two dev authorities never share a cluster. */
export function devClusterId(authority: string): string {
  return `dev-${createHash('sha256').update(authority).digest('hex').slice(0, 12)}`;
}

/** Certificates made on the spot by the licensee key, one per peer. */
function selfCertifier(doc: LicenseDocument, licensee: KeyPair): (peer: string) => NodeCertificate {
  const made = new Map<string, NodeCertificate>();
  return (peer) => {
    let cert = made.get(peer);
    if (!cert) {
      cert = issueCertificate(doc, licensee.privateKey, peer);
      if (made.size > 64) made.clear();
      made.set(peer, cert);
    }
    return cert;
  };
}

function devLicense(config: ChorusConfig, file: string): NodeLicense {
  const keyFile = config.license.devAuthority || join(config.dataDir, DEV_AUTHORITY_FILE);
  const created: NodeLicense['created'] = {};
  let authority;
  try {
    authority = generateAuthority(keyFile);
    created.authority = keyFile;
  } catch (err) {
    if ((err as { code?: string }).code !== 'KEY_EXISTS') throw err;
    authority = loadAuthority(keyFile); // made earlier, or by another local node sharing the file
  }
  const clusterId = devClusterId(authority.publicKey);
  const opts = { authorities: [authority.publicKey], clusterId };
  let doc: LicenseDocument | undefined;
  try {
    doc = readLicenseFile(file);
    verifyLicense(doc, opts);
    if (doc.license.licenseeKey !== authority.publicKey) doc = undefined;
  } catch {
    doc = undefined;
  }
  if (!doc) {
    const now = new Date();
    doc = issueLicense(authority, {
      licensee: 'local development',
      // the dev authority is its own licensee: it certifies every node of the dev cluster on the spot
      licenseeKey: authority.publicKey,
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
  const seed = rawSeed(authority.privateKey);
  return {
    doc,
    license: verifyLicense(doc, opts),
    authorities: opts.authorities,
    clusterId,
    file,
    created,
    enrolment: 'dev',
    selfEnrols: true,
    credentialFor: selfCertifier(doc, authority),
    devRoleKey: (role) => derivedRoleKey(seed, clusterId, role),
  };
}

function notEnrolled(lic: License, file: string): LicenseError {
  return new LicenseError(
    'not_enrolled',
    `license ${lic.id} is not enrolled for this node: ${file} holds the license, not a node certificate; run \`chorus license request\` here and \`chorus license enroll\` where the licensee key is (or set license.licenseeKey)`,
  );
}

/** Finds and verifies this node's license (creating a dev one with --dev); throws LicenseError. */
export function resolveNodeLicense(config: ChorusConfig, now = new Date()): NodeLicense {
  const file = licenseFile(config);
  if (config.license.server && !config.license.serverKey) throw serverKeyMissing();
  if (config.license.dev) return devLicense(config, file);
  const credential = readCredentialFile(file);
  const authorities = config.license.authority;
  if (authorities.length === 0) {
    throw new LicenseError(
      'untrusted_authority',
      'license.authority is not set: configure the public key of your license authority (CHORUS_LICENSE_AUTHORITY)',
    );
  }
  const verify = { authorities, clusterId: config.license.clusterId || undefined, now };
  const base = { authorities, file, created: {} };
  if (credential.kind === 'certificate') {
    const { cert } = credential;
    const { license } = verifyCertificate(cert, verify);
    // checked before the node creates an identity: a new key could never match the certificate
    if (!existsSync(dataFile(config.dataDir, 'identity'))) {
      throw new LicenseError(
        'wrong_peer',
        `${file} is a node certificate for peer ${cert.node.peer}, but ${config.dataDir} holds no node key (${DATA_FILES.identity}): a certificate is useless without the key of the node it names; enrol this node (chorus license request)`,
      );
    }
    return {
      ...base,
      doc: cert.license,
      license,
      clusterId: license.clusterId,
      enrolment: 'certificate',
      selfEnrols: false,
      credentialFor: (peer) => {
        if (peer !== cert.node.peer) {
          throw new LicenseError(
            'wrong_peer',
            `${file} is a node certificate for peer ${cert.node.peer}, not for this node (${peer}): copied from another node? enrol this node (chorus license request)`,
          );
        }
        return cert;
      },
    };
  }
  const { doc } = credential;
  const license = verifyLicense(doc, verify);
  if (!config.license.licenseeKey) throw notEnrolled(license, file);
  const licensee = loadKeyFile(config.license.licenseeKey, 'licensee key');
  if (licensee.publicKey !== license.licenseeKey) {
    throw new LicenseError(
      'not_enrolled',
      `license.licenseeKey ${config.license.licenseeKey} (${licensee.publicKey}) is not the key license ${license.id} was issued to (${license.licenseeKey})`,
    );
  }
  return {
    ...base,
    doc,
    license,
    clusterId: license.clusterId,
    enrolment: 'licensee-key',
    selfEnrols: true,
    credentialFor: selfCertifier(doc, licensee),
  };
}
