// A decision: one signed, versioned artifact at a UCXL subject. Each version links to the hash of the
// previous one (a verifiable chain) and carries its payload encrypted to the roles allowed to read it.
// Encoding, hashing, signing and validation live here; all of it is pure apart from the signer.
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { ChorusError } from '../errors.ts';
import { canonicalJson } from '../canonical.ts';
import { MAX_VERSION } from '../ucxl/address.ts';

export const RECORD_FORMAT = 1;
export const MAX_RECORD_BYTES = 1024 * 1024;

export const decisionSchema = z.strictObject({
  v: z.literal(RECORD_FORMAT),
  subject: z.string().min(1).max(1024),
  version: z.number().int().min(1).max(MAX_VERSION),
  author: z.string().min(1),
  authorRole: z.string().regex(/^[a-zA-Z0-9_-]+$/),
  timestamp: z.string().datetime(),
  contentType: z.string().min(1).max(200),
  prevHash: z.string().regex(/^([0-9a-f]{64})?$/),
  roles: z.array(z.string().regex(/^[a-zA-Z0-9_-]+$/)).min(1),
  /** base64 age ciphertext (empty for a deletion tombstone) */
  payload: z.string(),
  size: z.number().int().min(0),
  deleted: z.boolean().optional(),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  signature: z.string().min(1),
});

export type DecisionRecord = z.output<typeof decisionSchema>;
export type UnsignedDecision = Omit<DecisionRecord, 'hash' | 'signature'>;

export class InvalidRecordError extends ChorusError {
  constructor(message: string) {
    super('RECORD_INVALID', message);
    this.name = 'InvalidRecord';
  }
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The DHT key part that names a subject (its hash keeps keys short and uniform). */
export function subjectId(subject: string): string {
  return sha256Hex(subject);
}

export const LATEST_NS = 'ucxl';
export const VERSION_NS = 'ucxlv';

/** `/ucxl/<id>`: the newest version (the selector keeps the highest). */
export function latestKey(subject: string): Uint8Array {
  return new TextEncoder().encode(`/${LATEST_NS}/${subjectId(subject)}`);
}

/** The subject id in a decision's DHT key (`/ucxl/<id>` or `/ucxlv/<id>/<n>`), undefined in any other key. */
export function subjectIdOf(dhtKey: string): string | undefined {
  const [, ns, id] = dhtKey.split('/');
  return (ns === LATEST_NS || ns === VERSION_NS) && id ? id : undefined;
}

/** `/ucxlv/<id>/<n>`: one immutable version. */
export function versionKey(subject: string, version: number): Uint8Array {
  return new TextEncoder().encode(`/${VERSION_NS}/${subjectId(subject)}/${version}`);
}

export function recordHash(d: UnsignedDecision): string {
  return sha256Hex(canonicalJson(d));
}

export function signDecision(d: UnsignedDecision, sign: (data: Uint8Array) => Uint8Array): DecisionRecord {
  const hash = recordHash(d);
  return { ...d, hash, signature: Buffer.from(sign(Buffer.from(hash, 'hex'))).toString('base64') };
}

export function encodeRecord(d: DecisionRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(d));
}

export interface ValidationContext {
  verify: (author: string, data: Uint8Array, signature: Uint8Array) => boolean;
  /** Admission: is this author allowed to write to the cluster? */
  isAdmitted: (author: string) => boolean;
  /** Records already checked by this node (their shape, hash and signature hold for these exact bytes). */
  verified?: VerifiedRecords;
}

/**
 * Records whose exact bytes this node checked already (shape, hash, signature), by the SHA-256 of the
 * bytes, newest use last, at most `max` of them. A read of a record it holds or has just been sent skips
 * the parsing, canonical hashing and Ed25519 verification (~0.15 ms) — not the admission check, which
 * can change. Bytes that differ in any way hash differently and are checked in full.
 */
