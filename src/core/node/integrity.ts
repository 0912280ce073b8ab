// The node's start-up check of its stores, before any of them is opened: SQLite's quick_check of every database
// (events.db, dht.db) and a parse of every JSON state file (lease, keyring, election state, leader records). A
// damaged store stops the start with one line naming the file and what to do (exit 4: no restart can fix it);
// `chorus node --repair` moves aside the ones that can safely start fresh and says so. The identity key and the
// license are never touched here: their loaders name their own damage, and nothing may replace them silently.
import type { ChorusConfig } from '../config/schema.ts';
import { dataFile, keyringPath } from '../datadir.ts';
import type { Logger } from '../log.ts';
import { checkStores, type StoreRepair, type StoreSpec } from '../store-check.ts';

/** Every store of a node, with what happens if it starts fresh, or what the operator must do instead. */
export function nodeStores(config: ChorusConfig): StoreSpec[] {
  const dir = config.dataDir;
  return [
    { file: dataFile(dir, 'dht'), format: 'sqlite', repair: { fresh: 'the DHT refills from replicas' } },
    {
      file: dataFile(dir, 'eventLog'),
      format: 'sqlite',
      repair: { fresh: 'a new event log starts; the damaged one is kept beside it' },
    },
    {
      file: dataFile(dir, 'lease'),
      format: 'json',
      repair: { fresh: 'the node asks the lease server for a new lease' },
    },
    {
      file: dataFile(dir, 'consensusLog'),
      format: 'sqlite',
      repair: {
        fix: "it holds this voter's copy of the consensus log (tasks, leader-only records); a voter that forgets entries it acknowledged can let a committed change be lost: restore it from a backup, or — only while every other voter is up and a leader is elected — move it aside by hand so the leader sends the log again; --repair will not",
      },
    },
    {
      file: dataFile(dir, 'legacyLeaderRecords'),
      format: 'json',
      repair: {
        fresh: 'an earlier version’s leader-only records are not imported (the consensus log holds the current ones)',
      },
    },
    {
      file: dataFile(dir, 'election'),
      format: 'json',
      repair: {
        fix: "it holds this node's term, vote and voter set: restore it from a backup, or move it aside by hand while the cluster has a leader (the node then forgets whom it voted for this term); --repair will not",
      },
    },
    {
      file: keyringPath(config),
      format: 'json',
      repair: {
        fix: 'it holds the role secret keys, which no peer can give back: restore it from a backup, or copy in a keyring exported by a node that holds them (`chorus keys export`); --repair will not',
      },
    },
  ];
}

/**
 * Checks every store of the node; throws StoreDamagedError (exit 4) for the first damaged one, unless `repair`
 * may move it aside — then it is logged (a warning per store) and returned.
 */
export function checkNodeStores(config: ChorusConfig, opts: { repair?: boolean; logger: Logger }): StoreRepair[] {
  const repaired = checkStores(nodeStores(config), { repair: opts.repair ?? false });
  for (const r of repaired) {
    opts.logger.warn(`moved a damaged store aside: ${r.then}`, { file: r.file, reason: r.reason, movedTo: r.movedTo });
  }
  return repaired;
}
