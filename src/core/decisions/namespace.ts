// The decision record namespaces the decisions service registers with the DHT: /ucxl/ (the latest
// version of a subject; the selector keeps the highest) and /ucxlv/ (immutable versions). A record is
// refused when it does not verify, its author is not admitted, or it is older than a version this
// node holds — or than one the subject's replicas hold, asked only when a hint says a newer one exists.
// A record that passes tells the node that its version exists (`heard`): a replica learns of a new version
// from the write itself, without a separate hint.
import type { Datastore } from 'interface-datastore';
import { readLocalRecord } from '../dht/kad.ts';
import type { RecordNamespace } from '../dht/namespaces.ts';
import {
  checkKey,
  compareRecords,
  decodeRecord,
  InvalidRecordError,
  LATEST_NS,
  VERSION_NS,
  type DecisionRecord,
  type ValidationContext,
} from './record.ts';

/** What the validators need beyond the record itself. */
export interface DecisionValidation extends ValidationContext {
  datastore: Datastore;
  /** Settles once the author's license is known to this node (a handshake in progress, or a lookup). */
  awaitAdmission?: (author: string) => Promise<unknown>;
  /** The newest version of a subject heard of (a hint: never a reason to refuse on its own). */
  hintedVersion?: (subject: string) => number | undefined;
  /** A verified version newer than `version` held by the subject's replicas (asked when a hint says so). */
  newerOnReplicas?: (subject: string, version: number) => Promise<number | undefined>;
  /**
   * Told of every record that passed: its version of the subject exists (verified, not hearsay); `fresh`: a
   * latest-version record newer than the one this node held (a write, not a re-put of the same version).
   */
  heard?: (subject: string, version: number, fresh: boolean, hash: string) => void;
}

/** Parses a record without checking it (an author for admission, a version for the selector). */
export function decodeLoose(bytes: Uint8Array): DecisionRecord | undefined {
  if (bytes.byteLength === 0) return undefined; // nothing held: no SyntaxError (and its stack) to build and catch
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as DecisionRecord;
  } catch {
    return undefined;
  }
}

/** Lets admission catch up with an author met through a third node before the sync checks run. */
async function admitAuthor(ctx: DecisionValidation, value: Uint8Array): Promise<void> {
  const author = decodeLoose(value)?.author;
  if (ctx.awaitAdmission && typeof author === 'string' && !ctx.isAdmitted(author)) await ctx.awaitAdmission(author);
}

/** Picks the highest version (ties broken by hash, identically on every node). */
export function selectBest(_key: Uint8Array, records: Uint8Array[]): number {
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

export function decisionNamespaces(ctx: DecisionValidation): RecordNamespace[] {
  return [
    {
      name: LATEST_NS,
      validate: async (key, value) => {
        await admitAuthor(ctx, value);
        const d = decodeRecord(value, ctx);
        checkKey(key, d);
        const held = decodeLoose((await readLocalRecord(ctx.datastore, key)) ?? new Uint8Array());
        if (held && held.version > d.version) {
          throw new InvalidRecordError(`stale version ${d.version} of ${d.subject}: version ${held.version} is held`);
        }
        // a hint alone proves nothing (anyone admitted can announce anything): ask the replicas
        if ((ctx.hintedVersion?.(d.subject) ?? 0) > d.version && ctx.newerOnReplicas) {
          const newer = await ctx.newerOnReplicas(d.subject, d.version);
          if (newer !== undefined) {
            throw new InvalidRecordError(`stale version ${d.version} of ${d.subject}: version ${newer} exists`);
          }
        }
        ctx.heard?.(d.subject, d.version, !held || held.version < d.version, d.hash);
      },
      select: selectBest,
    },
    {
      name: VERSION_NS,
      validate: async (key, value) => {
        await admitAuthor(ctx, value);
        const d = decodeRecord(value, ctx);
        checkKey(key, d);
        ctx.heard?.(d.subject, d.version, false, d.hash);
      },
      select: selectBest,
    },
  ];
}