export class VerifiedRecords {
  private readonly max: number;
  private readonly byDigest = new Map<string, DecisionRecord>();

  constructor(max = 512) {
    this.max = max;
  }

  static digest(bytes: Uint8Array): string {
    return createHash('sha256').update(bytes).digest('base64');
  }

  get(digest: string): DecisionRecord | undefined {
    const d = this.byDigest.get(digest);
    if (d) {
      this.byDigest.delete(digest); // most recently used last
      this.byDigest.set(digest, d);
    }
    return d;
  }

  add(digest: string, d: DecisionRecord): void {
    this.byDigest.set(digest, d);
    if (this.byDigest.size > this.max) this.byDigest.delete(this.byDigest.keys().next().value as string);
  }

  get size(): number {
    return this.byDigest.size;
  }
}

/** Decodes and fully checks a record: shape, hash, signature, admission. Throws InvalidRecordError. */
export function decodeRecord(bytes: Uint8Array, ctx: ValidationContext): DecisionRecord {
  if (bytes.byteLength > MAX_RECORD_BYTES) throw new InvalidRecordError(`record over ${MAX_RECORD_BYTES} bytes`);
  const digest = ctx.verified ? VerifiedRecords.digest(bytes) : undefined;
  const known = digest === undefined ? undefined : ctx.verified?.get(digest);
  if (known) {
    if (!ctx.isAdmitted(known.author))
      throw new InvalidRecordError(`record author ${known.author} is not an admitted node`);
    return known;
  }
  const d = checkRecord(bytes, ctx);
  if (digest !== undefined) ctx.verified?.add(digest, frozen(d));
  return d;
}

const frozen = (d: DecisionRecord): DecisionRecord =>
  Object.freeze({ ...d, roles: Object.freeze([...d.roles]) as string[] });

/**
 * Encodes a record this node has just hashed and signed itself (signDecision), and remembers its bytes as
 * checked: its own store's validation then skips re-parsing it and re-verifying its own signature (the
 * admission check still runs; every other node checks the bytes in full).
 */
export function encodeOwnRecord(d: DecisionRecord, ctx: Pick<ValidationContext, 'verified'>): Uint8Array {
  const bytes = encodeRecord(d);
  ctx.verified?.add(VerifiedRecords.digest(bytes), frozen(d));
  return bytes;
}

function checkRecord(bytes: Uint8Array, ctx: ValidationContext): DecisionRecord {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new InvalidRecordError('record is not JSON');
  }
  const parsed = decisionSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidRecordError(`record field ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  const d = parsed.data;
  const { hash, signature, ...unsigned } = d;
  if (recordHash(unsigned) !== hash) throw new InvalidRecordError('record hash does not match its content');
  if (!ctx.verify(d.author, Buffer.from(hash, 'hex'), Buffer.from(signature, 'base64'))) {
    throw new InvalidRecordError(`record signature does not verify for author ${d.author}`);
  }
  if (!ctx.isAdmitted(d.author)) throw new InvalidRecordError(`record author ${d.author} is not an admitted node`);
  if ((d.version === 1) !== (d.prevHash === ''))
    throw new InvalidRecordError('only version 1 may lack a previous hash');
  return d;
}

/** Checks that a record belongs under the DHT key it arrived with. */
export function checkKey(key: Uint8Array, d: DecisionRecord): void {
  const k = new TextDecoder().decode(key);
  const id = subjectId(d.subject);
  const ok = k === `/${LATEST_NS}/${id}` || k === `/${VERSION_NS}/${id}/${d.version}`;
  if (!ok) throw new InvalidRecordError(`record for ${d.subject} v${d.version} does not belong under key ${k}`);
}

/** Orders competing records: higher version first, then higher hash (deterministic everywhere). */
export function compareRecords(a: DecisionRecord, b: DecisionRecord): number {
  return b.version - a.version || (a.hash < b.hash ? 1 : a.hash > b.hash ? -1 : 0);
}
