// Benchmark statistics: nearest-rank percentiles, latency summaries and rates. Pure functions over plain
// numbers, shared by the pubsub benchmark (scripts/bench-pubsub.ts) and any later `chorus bench` command.

/** The percentiles every latency summary carries. */
export const SUMMARY_PERCENTILES = [50, 90, 95, 99] as const;

/** A latency (or any sample) summary; the statistics are null when there are no samples. */
export interface Summary {
  count: number;
  min: number | null;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

function checkPercentile(p: number): void {
  if (!Number.isFinite(p) || p <= 0 || p > 100) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
}

/** Sorts a copy of the samples in ascending numeric order (never mutates the input). */
export function sortedSamples(samples: ArrayLike<number>): Float64Array {
  return Float64Array.from(samples).sort();
}

/**
 * Nearest-rank percentile of samples already sorted ascending: the smallest sample such that at least p % of
 * the samples are ≤ it, i.e. sorted[ceil(p/100 · n) − 1]. Always one of the samples (no interpolation);
 * p = 100 is the maximum. Undefined for no samples. Throws RangeError for p outside (0, 100].
 */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number | undefined {
  checkPercentile(p);
  const n = sorted.length;
  if (n === 0) return undefined;
  // p·n/100 in floating point can land a hair above an integer (7.000000000000001): snap before ceil
  const exact = (p * n) / 100;
  const rounded = Math.round(exact);
  const rank = Math.abs(exact - rounded) < 1e-9 ? rounded : Math.ceil(exact);
  return sorted[Math.min(n, Math.max(1, rank)) - 1];
}

/** Nearest-rank percentile of unsorted samples (sorts a copy). */
export function percentile(samples: ArrayLike<number>, p: number): number | undefined {
  checkPercentile(p);
  return percentileOfSorted(sortedSamples(samples), p);
}

/** Several nearest-rank percentiles with one sort; keys are the requested percentiles. */
export function percentiles(samples: ArrayLike<number>, ps: readonly number[]): Map<number, number | undefined> {
  for (const p of ps) checkPercentile(p);
  const sorted = sortedSamples(samples);
  return new Map(ps.map((p) => [p, percentileOfSorted(sorted, p)]));
}

/** count, min, mean, p50/p90/p95/p99 (nearest rank) and max of the samples, in their own unit. */
export function summarize(samples: ArrayLike<number>): Summary {
  const sorted = sortedSamples(samples);
  const n = sorted.length;
  if (n === 0) return { count: 0, min: null, mean: null, p50: null, p90: null, p95: null, p99: null, max: null };
  let sum = 0;
  for (const x of sorted) sum += x;
  const at = (p: number): number => percentileOfSorted(sorted, p) as number;
  return {
    count: n,
    min: sorted[0] as number,
    mean: sum / n,
    p50: at(50),
    p90: at(90),
    p95: at(95),
    p99: at(99),
    max: sorted[n - 1] as number,
  };
}

/** Events per second over a duration in milliseconds; 0 when the duration is not positive. */
export function ratePerSecond(count: number, durationMs: number): number {
  return durationMs > 0 ? (count * 1000) / durationMs : 0;
}

/** part / whole; 1 when nothing was expected (nothing was missed), so a ratio of 1 always means "complete". */
export function ratio(part: number, whole: number): number {
  return whole > 0 ? part / whole : 1;
}

/** mulberry32: a small seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
