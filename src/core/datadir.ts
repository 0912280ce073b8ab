// The data dir's layout: the name of every file a node keeps there, and the paths built from them. A
// leaf module (node:path only), so offline verbs (`chorus keys …`, `chorus log …`) find their files
// without loading the network stack.
import { join } from 'node:path';

/** Files a node keeps in its data dir. */
export const DATA_FILES = {
  /** Signed, hash-chained event log (node:sqlite). */
  eventLog: 'events.db',
  /** Decision and provider records (node:sqlite). */
  dht: 'dht.db',
  /** Role keys (0600). */
  keyring: 'keyring.json',
  /** Last lease renewal. */
  lease: 'lease.json',
  /** Ed25519 node identity (0600). */
  identity: 'identity.key',
  /** The control API's Unix socket (0600). */
  socket: 'chorus.sock',
  /** Bearer token of the control API's TCP listener (0600). */
  apiToken: 'api.token',
  /** The consensus log: Raft entries and snapshots of tasks and leader-only records (node:sqlite). */
  consensusLog: 'consensus.db',
  /** Term, vote and voter set (fsync'd before a vote is answered). */
  election: 'election.json',
  /** Leader-only records of an earlier version (imported into the consensus log once). */
  legacyLeaderRecords: 'leader-records.json',
  /** Held locked by the running node (data-dir-lock.ts): one node per data dir. Empty. */
  nodeLock: 'node.lock',
} as const;

export type DataFile = keyof typeof DATA_FILES;

/** The path of one of the node's files in `dataDir`. */
export function dataFile(dataDir: string, file: DataFile): string {
  return join(dataDir, DATA_FILES[file]);
}

/** The keyring a node uses: `keys.keyring` when set, else the one in its data dir. */
export function keyringPath(config: { dataDir: string; keys: { keyring: string } }): string {
  return config.keys.keyring || dataFile(config.dataDir, 'keyring');
}
