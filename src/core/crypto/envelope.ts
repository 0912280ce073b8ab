// Decision envelopes: binary age files with one X25519 stanza per role recipient. Decryption either
// returns the exact authenticated plaintext or throws: NOT_A_RECIPIENT when no identity matches a
// stanza, CIPHERTEXT_CORRUPT when the header does not parse or authentication fails. X25519 recipients write
// them and X25519 identities read them on node:crypto (age-writer.ts, age-reader.ts); age-encryption writes
// and reads for any other kind of key.
// age-encryption is handed streams and its output read here: its in-memory paths collect the output with
// `new Response(stream).arrayBuffer()`, and the first `Response` loads Node's whole fetch stack (undici,
// http2, vm) into every process that reads or writes a decision, for bytes a reader collects as well.
import { Decrypter, Encrypter } from 'age-encryption';
import type { Identity, Stanza } from 'age-encryption';
import { arrayBuffer } from 'node:stream/consumers';
import { ChorusError, UsageError, describeError } from '../errors.ts';
import { checkHeaderMac, decryptPayload, parseAgeHeader, type AgeHeader } from './age-reader.ts';
import { encryptAgeFile } from './age-writer.ts';
import { NativeX25519Identity, NativeX25519Recipient } from './x25519.ts';

/** This node's identities match none of the envelope's recipient stanzas. */
export class NotARecipientError extends ChorusError {
  /** How many recipient stanzas the envelope's header holds. */
  readonly stanzas: number;
  constructor(stanzas: number, message = "this node's role cannot decrypt this decision (not a recipient)") {
    super('NOT_A_RECIPIENT', message, { kind: 'error' });
    this.name = 'NotARecipientError';
    this.stanzas = stanzas;
  }
}

/** Recipients (public keys) imported once each. */
const recipientCache = new Map<string, NativeX25519Recipient>();

function nativeRecipient(recipient: string): NativeX25519Recipient {
  let r = recipientCache.get(recipient);
  if (!r) {
    r = new NativeX25519Recipient(recipient);
    if (recipientCache.size >= 64) recipientCache.delete(recipientCache.keys().next().value as string);
    recipientCache.set(recipient, r);
  }
  return r;
}

/** One chunk as a stream (age-encryption's own `stream()`). */
function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

/** All of a stream's bytes; rejects with the stream's error (a failed authentication). */
async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await arrayBuffer(stream));
}

/** Encrypts `plaintext` to every recipient (`age1…`); any one of their identities can decrypt it. */
export async function encryptForRoles(plaintext: Uint8Array, recipients: string[]): Promise<Uint8Array> {
  const unique = [...new Set(recipients)];
  if (unique.length === 0) {
    throw new UsageError('cannot encrypt a decision to no recipients', 'NO_RECIPIENTS');
  }
  const taken = unique.map((recipient) => {
    try {
      return recipient.startsWith('age1') ? nativeRecipient(recipient) : recipient;
    } catch (err) {
      throw new UsageError(`invalid age recipient "${recipient}": ${describeError(err)}`, 'INVALID_RECIPIENT', err);
    }
  });
  const native = taken.filter((r) => r instanceof NativeX25519Recipient);
  if (native.length === taken.length) return encryptAgeFile(plaintext, native);
  const encrypter = new Encrypter();
  for (const [i, recipient] of taken.entries()) {
    try {
      encrypter.addRecipient(recipient);
    } catch (err) {
      throw new UsageError(`invalid age recipient "${unique[i]}": ${describeError(err)}`, 'INVALID_RECIPIENT', err);
    }
  }
  return collect(await encrypter.encrypt(streamOf(plaintext)));
}

/**
 * An identity that never matches but records that the header parsed and was offered for unwrapping.
 * age-encryption tries identities in the order added and stops at the first match, so a probe added
 * after the real identities is reached only when none of them matched.
 */
class Probe implements Identity {
  reached = false;
  stanzas = 0;
  unwrapFileKey(stanzas: Stanza[]): null {
    this.reached = true;
    this.stanzas = stanzas.length;
    return null;
  }
}

/** Identities built once per secret key (building one imports the key: ~40 µs per read otherwise). */
const identityCache = new Map<string, NativeX25519Identity>();
const MAX_CACHED_IDENTITIES = 32;

function nativeIdentity(secret: string): NativeX25519Identity {
  let id = identityCache.get(secret);
  if (!id) {
    id = new NativeX25519Identity(secret);
    if (identityCache.size >= MAX_CACHED_IDENTITIES) identityCache.delete(identityCache.keys().next().value as string);
    identityCache.set(secret, id);
  }
  return id;
}

