// Durable election state: currentTerm, votedFor, the committed voter set and how often this node led.
// Written with write-temp → fsync → rename → fsync(dir) before any vote is answered, so a node that
// crashes and restarts never votes twice in one term. Memory storage is for the state-machine tests.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DATA_FILES } from '../datadir.ts';
import { ChorusError } from '../errors.ts';

export const ELECTION_STATE_FILE = DATA_FILES.election;

export interface PersistedVoters {
  /** Sorted peer IDs. */
  members: string[];
  /** Where the set came from: "config" (election.voters) or "expect:N" (bootstrap). */
  source: string;
}

export interface PersistedElection {
  currentTerm: number;
  votedFor: string | null;
  voters: PersistedVoters | null;
  /** Terms this node has led (the "experience" score component). */
  led: number;
}

export interface ElectionStorage {
  load(): PersistedElection;
  /** Must be durable when it returns. */
  save(state: PersistedElection): void;
}

export const EMPTY_STATE: PersistedElection = { currentTerm: 0, votedFor: null, voters: null, led: 0 };

function validState(v: unknown): v is PersistedElection {
  const s = v as PersistedElection | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    Number.isInteger(s.currentTerm) &&
    s.currentTerm >= 0 &&
    (s.votedFor === null || typeof s.votedFor === 'string') &&
    (s.voters === null ||
      (typeof s.voters === 'object' && Array.isArray(s.voters.members) && typeof s.voters.source === 'string'))
  );
}

/** A JSON file in the data dir, replaced atomically and fsync'd (file and directory) on every save. */
export class FileElectionStorage implements ElectionStorage {
  readonly file: string;

  constructor(dataDir: string) {
    this.file = join(dataDir, ELECTION_STATE_FILE);
  }

  load(): PersistedElection {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ...EMPTY_STATE };
      throw err;
    }
    const parsed = JSON.parse(text) as unknown;
    if (!validState(parsed)) throw new ChorusError('ELECTION_STATE', `${this.file} is not a valid election state`);
    return { ...EMPTY_STATE, ...parsed };
  }

  save(state: PersistedElection): void {
    const dir = dirname(this.file);
    mkdirSync(dir, { recursive: true });
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(state));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }
}

/** In-memory storage that survives a simulated crash (the tests keep the object across restarts). */
export class MemoryElectionStorage implements ElectionStorage {
  private state: PersistedElection = { ...EMPTY_STATE };
  saves = 0;

  load(): PersistedElection {
    return structuredClone(this.state);
  }

  save(state: PersistedElection): void {
    this.state = structuredClone(state);
    this.saves++;
  }
}
