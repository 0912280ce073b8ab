// The election service's options (its config section and the parts of the node it uses), apart from
// the service so that the leader-only paths can take them without importing the service.
import type { Libp2p } from '@libp2p/interface';
import type { Logger } from '../log.ts';
import type { Signer } from '../p2p/signer.ts';
import type { Redactor } from '../shhh/redactor.ts';
import type { ScoreWeights } from './score.ts';
import type { LogStorage } from './log-store.ts';
import type { ElectionStorage } from './state.ts';

export interface ElectionConfig {
  voters: string[];
  expect: number;
  heartbeatMs: number;
  electionTimeoutMinMs: number;
  electionTimeoutMaxMs: number;
  stabilityWindowMs: number;
  handoverMargin: number;
  preVote: boolean;
  weights: ScoreWeights;
}

export interface ElectionServiceOptions {
  libp2p: Libp2p;
  config: ElectionConfig;
  dataDir: string;
  logger: Logger;
  signer: Signer;
  /** The event log's writer (SLURP events). */
  recorder?: { record(kind: string, data: unknown): void };
  redactor?: Redactor;
  capabilities?: () => number;
  storage?: ElectionStorage;
  /** The consensus log's storage (default: consensus.db in the data dir). */
  logStorage?: LogStorage;
  /** Whether a peer may take part (the license admission): others are neither asked nor answered. */
  admit?: (peer: string) => Promise<boolean>;
}
