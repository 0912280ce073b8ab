// License documents: what a license says, its canonical signed form, and offline verification
// against trusted authority keys. A license is an Ed25519-signed JSON file issued by an authority.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { ChorusError } from '../errors.ts';

export const LICENSE_FORMAT = 'chorus-license/1';
/** Licenses are small; anything bigger is refused before parsing. */
export const MAX_LICENSE_BYTES = 16 * 1024;
const SIGNING_DOMAIN = `${LICENSE_FORMAT}\n`;
const AUTHORITY_PREFIX = 'ed25519:';
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export type LicenseReason =
  'missing' | 'malformed' | 'bad_signature' | 'untrusted_authority' | 'expired' | 'not_yet_valid' | 'wrong_cluster';

/** A license that cannot be used; `reason` says why (each reason has its own message). */
export class LicenseError extends ChorusError {
  readonly reason: LicenseReason;
  constructor(reason: LicenseReason, message: string) {
    super(`LICENSE_${reason.toUpperCase()}`, message, { kind: 'fatal' }); // exit 4: no restart brings a license
    this.name = 'LicenseError';
    this.reason = reason;
  }
}

const isoDate = z.iso.datetime({ offset: true });
const identifier = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'use letters, digits, "_", ".", ":" and "-"');

export const licenseSchema = z.strictObject({
  id: identifier,
  licensee: z.string().min(1).max(256),
  clusterId: identifier,
  maxNodes: z.number().int().min(1).max(100_000),
  features: z.array(z.string().min(1).max(64)).max(64),
  notBefore: isoDate,
  expiresAt: isoDate,
  /** A development license made by `chorus node --dev`: admits only peers of the same dev authority. */
  dev: z.boolean(),
  /** The issuing authority's public key (`ed25519:<base64url>`). */
  authority: z.string().startsWith(AUTHORITY_PREFIX).max(64),
});

export type License = z.output<typeof licenseSchema>;

const documentSchema = z.strictObject({
  format: z.literal(LICENSE_FORMAT),
  license: licenseSchema,
  signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'an Ed25519 signature in base64url'),
});

export type LicenseDocument = z.output<typeof documentSchema>;

/** JSON with object keys sorted at every level: the bytes an authority signs. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function signingBytes(license: License): Buffer {
  return Buffer.from(SIGNING_DOMAIN + canonicalJson(license), 'utf8');
}

export function authorityKeyString(rawPublicKey: Uint8Array): string {
  return AUTHORITY_PREFIX + Buffer.from(rawPublicKey).toString('base64url');
}

/** The public key object of an `ed25519:<base64url>` authority string; undefined when malformed. */
export function authorityPublicKey(authority: string): KeyObject | undefined {
  if (!authority.startsWith(AUTHORITY_PREFIX)) return undefined;
  const raw = Buffer.from(authority.slice(AUTHORITY_PREFIX.length), 'base64url');
  if (raw.length !== 32 || raw.toString('base64url') !== authority.slice(AUTHORITY_PREFIX.length)) return undefined;
  try {
    return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

/** Parses license bytes or JSON text; throws LicenseError('malformed') naming the first problem. */
export function parseLicense(input: string | Uint8Array): LicenseDocument {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength;
  if (size > MAX_LICENSE_BYTES)
    throw new LicenseError('malformed', `malformed license: over ${MAX_LICENSE_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input));
  } catch {
    throw new LicenseError('malformed', 'malformed license: not JSON');
  }
  const parsed = documentSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new LicenseError('malformed', `malformed license: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  return parsed.data;
}

export interface VerifyOptions {
  /** Trusted authority keys (`ed25519:<base64url>`). */
  authorities: string[];
  /** The cluster the license must be for; any cluster when absent. */
  clusterId?: string;
  now?: Date;
}

/** Checks signature, authority, validity window and cluster; returns the license or throws LicenseError. */
export function verifyLicense(doc: LicenseDocument, opts: VerifyOptions): License {
  const lic = doc.license;
  const key = authorityPublicKey(lic.authority);
  if (!key) throw new LicenseError('malformed', 'malformed license: authority is not an Ed25519 public key');
  const signature = Buffer.from(doc.signature, 'base64url');
  let valid: boolean;
  try {
    // only the canonical encoding: the unused low bits of the last character must be zero
    valid = signature.toString('base64url') === doc.signature && verify(null, signingBytes(lic), key, signature);
  } catch {
    valid = false;
  }
  if (!valid) throw new LicenseError('bad_signature', `license ${lic.id}: bad signature (the document was altered)`);
  if (!opts.authorities.includes(lic.authority)) {
    throw new LicenseError('untrusted_authority', `license ${lic.id}: issued by an authority this node does not trust`);
  }
  const now = (opts.now ?? new Date()).getTime();
  const notBefore = Date.parse(lic.notBefore);
  const expiresAt = Date.parse(lic.expiresAt);
  if (expiresAt <= notBefore)
    throw new LicenseError('malformed', `malformed license: expiresAt is not after notBefore`);
  if (now < notBefore) throw new LicenseError('not_yet_valid', `license ${lic.id}: not valid before ${lic.notBefore}`);
  if (now >= expiresAt) throw new LicenseError('expired', `license ${lic.id}: expired at ${lic.expiresAt}`);
  if (opts.clusterId !== undefined && lic.clusterId !== opts.clusterId) {
    throw new LicenseError(
      'wrong_cluster',
      `license ${lic.id}: for cluster "${lic.clusterId}", not this cluster "${opts.clusterId}"`,
    );
  }
  return lic;
}

export function serializeLicense(doc: LicenseDocument): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}
