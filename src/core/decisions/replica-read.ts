// One-hop reads of a DHT key from its replicas (the peers the routing table names closest), stopping as
// soon as the caller has enough: all replicas are asked at once when several answers are needed; when one
// answer at a known version is enough, the closest replica is asked alone and the others only when its
// answer falls short, it cannot answer, or it is slower than usual (a hedged request).
import type { DirectReplicas } from '../dht/direct.ts';

/**
 * Recent answer times of replicas: a read that needs one answer asks a second replica only after the
 * first took longer than most answers do (twice the recent p90, at least 2 ms, at most 50 ms).
 */
export class AnswerTimes {
  private readonly recent: number[] = [];
  private at = 0;

  note(ms: number): void {
    if (this.recent.length < 64) this.recent.push(ms);
    else this.recent[this.at++ % 64] = ms;
  }

  hedgeAfterMs(): number {
    if (this.recent.length < 8) return 10;
    const sorted = [...this.recent].sort((a, b) => a - b);
    const p90 = sorted[Math.floor(sorted.length * 0.9)] as number;
    return Math.min(50, Math.max(2, 2 * p90));
  }
}

export interface ReplicaRead {
  direct: Pick<DirectReplicas, 'getFrom'>;
  replicas: readonly string[];
  key: Uint8Array;
  signal: AbortSignal;
  /** One answer can be enough (a version was heard of): ask the closest replica first, hedge the rest. */
  hedged: boolean;
  times: AnswerTimes;
  /** Takes one replica's record (invalid ones are ignored by the caller); true once the read has enough. */
  onRecord: (peer: string, value: Uint8Array) => Promise<void>;
  enough: () => boolean;
}

/** Resolves true once `enough()`, false when every replica answered (or failed) short of it; counts failures. */
export function readReplicas(r: ReplicaRead): Promise<{ done: boolean; failures: number }> {
  const { replicas } = r;
  let failures = 0;
  return new Promise((resolve) => {
    let next = 0;
    let pending = 0;
    let settled = false;
    let hedge: NodeJS.Timeout | undefined;
    const finish = (done: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(hedge);
      resolve({ done, failures });
    };
    const ask = (peer: string): void => {
      pending++;
      const started = performance.now();
      void r.direct.getFrom(peer, r.key, r.signal).then(async (answer) => {
        if (!answer) failures++;
        else {
          r.times.note(performance.now() - started);
          if (answer.value) await r.onRecord(peer, answer.value);
        }
        pending--;
        if (r.enough()) finish(true);
        else if (next < replicas.length)
          askRest(); // this answer was not enough: ask the others now
        else if (pending === 0) finish(false);
      });
    };
    const askRest = (): void => {
      clearTimeout(hedge);
      if (settled) return;
      while (next < replicas.length) ask(replicas[next++] as string);
    };
    if (replicas.length === 0) return finish(false);
    if (!r.hedged) return askRest();
    ask(replicas[next++] as string);
    if (next < replicas.length) hedge = setTimeout(askRest, r.times.hedgeAfterMs());
  });
}
