// Admin-key custody: Shamir split of a secret into printable shares `chorus-share-v1:<t>:<i>:<b64url>:<sha8>`.
// The checksum catches a mistyped share; a digest sealed inside the shared secret catches shares
// mixed from different splits, so combining never silently yields a wrong key.
import { createHash, timingSafeEqual } from 'node:crypto';
import { combine, split } from 'shamir-secret-sharing';
import { UsageError, describeError } from '../errors.ts';

export const SHARE_PREFIX = 'chorus-share-v1';
/** Bytes of SHA-256(secret) appended to the secret before splitting, checked after combining. */
const TAG_BYTES = 4;
const MAX_SHARES = 255;

export interface ParsedShare {
  threshold: number;
  /** 1-based position in the split, for humans ("share 2 of 5"). */
  index: number;
  /** Raw library share: the y-values followed by the x-coordinate byte. */
  bytes: Uint8Array;
}

function sha256(data: Uint8Array | string): Buffer {
  return createHash('sha256').update(data).digest();
}

function checksum(body: string): string {
  return sha256(body).subarray(0, 4).toString('hex');
}

function isCount(n: number): boolean {
  return Number.isInteger(n) && n >= 2 && n <= MAX_SHARES;
}

/**
 * Splits `secret` (a string is UTF-8 encoded) into `shares` printable shares, any `threshold` of
 * which recover it. Requires 2 ≤ threshold ≤ shares ≤ 255 and a non-empty secret.
 */
export async function splitSecret(secret: string | Uint8Array, shares = 5, threshold = 3): Promise<string[]> {
  if (!isCount(threshold) || !isCount(shares) || threshold > shares) {
    throw new UsageError(
      `invalid share counts ${String(threshold)}-of-${String(shares)}: need 2 ≤ threshold ≤ shares ≤ ${MAX_SHARES}`,
      'INVALID_SHARE_COUNT',
    );
  }
  const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  if (bytes.length === 0) throw new UsageError('cannot split an empty secret', 'EMPTY_SECRET');
  const sealed = new Uint8Array(bytes.length + TAG_BYTES);
  sealed.set(bytes);
  sealed.set(sha256(bytes).subarray(0, TAG_BYTES), bytes.length);
  const raw = await split(sealed, shares, threshold);
  return raw.map((share, i) => {
    const body = `${SHARE_PREFIX}:${threshold}:${i + 1}:${Buffer.from(share).toString('base64url')}`;
    return `${body}:${checksum(body)}`;
  });
}

/** Parses and checksums one printable share; throws a UsageError saying what is wrong with it. */
export function parseShare(text: string): ParsedShare {
  const share = text.trim();
  const parts = share.split(':');
  const label = `share "${share.length > 24 ? `${share.slice(0, 24)}…` : share}"`;
  if (parts.length !== 5 || parts[0] !== SHARE_PREFIX) {
    throw new UsageError(
      `${label} is malformed: expected ${SHARE_PREFIX}:<threshold>:<index>:<data>:<checksum>`,
      'BAD_SHARE',
    );
  }
  const [, t, i, data, sum] = parts as [string, string, string, string, string];
  const body = parts.slice(0, 4).join(':');
  if (!/^[0-9a-f]{8}$/.test(sum) || sum !== checksum(body)) {
    throw new UsageError(`${label} fails its checksum: it was mistyped or damaged`, 'SHARE_CHECKSUM');
  }
  const threshold = /^[0-9]{1,3}$/.test(t) ? Number(t) : NaN;
  const index = /^[0-9]{1,3}$/.test(i) ? Number(i) : NaN;
  if (!isCount(threshold) || !(Number.isInteger(index) && index >= 1 && index <= MAX_SHARES)) {
    throw new UsageError(`${label} has an invalid threshold or index`, 'BAD_SHARE');
  }
  if (!/^[A-Za-z0-9_-]+$/.test(data)) throw new UsageError(`${label} has invalid data`, 'BAD_SHARE');
  const bytes = new Uint8Array(Buffer.from(data, 'base64url'));
  if (bytes.length < TAG_BYTES + 2 || bytes[bytes.length - 1] === 0) {
    throw new UsageError(`${label} has invalid data`, 'BAD_SHARE');
  }
  return { threshold, index, bytes };
}

/**
 * Recovers the secret from at least `threshold` shares of one split. Throws a UsageError for a
 * malformed, mistyped or duplicated share, shares with different thresholds or from different
 * splits, or too few shares (`need 3 shares, got 2`).
 */
export async function combineShares(shares: string[]): Promise<Uint8Array> {
  if (shares.length === 0) throw new UsageError('no shares given', 'NOT_ENOUGH_SHARES');
  const parsed = shares.map(parseShare);
  const first = parsed[0] as ParsedShare;
  const indexes = new Set<number>();
  const xs = new Set<number>();
  const seen = new Set<string>();
  for (const p of parsed) {
    if (p.threshold !== first.threshold) {
      throw new UsageError(
        `shares disagree on the threshold (${first.threshold} and ${p.threshold}): they come from different splits`,
        'SHARE_MISMATCH',
      );
    }
    if (p.bytes.length !== first.bytes.length) {
      throw new UsageError('shares have different lengths: they come from different splits', 'SHARE_MISMATCH');
    }
    const x = p.bytes[p.bytes.length - 1] as number;
    const key = Buffer.from(p.bytes).toString('base64url');
    if (seen.has(key)) throw new UsageError(`share ${p.index} was given twice`, 'DUPLICATE_SHARE');
    if (indexes.has(p.index) || xs.has(x)) {
      throw new UsageError(
        `share ${p.index} conflicts with another share: they come from different splits`,
        'SHARE_MISMATCH',
      );
    }
    seen.add(key);
    indexes.add(p.index);
    xs.add(x);
  }
  if (parsed.length < first.threshold) {
    throw new UsageError(`need ${first.threshold} shares, got ${parsed.length}`, 'NOT_ENOUGH_SHARES');
  }
  let sealed: Uint8Array;
  try {
    sealed = await combine(parsed.map((p) => p.bytes));
  } catch (err) {
    throw new UsageError(`cannot combine shares: ${describeError(err)}`, 'BAD_SHARE', err);
  }
  const secret = sealed.subarray(0, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  if (!timingSafeEqual(tag, sha256(secret).subarray(0, TAG_BYTES))) {
    throw new UsageError('shares do not recover a valid secret: they come from different splits', 'SHARE_MISMATCH');
  }
  return new Uint8Array(secret);
}