/** Takes a secret identity in: a malformed one is INVALID_IDENTITY, and its message never echoes the key. */
function asIdentity<T>(take: () => T): T {
  try {
    return take();
  } catch (err) {
    throw new UsageError(`invalid age identity: ${describeError(err)}`, 'INVALID_IDENTITY', err);
  }
}

/** A CIPHERTEXT_CORRUPT error: the header does not parse, or authentication failed. */
function corrupt(what: 'bad header' | 'authentication failed', err: unknown): ChorusError {
  const message =
    what === 'bad header'
      ? `decision ciphertext is corrupt: bad header (${describeError(err)})`
      : `decision ciphertext is corrupt or truncated: authentication failed (${describeError(err)})`;
  return new ChorusError('CIPHERTEXT_CORRUPT', message, { cause: err });
}

/**
 * Decrypts an envelope with any of `identities` (`AGE-SECRET-KEY-1…`, e.g. from
 * `RoleKeyring.identitiesFor`). Throws NotARecipientError when none matches, ChorusError
 * CIPHERTEXT_CORRUPT for damaged or truncated input; never returns unauthenticated bytes.
 * X25519 identities read the file on node:crypto (age-reader.ts); any other kind goes through age-encryption.
 */
export async function decryptWithIdentities(ciphertext: Uint8Array, identities: string[]): Promise<Uint8Array> {
  const native: NativeX25519Identity[] = [];
  for (const identity of identities) {
    if (!identity.startsWith('AGE-SECRET-KEY-1')) return decryptWithLibrary(ciphertext, identities);
    native.push(asIdentity(() => nativeIdentity(identity)));
  }
  let header: AgeHeader;
  try {
    header = parseAgeHeader(ciphertext);
  } catch (err) {
    throw corrupt('bad header', err);
  }
  let fileKey: Uint8Array | null = null;
  for (const identity of native) if ((fileKey = identity.unwrapFileKey(header.stanzas))) break;
  if (!fileKey) throw new NotARecipientError(header.stanzas.length);
  try {
    checkHeaderMac(fileKey, header);
    return decryptPayload(fileKey, ciphertext.subarray(header.length));
  } catch (err) {
    throw corrupt('authentication failed', err);
  }
}

/** decryptWithIdentities through age-encryption, for identities other than X25519 ones. */
async function decryptWithLibrary(ciphertext: Uint8Array, identities: string[]): Promise<Uint8Array> {
  const decrypter = new Decrypter();
  const head = new Probe();
  const tail = new Probe();
  decrypter.addIdentity(head);
  for (const identity of identities) {
    asIdentity(() =>
      decrypter.addIdentity(identity.startsWith('AGE-SECRET-KEY-1') ? nativeIdentity(identity) : identity),
    );
  }
  decrypter.addIdentity(tail);
  try {
    return await collect(await decrypter.decrypt(streamOf(ciphertext)));
  } catch (err) {
    if (!head.reached) throw corrupt('bad header', err);
    if (tail.reached) throw new NotARecipientError(tail.stanzas);
    throw corrupt('authentication failed', err);
  }
}

export interface RoleReader {
  /** This node's role. */
  role: string;
  /** Its identities (RoleKeyring.identitiesFor), newest first; empty when the keyring holds only public keys. */
  identities: string[];
  /** The roles allowed to read the decision (policy readers of its roles). */
  readers: string[];
}

/**
 * decryptWithIdentities for a node's role, with the cause named when the role may read the decision but
 * its key does not open it: a keyring from another cluster (or a dev node with keys of its own), or a
 * scoped keyring without this role's secret key. A role that may not read it gets the plain NOT_A_RECIPIENT.
 */
export async function decryptAsRole(ciphertext: Uint8Array, reader: RoleReader): Promise<Uint8Array> {
  try {
    return await decryptWithIdentities(ciphertext, reader.identities);
  } catch (err) {
    if (!(err instanceof NotARecipientError) || !reader.readers.includes(reader.role)) throw err;
    const { role } = reader;
    throw new NotARecipientError(
      err.stanzas,
      reader.identities.length === 0
        ? `this node's keyring holds no secret ${role} key (only the public one), though the ${role} role may read this decision: give it a keyring scoped to ${role} (chorus keys export --role ${role})`
        : `this node's ${role} key does not match the writer's — keyring from another cluster? (the ${role} role may read this decision; see docs/keys.md)`,
    );
  }
}
