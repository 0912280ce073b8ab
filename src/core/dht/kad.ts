// The Kademlia DHT configuration for chorus: a private protocol, LAN-friendly addresses, and the
// validators/selectors for the decision namespaces (/ucxl/ latest, /ucxlv/ immutable versions) and the
// health probe's namespace (/chorusprobe/).
import { kadDHT, passthroughMapper, Record as DhtRecord } from '@libp2p/kad-dht';
import type { Datastore } from 'interface-datastore';
import { Key } from 'interface-datastore';
import { base32 } from 'multiformats/bases/base32';
import {
  checkKey,
  compareRecords,
  decodeRecord,
  InvalidRecordError,
  LATEST_NS,
  VERSION_NS,
  type DecisionRecord,
  type ValidationContext,
} from '../decisions/record.ts';
import { PROBE_NS, selectProbe, validateProbe } from '../ops/probe-record.ts';

export const DHT_PROTOCOL = '/chorus/kad/1.0.0';
export const DHT_DATASTORE_PREFIX = '/dht';

/** Late-bound facts the validators need (the datastore exists before the node does). */
export interface DhtContext extends ValidationContext {
  datastore?: Datastore;
  /** Newest version of a subject announced in the cluster (so a node that holds no copy still refuses stale ones). */
  knownVersion?: (subject: string) => number | undefined;
  /** Settles once the author's license is known to this node (a handshake in progress, or a lookup). */
  awaitAdmission?: (author: string) => Promise<void>;
}

/** Lets admission catch up with an author met through a third node before the sync checks run. */
async function admitAuthor(ctx: DhtContext, value: Uint8Array): Promise<void> {
  const author = decodeLoose(value)?.author;
  if (ctx.awaitAdmission && typeof author === 'string' && !ctx.isAdmitted(author)) await ctx.awaitAdmission(author);
}

/** Where kad-dht keeps the record for a DHT key in the libp2p datastore. */
export function recordDatastoreKey(key: Uint8Array): Key {
  return new Key(`${DHT_DATASTORE_PREFIX}/record/${base32.baseEncode(key)}`, false);
}

/** The record this node holds locally for a DHT key, if any (not re-validated). */
export async function readLocalRecord(datastore: Datastore, key: Uint8Array): Promise<Uint8Array | undefined> {
  try {
    const raw = await datastore.get(recordDatastoreKey(key));
    return DhtRecord.deserialize(raw).value;
  } catch {
    return undefined;
  }
}

function decodeLoose(bytes: Uint8Array): DecisionRecord | undefined {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as DecisionRecord;
  } catch {
    return undefined;
  }
}

export function decisionValidators(ctx: DhtContext) {
  return {
    [LATEST_NS]: async (key: Uint8Array, value: Uint8Array): Promise<void> => {
      await admitAuthor(ctx, value);
      const d = decodeRecord(value, ctx);
      checkKey(key, d);
      const local = ctx.datastore ? await readLocalRecord(ctx.datastore, key) : undefined;
      const held = local ? decodeLoose(local) : undefined;
      if (held && held.version > d.version) {
        throw new InvalidRecordError(`stale version ${d.version} of ${d.subject}: version ${held.version} is held`);
      }
      const announced = ctx.knownVersion?.(d.subject);
      if (announced !== undefined && announced > d.version) {
        throw new InvalidRecordError(`stale version ${d.version} of ${d.subject}: version ${announced} exists`);
      }
    },
    [VERSION_NS]: async (key: Uint8Array, value: Uint8Array): Promise<void> => {
      await admitAuthor(ctx, value);
      checkKey(key, decodeRecord(value, ctx));
    },
  };
}

/** Every namespace chorus stores in the DHT: decisions and the health probe's records. */
export function chorusValidators(ctx: DhtContext) {
  return { ...decisionValidators(ctx), [PROBE_NS]: validateProbe };
}

/** Picks the highest version (ties broken by hash, identically on every node). */
function selectBest(_key: Uint8Array, records: Uint8Array[]): number {
  let best = 0;
  let bestRecord: DecisionRecord | undefined;
  records.forEach((bytes, i) => {
    const d = decodeLoose(bytes);
    if (d && (!bestRecord || compareRecords(d, bestRecord) < 0)) {
      best = i;
      bestRecord = d;
    }
  });
  return best;
}

export const decisionSelectors = { [LATEST_NS]: selectBest, [VERSION_NS]: selectBest };

export function chorusDht(ctx: DhtContext, opts: { clientMode: boolean }): ReturnType<typeof kadDHT> {
  return kadDHT({
    protocol: DHT_PROTOCOL,
    clientMode: opts.clientMode,
    peerInfoMapper: passthroughMapper, // keep loopback/private addresses: LAN clusters rely on them
    validators: chorusValidators(ctx),
    selectors: { ...decisionSelectors, [PROBE_NS]: selectProbe },
    datastorePrefix: DHT_DATASTORE_PREFIX,
    initialQuerySelfInterval: 0,
  });
}
