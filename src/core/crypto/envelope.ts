// Decision envelopes: binary age files with one X25519 stanza per role recipient. Decryption either
// returns the exact authenticated plaintext or throws: NOT_A_RECIPIENT when no identity matches a
// stanza, CIPHERTEXT_CORRUPT when the header does not parse or authentication fails. age-encryption opens
// the header; the payload opens on node:crypto (age-payload.ts).
// age-encryption is handed streams and its output read here: its in-memory paths collect the output with
// `new Response(stream).arrayBuffer()`, and the first `Response` loads Node's whole fetch stack (undici,
// http2, vm) into every process that reads or writes a decision, for bytes a reader collects as well.
import { Decrypter, Encrypter } from 'age-encryption';
import type { Identity, Stanza } from 'age-encryption';
import { arrayBuffer } from 'node:stream/consumers';
import { ChorusError, UsageError, describeError } from '../errors.ts';
import { decryptPayload, headerLength } from './age-payload.ts';
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
  const encrypter = new Encrypter();
  for (const recipient of unique) {
    try {
      encrypter.addRecipient(recipient.startsWith('age1') ? nativeRecipient(recipient) : recipient);
    } catch (err) {
      throw new UsageError(`invalid age recipient "${recipient}": ${describeError(err)}`, 'INVALID_RECIPIENT', err);
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

/**
 * Decrypts an envelope with any of `identities` (`AGE-SECRET-KEY-1…`, e.g. from
 * `RoleKeyring.identitiesFor`). Throws NotARecipientError when none matches, ChorusError
 * CIPHERTEXT_CORRUPT for damaged or truncated input; never returns unauthenticated bytes.
 */
export async function decryptWithIdentities(ciphertext: Uint8Array, identities: string[]): Promise<Uint8Array> {
  const decrypter = new Decrypter();
  const head = new Probe();
  const tail = new Probe();
  decrypter.addIdentity(head);
  for (const identity of identities) {
    try {
      decrypter.addIdentity(identity.startsWith('AGE-SECRET-KEY-1') ? nativeIdentity(identity) : identity);
    } catch (err) {
      // never echo the identity: it is a secret key
      throw new UsageError(`invalid age identity: ${describeError(err)}`, 'INVALID_IDENTITY', err);
    }
  }
  decrypter.addIdentity(tail);
  try {
    const end = headerLength(ciphertext);
    if (end === undefined) throw new Error('no header MAC line');
    // the library parses the header, unwraps the file key and checks the MAC; the payload opens natively
    const fileKey = await decrypter.decryptHeader(ciphertext.subarray(0, end));
    return decryptPayload(fileKey, ciphertext.subarray(end));
  } catch (err) {
    if (!head.reached) {
      throw new ChorusError(
        'CIPHERTEXT_CORRUPT',
        `decision ciphertext is corrupt: bad header (${describeError(err)})`,
        {
          cause: err,
        },
      );
    }
    if (tail.reached) throw new NotARecipientError(tail.stanzas);
    throw new ChorusError(
      'CIPHERTEXT_CORRUPT',
      `decision ciphertext is corrupt or truncated: authentication failed (${describeError(err)})`,
      { cause: err },
    );
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
