// The DHT probe record: `/chorusprobe/<peer-id>` → {peer, nonce, at, sig}, signed by that peer. One
// per node, overwritten by each probe (never accumulates); its namespace is registered with the DHT by
// every node (probeNamespace), so the DHT health check exercises the real Kademlia put/get path.
import type { RecordNamespace } from '../dht/namespaces.ts';
import { verifyByAuthor } from '../p2p/signer.ts';

export const PROBE_NS = 'chorusprobe';
const MAX_SIZE = 512;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface ProbeRecord {
  peer: string;
  nonce: string;
  at: number;
  sig: string;
}

export const probeKey = (peer: string): Uint8Array => encoder.encode(`/${PROBE_NS}/${peer}`);

const signedPart = (r: Omit<ProbeRecord, 'sig'>): Uint8Array => encoder.encode(`${r.peer}|${r.nonce}|${r.at}`);

export function encodeProbe(
  peer: string,
  nonce: string,
  at: number,
  sign: (data: Uint8Array) => Uint8Array,
): Uint8Array {
  const sig = Buffer.from(sign(signedPart({ peer, nonce, at }))).toString('base64');
  return encoder.encode(JSON.stringify({ peer, nonce, at, sig }));
}

export function decodeProbe(value: Uint8Array): ProbeRecord {
  if (value.byteLength > MAX_SIZE) throw new Error('probe record too large');
  const r = JSON.parse(decoder.decode(value)) as ProbeRecord;
  if (
    typeof r.peer !== 'string' ||
    typeof r.nonce !== 'string' ||
    typeof r.at !== 'number' ||
    typeof r.sig !== 'string'
  )
    throw new Error('malformed probe record');
  return r;
}

/** kad-dht validator: the key names the signing peer, and the signature holds. */
export async function validateProbe(key: Uint8Array, value: Uint8Array): Promise<void> {
  const r = decodeProbe(value);
  if (decoder.decode(key) !== `/${PROBE_NS}/${r.peer}`) throw new Error('probe record key does not name its peer');
  if (!verifyByAuthor(r.peer, signedPart(r), Buffer.from(r.sig, 'base64'))) {
    throw new Error('probe record signature does not verify');
  }
}

/** kad-dht selector: the newest probe. */
export function selectProbe(_key: Uint8Array, records: Uint8Array[]): number {
  let best = 0;
  let at = -1;
  records.forEach((bytes, i) => {
    try {
      const r = decodeProbe(bytes);
      if (r.at > at) {
        at = r.at;
        best = i;
      }
    } catch {
      // invalid records never win
    }
  });
  return best;
}

/** The /chorusprobe/ record namespace (every node stores other nodes' probes, with or without ops). */
export const probeNamespace: RecordNamespace = { name: PROBE_NS, validate: validateProbe, select: selectProbe };
