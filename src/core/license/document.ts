// License documents: what a license says, its canonical signed form (RFC 8785), and offline
// verification against trusted authority keys. A license is an Ed25519-signed JSON file issued by an
// authority to a licensee key: the license alone admits nobody; a node proves it with a node
// certificate signed by that licensee key (certificate.ts).
import { createHash, verify } from 'node:crypto';
import * as z from 'zod';
import { signedBytes } from '../canonical.ts';
import { parseKeyString } from '../crypto/ed25519.ts';
import { ChorusError } from '../errors.ts';

export const LICENSE_FORMAT = 'chorus-license/2';
/** The bearer licenses of before: they name no licensee key, so they are refused with a hint. */
const OLD_LICENSE_FORMAT = 'chorus-license/1';
/** Licenses are small; anything bigger is refused before parsing. */
export const MAX_LICENSE_BYTES = 16 * 1024;

export type LicenseReason =
  | 'missing'
  | 'malformed'
  | 'bad_signature'
  | 'untrusted_authority'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_cluster'
  /** a node certificate for another peer */
  | 'wrong_peer'
  /** a license, but no node certificate and no licensee key to make one */
  | 'not_enrolled';

/** A license that cannot be used; `reason` says why (each reason has its own message). */
export class LicenseError extends ChorusError {
  readonly reason: LicenseReason;
  constructor(reason: LicenseReason, message: string) {
    super(`LICENSE_${reason.toUpperCase()}`, message, { kind: 'fatal' }); // exit 4: no restart brings a license
    this.name = 'LicenseError';
    this.reason = reason;
  }
}

export const isoDate = z.iso.datetime({ offset: true });
const identifier = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'use letters, digits, "_", ".", ":" and "-"');
/** `ed25519:<base64url>` */
export const publicKeyField = z.string().regex(/^ed25519:[A-Za-z0-9_-]{43}$/, 'an Ed25519 key: ed25519:<base64url>');
export const signatureField = z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'an Ed25519 signature in base64url');

export const licenseSchema = z.strictObject({
  id: identifier,
  licensee: z.string().min(1).max(256),
  /** The licensee's public key: only node certificates signed by its secret half prove this license. */
  licenseeKey: publicKeyField,
  clusterId: identifier,
  maxNodes: z.number().int().min(1).max(100_000),
  features: z.array(z.string().min(1).max(64)).max(64),
  notBefore: isoDate,
  expiresAt: isoDate,
  /** A development license made by `chorus node --dev`: admits only peers of the same dev authority. */
  dev: z.boolean(),
  /** The issuing authority's public key (`ed25519:<base64url>`). */
  authority: publicKeyField,
});

export type License = z.output<typeof licenseSchema>;

export const documentSchema = z.strictObject({
  format: z.literal(LICENSE_FORMAT),
  license: licenseSchema,
  signature: signatureField,
});

export type LicenseDocument = z.output<typeof documentSchema>;

export function signingBytes(license: License): Buffer {
  return signedBytes(LICENSE_FORMAT, license);
}

/** What a node certificate binds to: the hash of the exact license the authority signed. */
export function licenseDigest(doc: LicenseDocument): string {
  return createHash('sha256').update(signingBytes(doc.license)).update(doc.signature).digest('base64url');
}

/** The first problem zod found, as "path: message". */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return `${issue?.path.join('.') || '(root)'}: ${issue?.message}`;
}

/** JSON text or bytes → a value; throws LicenseError('malformed') naming `what`. */
export function parseJsonInput(input: string | Uint8Array, what: string, limit: number): unknown {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength;
  if (size > limit) throw new LicenseError('malformed', `malformed ${what}: over ${limit} bytes`);
  try {
    return JSON.parse(typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input));
  } catch {
    throw new LicenseError('malformed', `malformed ${what}: not JSON`);
  }
}

/** Parses an already-decoded value as a license document; throws LicenseError('malformed'). */
export function toLicenseDocument(json: unknown): LicenseDocument {
  if ((json as { format?: unknown } | null)?.format === OLD_LICENSE_FORMAT) {
    throw new LicenseError(
      'malformed',
      `malformed license: format ${OLD_LICENSE_FORMAT} names no licensee key and is no longer accepted; ask the authority to issue it again with --licensee-key`,
    );
  }
  const parsed = documentSchema.safeParse(json);
  if (!parsed.success) throw new LicenseError('malformed', `malformed license: ${firstIssue(parsed.error)}`);
  return parsed.data;
}

/** Parses license bytes or JSON text; throws LicenseError('malformed') naming the first problem. */
export function parseLicense(input: string | Uint8Array): LicenseDocument {
  return toLicenseDocument(parseJsonInput(input, 'license', MAX_LICENSE_BYTES));
}

export interface VerifyOptions {
  /** Trusted authority keys (`ed25519:<base64url>`). */
  authorities: string[];
  /** The cluster the license must be for; any cluster when absent. */
  clusterId?: string;
  now?: Date;
}

/** True when `signature` (canonical base64url) is `key`'s Ed25519 signature of `data`. */
export function verifySignature(key: string, data: Uint8Array, signature: string): boolean {
  const pub = parseKeyString(key);
  if (!pub) return false;
  const raw = Buffer.from(signature, 'base64url');
  try {
    // only the canonical encoding: the unused low bits of the last character must be zero
    return raw.toString('base64url') === signature && verify(null, data, pub, raw);
  } catch {
    return false;
  }
}

/** Checks a validity window; throws LicenseError naming `what`. */
export function checkWindow(what: string, notBefore: string, expiresAt: string, now: number): void {
  const from = Date.parse(notBefore);
  const until = Date.parse(expiresAt);
  if (until <= from) throw new LicenseError('malformed', `malformed ${what}: expiresAt is not after notBefore`);
  if (now < from) throw new LicenseError('not_yet_valid', `${what}: not valid before ${notBefore}`);
  if (now >= until) throw new LicenseError('expired', `${what}: expired at ${expiresAt}`);
}

/** Checks signature, authority, validity window and cluster; returns the license or throws LicenseError. */
export function verifyLicense(doc: LicenseDocument, opts: VerifyOptions): License {
  const lic = doc.license;
  if (!parseKeyString(lic.authority) || !parseKeyString(lic.licenseeKey)) {
    throw new LicenseError('malformed', `malformed license: a key is not an Ed25519 public key`);
  }
  if (!verifySignature(lic.authority, signingBytes(lic), doc.signature)) {
    throw new LicenseError('bad_signature', `license ${lic.id}: bad signature (the document was altered)`);
  }
  if (!opts.authorities.includes(lic.authority)) {
    throw new LicenseError('untrusted_authority', `license ${lic.id}: issued by an authority this node does not trust`);
  }
  checkWindow(`license ${lic.id}`, lic.notBefore, lic.expiresAt, (opts.now ?? new Date()).getTime());
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
