// Proposals from any node: a feature's command (a task claim, say) is proposed on the consensus log by
// the leader, wherever the caller is. A follower forwards it over the election protocol; the leader
// checks it (vet: well-formed, acting only as the node that sent it), proposes it and answers with the
// state machine's result once committed. Leader changes are retried until the caller's deadline, so
// commands must be idempotent: they carry a request id that their state machine remembers.
import { ChorusError, describeError, UsageError } from '../errors.ts';
import type { ConsensusLog } from './consensus-log.ts';
import type { Clock, ElectionResponse, ElectionTransport, LeaderEvent, RaftEvents } from './raft.ts';

/** The leader's check of a proposal: returns what to propose, or throws a UsageError. */
export type Vet = (data: unknown, from: string) => unknown;

export interface ForwarderDeps {
  self: string;
  raft: {
    readonly state: string;
    readonly leader: string | undefined;
    readonly term: number;
    on(event: 'leader', fn: (e: LeaderEvent) => void): unknown;
    off(event: 'leader', fn: (e: LeaderEvent) => void): unknown;
  };
  log: ConsensusLog;
  transport: ElectionTransport;
  clock: Clock;
  /** How long a forwarded proposal may take on the leader (default 10 s). */
  timeoutMs?: number;
}

/** Refusals worth retrying: the leader changed, or an entry was replaced before it committed. */
const RETRYABLE = new Set(['NOT_LEADER', 'NOT_COMMITTED', 'OUTCOME_UNKNOWN']);
/** Pause before retrying a proposal whose leader could not be reached. */
const RETRY_PAUSE_MS = 50;

export class Forwarder {
  private readonly deps: ForwarderDeps;
  private readonly kinds = new Map<string, Vet>();

  constructor(deps: ForwarderDeps) {
    this.deps = deps;
  }

  /** Lets any node submit proposals of a kind, each checked by the leader with `vet`. */
  allow(kind: string, vet: Vet = (data) => data): void {
    this.kinds.set(kind, vet);
  }

  private vet(kind: string, data: unknown, from: string): unknown {
    const vet = this.kinds.get(kind);
    if (!vet) throw new UsageError(`${kind} proposals are not accepted`);
    return vet(data, from);
  }

  /** Proposes through the leader and resolves with the state machine's result; retries until the signal fires. */
  async submit(kind: string, data: unknown, signal: AbortSignal): Promise<unknown> {
    const { raft, log, transport } = this.deps;
    if (!this.kinds.has(kind)) throw new UsageError(`${kind} proposals are not accepted`);
    let lastError: unknown;
    while (!signal.aborted) {
      try {
        if (raft.state === 'leader' && log.leading)
          return await log.propose(kind, this.vet(kind, data, this.deps.self), signal);
        const leader = raft.leader;
        if (!leader || leader === this.deps.self) {
          await this.waitForLeader(signal);
          continue;
        }
        const r = await untilAborted(
          transport.send(leader, { type: 'propose', kind, data }, this.deps.timeoutMs ?? 10_000),
          signal,
        );
        if (r.ok) return r.result;
        const kindOfError = r.error?.kind === 'usage' ? 'usage' : 'error';
        lastError = new ChorusError(r.error?.code ?? 'NOT_COMMITTED', r.error?.message ?? 'not committed', {
          kind: kindOfError,
        });
        if (!RETRYABLE.has(r.error?.code ?? '')) throw lastError;
      } catch (err) {
        if (err instanceof ChorusError && !RETRYABLE.has(err.code)) throw err;
        lastError = err;
      }
      await this.pause(RETRY_PAUSE_MS, signal);
    }
    throw new ChorusError(
      'NOT_COMMITTED',
      `no leader committed the change in time${lastError ? ` (${describeError(lastError)})` : ''}; it may still take effect — retrying the same request is safe`,
    );
  }

  /** The leader's side of a forwarded proposal. */
  async serve(from: string, kind: string, data: unknown): Promise<ElectionResponse> {
    const { raft, log, clock } = this.deps;
    const term = raft.term;
    if (raft.state !== 'leader' || !log.leading)
      return { term, ok: false, leader: raft.leader, error: { code: 'NOT_LEADER', message: 'not the leader' } };
    const ac = new AbortController();
    const timer = clock.setTimeout(() => ac.abort(), this.deps.timeoutMs ?? 10_000);
    try {
      const result = await log.propose(kind, this.vet(kind, data, from), ac.signal);
      return { term, ok: true, result };
    } catch (err) {
      const code = err instanceof ChorusError ? err.code : 'INTERNAL';
      const kind = err instanceof ChorusError ? err.kind : 'error';
      return { term, ok: false, error: { code, message: describeError(err), kind } };
    } finally {
      clock.clearTimeout(timer);
    }
  }

  /** Resolves when a leader other than a stale self is known (or the signal fires). */
  private waitForLeader(signal: AbortSignal): Promise<void> {
    const { raft } = this.deps;
    return new Promise((resolve) => {
      const done = (): void => {
        raft.off('leader', onLeader);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const onLeader = ({ leader }: RaftEvents['leader'][0]): void => {
        if (leader) done();
      };
      if (signal.aborted) return resolve();
      raft.on('leader', onLeader);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private pause(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.deps.clock.clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = this.deps.clock.setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** Settles like `p`, or rejects as soon as the signal fires (the caller's deadline bounds every wait). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** An AbortSignal that fires after `ms` of the given clock (virtual in simulations). */
export function clockTimeout(clock: Clock, ms: number): AbortSignal {
  const ac = new AbortController();
  clock.setTimeout(() => ac.abort(new ChorusError('TIMEOUT', `no answer within ${ms} ms`)), ms);
  return ac.signal;
}
