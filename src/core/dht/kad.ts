// The Kademlia DHT configuration for chorus: a private protocol, LAN-friendly addresses, records kept
// under /dht in the node's datastore, and validators/selectors taken from the record namespaces that
// features register (namespaces.ts) — this layer knows no record format of its own.
import { kadDHT, passthroughMapper, Record as DhtRecord, type KadDHT } from '@libp2p/kad-dht';
import type { Datastore } from 'interface-datastore';
import { Key } from 'interface-datastore';
import { base32 } from 'multiformats/bases/base32';
import type { RecordNamespaces } from './namespaces.ts';

export const DHT_PROTOCOL = '/chorus/kad/1.0.0';
export const DHT_DATASTORE_PREFIX = '/dht';

/** Where kad-dht keeps the record for a DHT key in the libp2p datastore. */
export function recordDatastoreKey(key: Uint8Array): Key {
  return new Key(`${DHT_DATASTORE_PREFIX}/record/${base32.baseEncode(key)}`, false);
}

/** A datastore that can answer a miss without throwing (ChorusDatastore). */
interface MissWithoutThrow {
  getIfPresent(key: Key): Uint8Array | undefined | Promise<Uint8Array | undefined>;
}

const answersMisses = (d: Datastore): d is Datastore & MissWithoutThrow =>
  typeof (d as Partial<MissWithoutThrow>).getIfPresent === 'function';

/** The record this node holds locally for a DHT key, if any (not re-validated). */
export async function readLocalRecord(datastore: Datastore, key: Uint8Array): Promise<Uint8Array | undefined> {
  const at = recordDatastoreKey(key);
  try {
    const raw = await (answersMisses(datastore) ? datastore.getIfPresent(at) : datastore.get(at));
    return raw && DhtRecord.deserialize(raw).value;
  } catch {
    return undefined;
  }
}

const RECORD_PREFIX = `${DHT_DATASTORE_PREFIX}/record/`;
const decoder = new TextDecoder();

/** The DHT keys of every record held in the datastore (undecodable keys skipped). */
export async function* heldRecordKeys(datastore: Datastore): AsyncGenerator<string> {
  for await (const key of datastore.queryKeys({ prefix: RECORD_PREFIX })) {
    try {
      yield decoder.decode(base32.baseDecode(key.toString().slice(RECORD_PREFIX.length)));
    } catch {
      // not a record key
    }
  }
}

/**
 * Every record held in the datastore with its DHT key and when this node stored it (ms since the epoch; NaN when
 * the stored time does not parse). Damaged entries are skipped.
 */
export async function* heldRecords(
  datastore: Datastore,
): AsyncGenerator<{ dhtKey: string; value: Uint8Array; storedAt: number }> {
  for await (const { key, value } of datastore.query({ prefix: RECORD_PREFIX })) {
    try {
      const dhtKey = decoder.decode(base32.baseDecode(key.toString().slice(RECORD_PREFIX.length)));
      const record = DhtRecord.deserialize(value);
      yield { dhtKey, value: record.value, storedAt: record.timeReceived.getTime() };
    } catch {
      // damaged: skipped
    }
  }
}

/** The DHT service of a chorus host; its validators and selectors follow `namespaces`. */
export function chorusDht(namespaces: RecordNamespaces, opts: { clientMode: boolean }): ReturnType<typeof kadDHT> {
  const factory = kadDHT({
    protocol: DHT_PROTOCOL,
    clientMode: opts.clientMode,
    peerInfoMapper: passthroughMapper, // keep loopback/private addresses: LAN clusters rely on them
    datastorePrefix: DHT_DATASTORE_PREFIX,
    initialQuerySelfInterval: 0,
  });
  return (components): KadDHT => {
    const dht = factory(components);
    namespaces.attach(dht);
    return dht;
  };
}
