// The phases of the pubsub benchmark, whatever the set-up: the harness that routes receipts to the
// phase in progress, one phase (fixed-rate or max-rate publishing within a window, then the drain),
// the latency and throughput phases against a publishing set-up, warm-up, mesh readiness, CPU cost.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError, TimeoutError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { ratePerSecond, ratio, summarize } from '../stats.ts';
import type { PhaseReport, PubSubBenchOptions, ScenarioReport } from './report.ts';
import { DeliveryTracker } from './tracker.ts';

/** What receivers look for in a message's data. */
export type BenchData = {
  bench: string;
  phase: string;
  id: number;
  pub: number;
  sent_at_ns: string;
  sent_at_ms: number;
  payload: string;
};

/** A timer promise that never rejects: resolves after `ms` (rounded up) or on abort. */
function delay(ms: number, opts: { signal?: AbortSignal; ref?: boolean } = {}): Promise<void> {
  return sleep(Math.max(0, Math.ceil(ms)), undefined, opts).catch(() => {});
}

export const epochMs = (): number => performance.timeOrigin + performance.now();

/** Routes receipts to the phase in progress; receipts of other phases (late probes, stragglers) are ignored. */
export class Harness {
  readonly runId = `${process.pid}-${Date.now().toString(36)}`;
  readonly payload: string;
  private active: { phase: string; tracker: DeliveryTracker } | undefined;
  private phaseSeq = 0;
  stray = 0;

  constructor(payloadBytes: number) {
    // plain words: nothing a SHHH rule would redact, so the payload arrives byte for byte
    const words = 'chorus pubsub benchmark payload lorem ipsum dolor sit amet ';
    this.payload = words.repeat(Math.ceil(payloadBytes / words.length)).slice(0, payloadBytes);
  }

  begin(name: string, tracker: DeliveryTracker): string {
    const phase = `${name}#${++this.phaseSeq}`;
    this.active = { phase, tracker };
    return phase;
  }

  end(): void {
    this.active = undefined;
  }

  data(phase: string, id: number, pub: number): BenchData {
    return {
      bench: this.runId,
      phase,
      id,
      pub,
      sent_at_ns: process.hrtime.bigint().toString(),
      sent_at_ms: epochMs(),
      payload: this.payload,
    };
  }

  /** A receipt by receiver `receiver`; `latency` computes receive − send from the data. */
  deliver(receiver: number, data: unknown, latency: (d: BenchData) => number, nodeLatency?: (d: BenchData) => number) {
    const d = data as Partial<BenchData> | undefined;
    if (!d || d.bench !== this.runId) return;
    const active = this.active;
    if (!active || d.phase !== active.phase) {
      this.stray++;
      return;
    }
    const full = d as BenchData;
    active.tracker.receive(full.id, receiver, latency(full), performance.now(), nodeLatency?.(full));
  }
}

export interface PhaseSpec {
  name: string;
  mode: 'fixed-rate' | 'max-rate';
  count: number;
  rate?: number;
  maxPublishMs: number;
  window: number;
  publisher: string;
  /** Publishing endpoints used round-robin (message i goes through endpoint i % publishers). */
  publishers: number;
  receivers: number;
  /** The receiver index of a publishing endpoint, or -1 when it is not a receiver. */
  publisherReceiver: (p: number) => number;
  publish: (p: number, data: BenchData) => Promise<unknown>;
  drainMs: number;
  /** Node pairs disconnected so far (in-process); the phase reports the difference. */
  disconnects?: () => number;
  /** Runs before each measured phase (in-process: re-dial connections lost in the previous phase). */
  prepare?: () => Promise<void>;
  /** Cumulative CPU ms of everything taking part (see PhaseReport.cpuMs). */
  cpu?: () => number;
}

