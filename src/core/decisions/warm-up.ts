// A decision's write and read paths, run once when a node starts on a throwaway record that never leaves memory:
// sealed to this node's role, signed, encoded, wrapped and unwrapped as kad-dht stores it, checked in full as a
// replica checks a record (parse, hash, signature, key), looked up in the datastore (a miss) and opened again. A
// node's first writes and the first records it checks as a replica then do not pay for V8's first compilation of
// that code and for the first use of its keys: ~7 ms once per process, where each node's first write took
// 11–56 ms in `bench dht --procs 5` (~6 ms after it). Nothing is stored, sent, announced or kept (the records this
// node checked, the plaintexts it read, its hints). Where the role's keys cannot seal or open a record, the rest
// still runs.
import { Record as DhtRecord } from '@libp2p/kad-dht';
import type { Datastore } from 'interface-datastore';
import { decryptAsRole, encryptForRoles } from '../crypto/envelope.ts';
import type { RoleKeyring } from '../crypto/keyring.ts';
import { readersOf, type RolePolicy } from '../crypto/policy.ts';
import { readLocalRecord } from '../dht/kad.ts';
import type { Signer } from '../p2p/signer.ts';
import { parseAddress, subjectKey } from '../ucxl/address.ts';
import { checkKey, decodeRecord, encodeRecord, latestKey, signDecision, type ValidationContext } from './record.ts';

/** What the warm-up runs on: the node's own keys, role, policy and datastore (which it only reads). */
export interface WarmUpParts {
  keyring: RoleKeyring;
  policy: RolePolicy;
  role: string;
  signer: Signer;
  verify: ValidationContext['verify'];
  datastore: Datastore;
}

/** The throwaway record's address: a valid one, which it only reads under (nothing is stored there). */
const WARM_UP_ADDRESS = 'ucxl://chorus:warm-up@chorus:warm-up/*^/warm-up';
/** The throwaway record's content: a decision's usual size. */
const WARM_UP_BYTES = 1024;

/**
 * Runs the paths once. True when the record made the whole round trip (sealed, checked, opened to the same content);
 * false when this node's role keys could not seal it (no recipients, a role the policy does not name: the record
 * then carries the content unsealed) or open it (no secret key of its role), after the rest ran. Throws when a check
 * fails, e.g. a signature that does not verify, or when a secret key that it holds does not open the record.
 */
export async function warmDecisionPaths(p: WarmUpParts): Promise<boolean> {
  const subject = subjectKey(parseAddress(WARM_UP_ADDRESS));
  const key = latestKey(subject);
  const content = new Uint8Array(WARM_UP_BYTES).map((_, i) => i % 251);
  const sealing = sealingOf(p);
  const payload = sealing ? await encryptForRoles(content, sealing.recipients) : content;
  const record = signDecision(
    {
      v: 1,
      subject,
      version: 1,
      author: p.signer.author,
      authorRole: p.role,
      timestamp: new Date().toISOString(),
      contentType: 'application/octet-stream',
      prevHash: '',
      roles: [p.role],
      payload: Buffer.from(payload).toString('base64'),
      size: content.byteLength,
    },
    p.signer.sign,
  );
  // checked as a replica checks a peer's record: no list of verified records, so nothing is remembered
  const stored = DhtRecord.deserialize(new DhtRecord(key, encodeRecord(record), new Date()).serialize());
  const checked = decodeRecord(stored.value, { verify: p.verify, isAdmitted: () => true });
  checkKey(key, checked);
  await readLocalRecord(p.datastore, key); // a miss: the datastore's read of a key it does not hold
  if (!sealing?.readers.includes(p.role) || !p.keyring.holdsSecret(p.role)) return false;
  const opened = await decryptAsRole(Buffer.from(checked.payload, 'base64'), {
    role: p.role,
    identities: p.keyring.identitiesFor(p.role),
    readers: sealing.readers,
  });
  return Buffer.from(opened).equals(content);
}

/** The readers of a record of this node's role and their recipients; undefined when the policy or keyring has none. */
function sealingOf(p: WarmUpParts): { readers: string[]; recipients: string[] } | undefined {
  try {
    const readers = readersOf([p.role], p.policy);
    const recipients = p.keyring.recipients(readers);
    return recipients.length > 0 ? { readers, recipients } : undefined;
  } catch {
    return undefined;
  }
}
