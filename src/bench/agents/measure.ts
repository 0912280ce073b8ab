// The figures of `chorus bench agents`, from the timeline of one run (pure): claim-to-start, how long an
// agent slot stayed free while claimable work waited, total time against the ideal (sum of work divided
// by the agents), and whether every task ran and completed exactly once.

/** What happened to one task, in ms on one clock. */
export interface TaskTimeline {
  id: string;
  workMs: number;
  createdAt: number;
  /** One entry per time an agent started it (exactly one in a good run). */
  starts: { agent: number; claimedAt: number; startedAt: number; endedAt?: number }[];
  /** When its completion was committed. */
  completedAt?: number;
}

export interface Percentiles {
  p50: number;
  p95: number;
  max: number;
}

export interface AgentFigures {
  tasks: number;
  /** Claim round trips (agent → node → leader → committed → back) that won, and races lost. */
  claims: { won: number; raced: number; ms: Percentiles };
  durationMs: number;
  idealMs: number;
  ratio: number;
  claimToStartMs: Percentiles;
  /** Ending a task → the completion committed (done in the background while the next task runs). */
  settleMs: Percentiles;
  /** Slot free while an unclaimed task waited: per-interval lengths, summed and the longest. */
  idle: { totalMs: number; maxGapMs: number; gaps: number };
  completedOnce: number;
  ranTwice: string[];
  notCompleted: string[];
  perAgent: { tasks: number; busyMs: number }[];
}

/** Nearest-rank percentile of sorted samples. */
function rank(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1] as number;
}

export function percentiles(samples: number[]): Percentiles {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: rank(s, 50), p95: rank(s, 95), max: s.at(-1) ?? 0 };
}

/**
 * Time within [from, to) during which some created task was not claimed yet. `steps` are the times
 * the count of waiting tasks changes (+1 created, −1 claimed), sorted.
 */
function waitingWithin(steps: { at: number; delta: number }[], from: number, to: number): number {
  let waiting = 0;
  let total = 0;
  let since = from;
  for (const s of steps) {
    if (s.at >= to) break;
    if (s.at > from && waiting > 0) total += s.at - Math.max(since, from);
    waiting += s.delta;
    since = Math.max(s.at, from);
  }
  if (waiting > 0) total += to - since;
  return Math.max(0, total);
}

/** The figures of a run of `agents` agents that started at `t0` and whose last task completed at `t1`. */
export function figures(
  tasks: TaskTimeline[],
  agents: number,
  t0: number,
  t1: number,
  claims: { ms: number; won: boolean }[] = [],
): AgentFigures {
  const work = tasks.reduce((n, t) => n + t.workMs, 0);
  const idealMs = work / agents;
  const starts = tasks.flatMap((t) => t.starts.map((s) => ({ ...s, id: t.id })));
  const steps = [
    ...tasks.map((t) => ({ at: t.createdAt, delta: 1 })),
    ...tasks.flatMap((t) => (t.starts[0] ? [{ at: t.starts[0].claimedAt, delta: -1 }] : [])),
  ].sort((a, b) => a.at - b.at || b.delta - a.delta);
  const gaps: number[] = [];
  const perAgent = Array.from({ length: agents }, () => ({ tasks: 0, busyMs: 0 }));
  for (let a = 0; a < agents; a++) {
    const mine = starts.filter((s) => s.agent === a).sort((x, y) => x.claimedAt - y.claimedAt);
    let free = t0;
    for (const s of mine) {
      gaps.push(waitingWithin(steps, free, s.claimedAt));
      free = s.endedAt ?? t1;
      const agent = perAgent[a] as { tasks: number; busyMs: number };
      agent.tasks++;
      agent.busyMs += (s.endedAt ?? t1) - s.claimedAt;
    }
    gaps.push(waitingWithin(steps, free, t1));
  }
  const idleGaps = gaps.filter((g) => g > 0);
  return {
    tasks: tasks.length,
    claims: {
      won: claims.filter((c) => c.won).length,
      raced: claims.filter((c) => !c.won).length,
      ms: percentiles(claims.map((c) => c.ms)),
    },
    durationMs: t1 - t0,
    idealMs,
    ratio: idealMs ? (t1 - t0) / idealMs : 0,
    claimToStartMs: percentiles(starts.map((s) => s.startedAt - s.claimedAt)),
    settleMs: percentiles(
      tasks.flatMap((t) => {
        const end = t.starts.at(-1)?.endedAt;
        return t.completedAt !== undefined && end !== undefined ? [t.completedAt - end] : [];
      }),
    ),
    idle: {
      totalMs: idleGaps.reduce((n, g) => n + g, 0),
      maxGapMs: idleGaps.length ? Math.max(...idleGaps) : 0,
      gaps: idleGaps.length,
    },
    completedOnce: tasks.filter((t) => t.starts.length === 1 && t.completedAt !== undefined).length,
    ranTwice: tasks.filter((t) => t.starts.length > 1).map((t) => t.id),
    notCompleted: tasks.filter((t) => t.completedAt === undefined).map((t) => t.id),
    perAgent,
  };
}