export async function runPhase(h: Harness, spec: PhaseSpec, signal: AbortSignal | undefined): Promise<PhaseReport> {
  const tracker = new DeliveryTracker(spec.count, spec.receivers);
  const phase = h.begin(spec.name, tracker);
  let publishErrors = 0;
  let firstError: string | undefined;
  let stoppedEarly: string | undefined;
  const inFlight = new Set<Promise<unknown>>();
  let lastAcceptedAt = 0;
  const send = (id: number): void => {
    const p = id % spec.publishers;
    const data = h.data(phase, id, p);
    tracker.send(id, spec.publisherReceiver(p), performance.now());
    const promise = spec.publish(p, data).then(
      () => {
        lastAcceptedAt = performance.now();
      },
      (err: unknown) => {
        publishErrors++;
        firstError ??= describeError(err);
        tracker.fail(id);
      },
    );
    inFlight.add(promise);
    void promise.finally(() => inFlight.delete(promise));
  };
  const drops0 = spec.disconnects?.() ?? 0;
  const cpu0 = spec.cpu?.();
  const t0 = performance.now();
  // the publishing budget also bounds every wait inside the loop (a stalled mesh must not hold the phase)
  const budget = AbortSignal.timeout(Math.ceil(spec.maxPublishMs));
  const loopSignal = signal ? AbortSignal.any([signal, budget]) : budget;
  try {
    for (let id = 0; id < spec.count; id++) {
      if (signal?.aborted) {
        stoppedEarly = 'aborted';
        break;
      }
      if (budget.aborted) {
        stoppedEarly = `publishing budget of ${spec.maxPublishMs / 1000} s used up after ${tracker.sent} messages`;
        break;
      }
      if (spec.mode === 'fixed-rate') {
        const wait = t0 + (id * 1000) / (spec.rate ?? 1) - performance.now();
        if (wait >= 1) await delay(wait, { signal: loopSignal });
        if (loopSignal.aborted) {
          id--;
          continue;
        }
      }
      if (tracker.pending >= spec.window) await tracker.whenPendingBelow(spec.window, loopSignal);
      if (loopSignal.aborted) {
        id--;
        continue;
      }
      send(id);
    }
    const publishedAt = performance.now();
    await Promise.race([Promise.allSettled([...inFlight]), delay(spec.drainMs, { signal, ref: false })]);
    const left = Math.max(0, spec.drainMs - (performance.now() - publishedAt));
    const drained = (await tracker.drain(left, signal)) && tracker.pending === 0;
    const cpuMs = cpu0 === undefined ? undefined : spec.cpu!() - cpu0;
    const publishMs = Math.max(tracker.lastSendAt, lastAcceptedAt) - tracker.firstSendAt;
    const totalMs = Math.max(tracker.lastDeliveryAt, tracker.lastSendAt) - tracker.firstSendAt;
    return {
      name: spec.name,
      mode: spec.mode,
      publisher: spec.publisher,
      publishers: spec.publishers,
      fanout: spec.receivers - (spec.publisherReceiver(0) >= 0 ? 1 : 0),
      targetRate: spec.mode === 'fixed-rate' ? (spec.rate ?? null) : null,
      planned: spec.count,
      messages: tracker.sent,
      publishErrors,
      ...(firstError ? { firstError } : {}),
      ...(stoppedEarly ? { stoppedEarly } : {}),
      expectedDeliveries: tracker.expected,
      deliveries: tracker.delivered,
      duplicates: tracker.duplicates,
      unexpected: tracker.unexpected,
      deliveryRatio: ratio(tracker.delivered, tracker.expected),
      drained,
      publishMs,
      totalMs,
      completeMessages: tracker.complete,
      publishRate: ratePerSecond(tracker.sent, publishMs),
      completeRate: ratePerSecond(tracker.complete, totalMs),
      deliveryRate: ratePerSecond(tracker.delivered, totalMs),
      latencyMs: summarize(tracker.latencies),
      ...(tracker.nodeLatencies.length ? { nodeLatencyMs: summarize(tracker.nodeLatencies) } : {}),
      ...(cpuMs === undefined
        ? {}
        : { cpuMs, ...(tracker.complete ? { cpuMsPerMessage: cpuMs / tracker.complete } : {}) }),
      ...(spec.disconnects ? { connectionDrops: spec.disconnects() - drops0 } : {}),
    };
  } finally {
    h.end();
  }
}

