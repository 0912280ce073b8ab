// The election's typed errors.
import { ChorusError } from '../errors.ts';

/** A node asked for a leader-only write that is not (or no longer safely) the leader. */
export class NotLeaderError extends ChorusError {
  readonly leader: string | undefined;
  constructor(leader: string | undefined, detail = '') {
    super(
      'NOT_LEADER',
      `this node is not the leader${leader ? `; the leader is ${leader}` : '; no leader is elected right now'}${detail ? ` (${detail})` : ''}`,
    );
    this.name = 'NotLeader';
    this.leader = leader;
  }
}
