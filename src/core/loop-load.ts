// How busy this process's event loop has been lately: the share of the last window (event-loop utilization,
// Node's perf_hooks) it spent running code rather than waiting for I/O. Speculative work (the decisions'
// read-ahead) asks it first and stands back while the loop is busy, so it only ever uses room the node has.
// Where the runtime does not measure it (Deno's Node layer may not), the loop counts as not busy. loopShareSampler
// gives the share itself, for a caller with windows of its own (the pubsub signature offload).
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

/** Node's event-loop utilization: since start-up; from one sample to now; or between two (the later first). */
type Measure = (later?: EventLoopUtilization, earlier?: EventLoopUtilization) => EventLoopUtilization;

/** Node's measure, when the runtime has one. */
function defaultMeasure(): Measure | undefined {
  const elu = (performance as { eventLoopUtilization?: unknown }).eventLoopUtilization;
  return typeof elu === 'function' ? (later, earlier) => performance.eventLoopUtilization(later, earlier) : undefined;
}

export interface LoopLoadOptions {
  /** The shortest window measured (ms): a check within it of the last sample reuses that answer. */
  windowMs?: number;
  /** Busy above this share of the window spent running code (0–1). */
  threshold?: number;
}

export class LoopLoad {
  private readonly windowMs: number;
  private readonly threshold: number;
  private readonly measure: Measure | undefined;
  private last: EventLoopUtilization | undefined;
  private lastAt = 0;
  private answer = false;

  constructor(opts: LoopLoadOptions = {}) {
    this.windowMs = opts.windowMs ?? 100;
    this.threshold = opts.threshold ?? 0.5;
    this.measure = defaultMeasure();
  }

  /** True when the loop ran code for more than `threshold` of the window that just ended. */
  busy(now = performance.now()): boolean {
    if (!this.measure) return false;
    if (this.last === undefined) {
      this.last = this.measure();
      this.lastAt = now;
      return false;
    }
    if (now - this.lastAt < this.windowMs) return this.answer;
    const since = this.measure(this.last);
    this.last = this.measure();
    this.lastAt = now;
    this.answer = since.utilization > this.threshold;
    return this.answer;
  }
}

/**
 * The share of the time since its last call (since its creation, the first time) the event loop spent running
 * code, 0–1. `measure` is Node's event-loop utilization by default; where the runtime does not measure it (absent,
 * or Deno's Node layer, whose stub reports no time at all) the sampler answers 1, as for a loop that never rests.
 */
export function loopShareSampler(measure?: Measure): () => number {
  const elu = measure ?? defaultMeasure();
  if (!elu) return () => 1;
  let last = elu();
  return () => {
    const now = elu();
    const since = elu(now, last);
    last = now;
    return since.idle + since.active > 0 && Number.isFinite(since.utilization) ? since.utilization : 1;
  };
}