/** Publishes single probes from each endpoint until one reaches every receiver (the mesh is formed). */
export async function waitUntilReady(
  h: Harness,
  spec: PublishSetup,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let p = 0; p < spec.publishers; p++) {
    for (;;) {
      if (signal?.aborted) return;
      if (performance.now() > deadline) {
        throw new TimeoutError(`the mesh did not form within ${timeoutMs} ms (publisher ${p} could not reach all)`);
      }
      const probe = await runPhase(
        h,
        {
          ...spec,
          name: 'probe',
          mode: 'max-rate',
          count: 1,
          maxPublishMs: 1000,
          drainMs: 500,
          window: 1,
          publishers: 1,
          publish: (_q, data) => spec.publish(p, { ...data, pub: p }),
          publisherReceiver: () => spec.publisherReceiver(p),
        },
        signal,
      );
      if (probe.messages === 1 && probe.drained) break;
      await delay(100, { signal });
    }
  }
}

export interface ScenarioContext {
  h: Harness;
  opts: Required<Omit<PubSubBenchOptions, 'inProcess' | 'processes' | 'signal' | 'logger' | 'floorIterations'>>;
  signal: AbortSignal | undefined;
  logger: Logger;
}

function logPhase(logger: Logger, scenario: string, r: PhaseReport): void {
  logger.info(`${scenario}: ${r.name} (${r.publisher}) done`, {
    messages: r.messages,
    deliveryRatio: Number(r.deliveryRatio.toFixed(4)),
    duplicates: r.duplicates,
    p50: r.latencyMs.p50 === null ? null : Number(r.latencyMs.p50.toFixed(2)),
    p99: r.latencyMs.p99 === null ? null : Number(r.latencyMs.p99.toFixed(2)),
    publishRate: Math.round(r.publishRate),
    completeRate: Math.round(r.completeRate),
    deliveryRate: Math.round(r.deliveryRate),
  });
}

/** A publishing set-up: who publishes, who receives. */
export type PublishSetup = Omit<PhaseSpec, 'name' | 'mode' | 'count' | 'maxPublishMs' | 'drainMs' | 'window' | 'rate'>;

/** The measured phases against one publishing set-up: latency at each fixed rate, then throughput. */
export async function runPhases(
  ctx: ScenarioContext,
  scenario: string,
  base: PublishSetup,
  which: { latency: boolean; throughput: boolean },
  into: PhaseReport[],
): Promise<void> {
  const { opts, signal, logger, h } = ctx;
  const common = { ...base, window: opts.window, drainMs: opts.drainMs };
  for (const rate of which.latency ? opts.latencyRates : []) {
    if (signal?.aborted) return;
    await base.prepare?.();
    // let the previous phase's backlog, GC and periodic DHT/mesh maintenance settle before measuring latency
    await sleep(1500);
    logger.info(`${scenario}: latency phase`, { publisher: base.publisher, rate });
    const count = Math.max(1, Math.round((rate * opts.latencyDurationMs) / 1000));
    const r = await runPhase(
      h,
      { ...common, name: 'latency', mode: 'fixed-rate', rate, count, maxPublishMs: opts.latencyDurationMs * 2 },
      signal,
    );
    into.push(r);
    logPhase(logger, scenario, r);
  }
  if (which.throughput && !signal?.aborted) {
    await base.prepare?.();
    logger.info(`${scenario}: throughput phase`, { publisher: base.publisher, messages: opts.throughputMessages });
    const r = await runPhase(
      h,
      {
        ...common,
        name: 'throughput',
        mode: 'max-rate',
        count: opts.throughputMessages,
        maxPublishMs: opts.throughputMaxMs,
      },
      signal,
    );
    into.push(r);
    logPhase(logger, scenario, r);
  }
}

/** Unmeasured traffic first (JIT, connection buffers, mesh): at most warmupMessages or 3 s of publishing. */
export async function warmup(ctx: ScenarioContext, base: PublishSetup): Promise<ScenarioReport['warmup']> {
  const r = await runPhase(
    ctx.h,
    {
      ...base,
      name: 'warmup',
      mode: 'max-rate',
      count: ctx.opts.warmupMessages,
      maxPublishMs: 3000,
      window: Math.min(ctx.opts.window, 64),
      drainMs: 5000,
    },
    ctx.signal,
  );
  return { messages: r.messages, deliveries: r.deliveries, expected: r.expectedDeliveries };
}

/** CPU ms (user + system) used by this process so far. */
export function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** CPU ms used so far by a child process, from /proc (Linux; USER_HZ = 100); 0 when unreadable. */
export function childCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime (fields 14 and 15 of stat)
  } catch {
    return 0;
  }
}
