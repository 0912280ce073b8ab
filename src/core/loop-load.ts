// How busy this process's event loop has been lately: the share of the last window (event-loop utilization,
// Node's perf_hooks) it spent running code rather than waiting for I/O. Speculative work (the decisions'
// read-ahead) asks it first and stands back while the loop is busy, so it only ever uses room the node has.
// Where the runtime does not measure it (Deno's Node layer may not), the loop counts as not busy. loopShareSampler
// gives the share itself, for a caller with windows of its own (the pubsub signature offload).
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface LoopLoadOptions {
  /** The shortest window measured (ms): a check within it of the last sample reuses that answer. */
  windowMs?: number;
  /** Busy above this share of the window spent running code (0–1). */
  threshold?: number;
}

export class LoopLoad {
  private readonly windowMs: number;
  private readonly threshold: number;
  private readonly measure: ((prev?: EventLoopUtilization) => EventLoopUtilization) | undefined;
  private last: EventLoopUtilization | undefined;
  private lastAt = 0;
  private answer = false;

  constructor(opts: LoopLoadOptions = {}) {
    this.windowMs = opts.windowMs ?? 100;
    this.threshold = opts.threshold ?? 0.5;
    const elu = (performance as { eventLoopUtilization?: unknown }).eventLoopUtilization;
    this.measure = typeof elu === 'function' ? (prev) => performance.eventLoopUtilization(prev) : undefined;
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

type Measure = (later?: EventLoopUtilization, earlier?: EventLoopUtilization) => EventLoopUtilization;

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

function defaultMeasure(): Measure | undefined {
  const elu = (performance as { eventLoopUtilization?: unknown }).eventLoopUtilization;
  return typeof elu === 'function' ? (later, earlier) => performance.eventLoopUtilization(later, earlier) : undefined;
}
