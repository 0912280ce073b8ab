// The pubsub delivery benchmark: ~1 KiB signed envelope messages on a dedicated topic, measured in two set-ups —
// N ChorusNode instances fully meshed in this process, and M `chorus node` processes on 127.0.0.1 whose
// subscribers are `chorus subscribe --json` streams. Each phase reports latency percentiles (receive − send),
// delivery ratio, duplicates and throughput. Returns a typed report; never prints, never exits. Every node and
// child process is stopped before the runners return, also on error or when the signal aborts.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { arch, cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { multiaddr } from '@multiformats/multiaddr';
import { socketPath } from '../api/protocol.ts';
import { validateConfig } from '../config/load.ts';
import { describeError, TimeoutError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import { ChorusNode } from '../node/node.ts';
import { buildEnvelope, encodeEnvelope } from '../pubsub/messages.ts';
import type { ReceivedMessage } from '../pubsub/pubsub.ts';
import {
  childEnv,
  devClusterConfig,
  devClusterEnv,
  spawnChild,
  stopChildren,
  withTimeout,
  type Child,
} from './children.ts';
import { connectPairs, waitForTopicMesh } from './mesh.ts';
import { ratePerSecond, ratio, summarize, type Summary } from './stats.ts';

export { killBenchChildren } from './children.ts';

/** The topic every benchmark message goes to (a custom topic: no other traffic, envelope validation on). */
export const BENCH_TOPIC = 'CHORUS/bench/pubsub/v1';
/** The envelope type of benchmark messages. */
export const BENCH_MESSAGE_TYPE = 'TaskProgress';

export const TARGETS = { p99Ms: 20, messagesPerSecond: 5000, deliveryRatio: 1 } as const;

// ---------------------------------------------------------------------------------------------------------------
// options and report

export interface InProcessOptions {
  /** Nodes in the mesh (default 10). */
  nodes?: number;
  /** GossipSub heartbeat in ms (default 100; the product default is 1000). */
  heartbeatMs?: number;
  /**
   * Nodes publishing round-robin in the second run of every phase (default: all of them); 1 runs only
   * the single-publisher phases.
   */
  publishers?: number;
}

export interface ProcessesOptions {
  /** `chorus` executable: the built binary, or process.execPath with args [src/cli/bin.ts]. */
  command: string;
  args?: string[];
  /** Node processes (default 5): all but the last are subscribed through `chorus subscribe --json`. */
  nodes?: number;
  /**
   * Who publishes: `api` = the last node through its control API (POST /v1/publish over the Unix socket),
   * `peer` = an in-benchmark ChorusNode joined as an extra peer, `both` (default) = latency and throughput
   * through the API, then throughput through the extra peer.
   */
  publisher?: 'api' | 'peer' | 'both';
  /** Concurrent HTTP requests to the control API (default 32). */
  apiConcurrency?: number;
  /** Extra environment for the child processes (CHORUS_* variables of this process are never passed). */
  env?: Record<string, string>;
}

export interface PubSubBenchOptions {
  /** Length of the string field in each message's data (default 1024). */
  payloadBytes?: number;
  /** Messages sent before measuring, per scenario (default 500, at most 3 s of publishing). */
  warmupMessages?: number;
  /**
   * Fixed publish rates of the latency phases, messages/s (default [20, 500]: light load, then the moderate
   * rate of the targets). A rate the mesh cannot sustain turns into a window-limited (closed-loop) phase.
   */
  latencyRates?: number[];
  /** Length of each latency phase in ms (default 3000). */
  latencyDurationMs?: number;
  /** Messages of each throughput phase (default 20,000). */
  throughputMessages?: number;
  /** A throughput phase stops publishing after this long even if the count is not reached (default 15 s). */
  throughputMaxMs?: number;
  /**
   * In-flight window: messages published but not yet received by every subscriber (default 100 — the
   * bandwidth-delay product of the targets, 5,000 msg/s × 20 ms). Larger windows only queue work: on a
   * saturated node a queue of more than ~5 s makes libp2p's ping monitor close connections.
   */
  window?: number;
  /** After the last publish, how long to wait for outstanding deliveries (default 8 s). */
  drainMs?: number;
  /** The in-process scenario (default on); false skips it. */
  inProcess?: InProcessOptions | false;
  /** The multi-process scenario; skipped when absent or false. */
  processes?: ProcessesOptions | false;
  /** Aborting stops the phase in progress, stops all nodes and returns what was measured. */
  signal?: AbortSignal;
  /** Progress lines (phase starts and results). */
  logger?: Logger;
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  platform: string;
  release: string;
  arch: string;
  node: string;
  /** 1-minute load average when the run started and ended (other work on the machine skews the figures). */
  loadAverage: { start: number; end: number };
}

export interface PhaseReport {
  /** e.g. "latency", "throughput". */
  name: string;
  /** fixed-rate: open loop at `targetRate`; max-rate: as fast as the window allows. */
  mode: 'fixed-rate' | 'max-rate';
  /** Who published, e.g. "node 0" or "all 10 nodes round-robin". */
  publisher: string;
  publishers: number;
  /** Receivers each message must reach. */
  fanout: number;
  targetRate: number | null;
  planned: number;
  /** Messages whose publish call succeeded. */
  messages: number;
  publishErrors: number;
  firstError?: string;
  /** Why publishing stopped before `planned` (time budget, abort). */
  stoppedEarly?: string;
  expectedDeliveries: number;
  /** Unique deliveries (first receipt of a message by a receiver). */
  deliveries: number;
  /** Second and later receipts of the same message by the same receiver (must be 0). */
  duplicates: number;
  /** Receipts of unknown ids or of a node's own message. */
  unexpected: number;
  deliveryRatio: number;
  /** Every expected delivery arrived before the drain deadline. */
  drained: boolean;
  /** Messages that reached every receiver. */
  completeMessages: number;
  /** First send → last publish call resolved (the publisher accepted every message). */
  publishMs: number;
  /** First send → last delivery. */
  totalMs: number;
  /** Messages accepted by the publisher per second (over publishMs): what publish() takes, not what arrives. */
  publishRate: number;
  /** Messages that reached every receiver, per second (over totalMs): the throughput compared with the target. */
  completeRate: number;
  /** Unique deliveries per second (over totalMs). */
  deliveryRate: number;
  /**
   * CPU time used during the phase (first send → end of drain) by every process taking part: this one
   * (in-process: all the nodes) and, for processes, the node and subscriber processes. Independent of how
   * busy the machine is with other work, unlike the rates.
   */
  cpuMs?: number;
  /** cpuMs per message that reached every receiver: the cost of one message's fan-out. */
  cpuMsPerMessage?: number;
  /** receive − send, in ms. */
  latencyMs: Summary;
  /** Processes only: the receiving node's own `receivedAt` − send (ms resolution, before the subscribe stream). */
  nodeLatencyMs?: Summary;
  /** In-process only: connections between the nodes that closed during the phase (re-dialled before the next). */
  connectionDrops?: number;
}

export interface ScenarioReport {
  name: 'in-process' | 'processes';
  title: string;
  nodes: number;
  subscribers: number;
  /** How messages were published (and, for processes, received). */
  publisherKind: string;
  /** For processes: the executable and its runtime. */
  executable?: string;
  runtime?: string;
  /** For processes: child process ids (to match per-process CPU profiles). */
  pids?: { nodes: number[]; subscribers: number[] };
  setupMs: number;
  warmup?: { messages: number; deliveries: number; expected: number };
  phases: PhaseReport[];
  notes: string[];
  /** Set when the scenario failed; phases holds what was measured before. */
  error?: string;
}

export interface PubSubBenchReport {
  benchmark: 'pubsub';
  startedAt: string;
  durationMs: number;
  machine: MachineInfo;
  params: {
    topic: string;
    messageType: string;
    payloadBytes: number;
    /** Encoded size of one benchmark envelope (what is signed and sent). */
    envelopeBytes: number;
    warmupMessages: number;
    latencyRates: number[];
    latencyDurationMs: number;
    throughputMessages: number;
    throughputMaxMs: number;
    window: number;
    drainMs: number;
  };
  targets: typeof TARGETS;
  scenarios: ScenarioReport[];
  /** Set when the signal aborted the run (e.g. the overall deadline). */
  aborted?: string;
}

export function machineInfo(loadAtStart = loadavg()[0] ?? 0): MachineInfo {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    platform: platform(),
    release: release(),
    arch: arch(),
    node: process.version,
    loadAverage: { start: round2(loadAtStart), end: round2(loadavg()[0] ?? 0) },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// delivery tracking

interface Waiter {
  below: number;
  resolve: () => void;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** Per-phase bookkeeping: which receiver got which message, duplicates, latencies, and the in-flight count. */
export class DeliveryTracker {
  readonly capacity: number;
  readonly receivers: number;
  readonly latencies: number[] = [];
  readonly nodeLatencies: number[] = [];
  sent = 0;
  failed = 0;
  expected = 0;
  delivered = 0;
  duplicates = 0;
  unexpected = 0;
  /** Messages sent and not yet received by all their receivers. */
  pending = 0;
  /** Messages received by all their receivers. */
  complete = 0;
  firstSendAt = 0;
  lastSendAt = 0;
  lastDeliveryAt = 0;
  readonly #publisher: Int16Array;
  readonly #remaining: Int32Array;
  readonly #seen: Uint8Array;
  readonly #state: Uint8Array; // 0 unsent, 1 sent, 2 failed
  #waiters: Waiter[] = [];

  constructor(capacity: number, receivers: number) {
    this.capacity = capacity;
    this.receivers = receivers;
    this.#publisher = new Int16Array(capacity);
    this.#remaining = new Int32Array(capacity);
    this.#seen = new Uint8Array(capacity * receivers);
    this.#state = new Uint8Array(capacity);
  }

  /** Message `id` is about to be published; `publisherReceiver` is the publisher's receiver index or -1. */
  send(id: number, publisherReceiver: number, now: number): void {
    const fanout = this.receivers - (publisherReceiver >= 0 ? 1 : 0);
    this.#publisher[id] = publisherReceiver;
    this.#remaining[id] = fanout;
    this.#state[id] = 1;
    this.sent++;
    this.expected += fanout;
    this.pending++;
    if (this.sent === 1) this.firstSendAt = now;
    this.lastSendAt = now;
  }

  /** The publish of `id` failed: it no longer counts as sent or expected. */
  fail(id: number): void {
    if (this.#state[id] !== 1) return;
    const fanout = this.receivers - (this.#publisher[id]! >= 0 ? 1 : 0);
    const got = fanout - this.#remaining[id]!;
    this.#state[id] = 2;
    this.failed++;
    this.sent--;
    this.expected -= fanout;
    this.delivered -= got;
    if (this.#remaining[id]! > 0) this.#settle();
    this.#remaining[id] = 0;
  }

  /** Receiver `receiver` got message `id`; latencies in ms. */
  receive(id: number, receiver: number, latencyMs: number, now: number, nodeLatencyMs?: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.capacity || this.#state[id] !== 1) {
      this.unexpected++;
      return;
    }
    if (this.#publisher[id] === receiver || receiver < 0 || receiver >= this.receivers) {
      this.unexpected++;
      return;
    }
    const slot = id * this.receivers + receiver;
    if (this.#seen[slot]) {
      this.duplicates++;
      return;
    }
    this.#seen[slot] = 1;
    this.delivered++;
    this.latencies.push(latencyMs);
    if (nodeLatencyMs !== undefined) this.nodeLatencies.push(nodeLatencyMs);
    this.lastDeliveryAt = now;
    if (--this.#remaining[id]! === 0) {
      this.complete++;
      this.#settle();
    }
  }

  #settle(): void {
    this.pending--;
    if (this.#waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.#waiters) {
      if (this.pending < w.below) w.resolve();
      else still.push(w);
    }
    this.#waiters = still;
  }

  /** Resolves when fewer than `below` messages are pending, or when the signal aborts. */
  whenPendingBelow(below: number, signal?: AbortSignal): Promise<void> {
    if (this.pending < below || signal?.aborted) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    const onAbort = (): void => resolve();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#waiters.push({
      below,
      resolve: () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
    });
    return promise;
  }

  /** True when every sent message reached all its receivers within `ms`; false at the deadline or on abort. */
  async drain(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.pending === 0) return true;
    const timeout = AbortSignal.timeout(Math.max(0, Math.ceil(ms)));
    await this.whenPendingBelow(1, signal ? AbortSignal.any([signal, timeout]) : timeout);
    return this.pending === 0;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// phases

/** What receivers look for in a message's data. */
type BenchData = {
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

const epochMs = (): number => performance.timeOrigin + performance.now();

/** Routes receipts to the phase in progress; receipts of other phases (late probes, stragglers) are ignored. */
class Harness {
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

interface PhaseSpec {
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

async function runPhase(h: Harness, spec: PhaseSpec, signal: AbortSignal | undefined): Promise<PhaseReport> {
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
async function waitUntilReady(
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

interface ScenarioContext {
  h: Harness;
  opts: Required<Omit<PubSubBenchOptions, 'inProcess' | 'processes' | 'signal' | 'logger'>>;
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
type PublishSetup = Omit<PhaseSpec, 'name' | 'mode' | 'count' | 'maxPublishMs' | 'drainMs' | 'window' | 'rate'>;

/** The measured phases against one publishing set-up: latency at each fixed rate, then throughput. */
async function runPhases(
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
async function warmup(ctx: ScenarioContext, base: PublishSetup): Promise<ScenarioReport['warmup']> {
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
function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** CPU ms used so far by a child process, from /proc (Linux; USER_HZ = 100); 0 when unreadable. */
function childCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime (fields 14 and 15 of stat)
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// in-process scenario

function benchConfig(dataDir: string) {
  return validateConfig({
    dataDir,
    license: devClusterConfig(dirname(dataDir)),
    p2p: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false },
    pubsub: { meshWaitMs: 5000 },
    agent: { role: 'developer' },
  });
}

/** Resolves when every node sees at least `want` peers subscribed to `topic`. */
async function stopNodes(nodes: ChorusNode[], logger: Logger): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      const done = await withTimeout(
        n.stop().then(() => true),
        10_000,
      ).catch((err: unknown) => {
        logger.warn('node stop failed', { error: describeError(err) });
        return true;
      });
      if (done === undefined) logger.warn('node did not stop within 10 s', { peerId: n.peerId });
    }),
  );
}

export async function runInProcessScenario(
  ctx: ScenarioContext,
  options: InProcessOptions = {},
): Promise<ScenarioReport> {
  const { signal, logger, h } = ctx;
  const count = options.nodes ?? 10;
  const heartbeatMs = options.heartbeatMs ?? 100;
  const report: ScenarioReport = {
    name: 'in-process',
    title: `in-process: ${count} ChorusNode instances, full mesh on 127.0.0.1`,
    nodes: count,
    subscribers: count,
    publisherKind: 'ChorusPubSub.publish on the publishing node; receipts from the pubsub message event',
    setupMs: 0,
    phases: [],
    notes: [
      `api off, mDNS off, GossipSub heartbeat ${heartbeatMs} ms, event log on (as in production)`,
      'latency = process.hrtime.bigint() at receipt − sent_at_ns in the payload (one process, one clock)',
      'all nodes share this process and its one event loop: publisher and receivers compete for the same core',
    ],
  };
  const root = mkdtempSync(join(tmpdir(), 'chorus-bench-'));
  const nodes: ChorusNode[] = [];
  const t0 = performance.now();
  try {
    logger.info('in-process: starting nodes', { nodes: count });
    for (let i = 0; i < count && !signal?.aborted; i++) {
      const dir = join(root, `n${i}`);
      mkdirSync(dir);
      nodes.push(
        await ChorusNode.start({
          config: benchConfig(dir),
          logger: silentLogger,
          api: false,
          gossip: { heartbeatInterval: heartbeatMs },
        }),
      );
    }
    await connectPairs(nodes, signal);
    nodes.forEach((node, i) => {
      node.pubsub.join(BENCH_TOPIC);
      node.pubsub.on('message', (m: ReceivedMessage) => {
        if (m.topic !== BENCH_TOPIC) return;
        h.deliver(i, m.envelope?.data, (d) => Number(process.hrtime.bigint() - BigInt(d.sent_at_ns)) / 1e6);
      });
    });
    await waitForTopicMesh(nodes, BENCH_TOPIC, count - 1, { signal });
    // libp2p closes connections it thinks are dead (e.g. a ping that timed out on a saturated event loop):
    // count those, and restore the full mesh before each phase so one phase's losses do not skew the next
    let disconnects = 0;
    let redials = 0;
    const indexOf = new Map(nodes.map((n, i) => [n.peerId, i]));
    nodes.forEach((n, i) => {
      // counted once per pair: at the end with the lower index
      n.libp2p.addEventListener('peer:disconnect', (evt) => {
        if ((indexOf.get(evt.detail.toString()) ?? -1) > i) disconnects++;
      });
    });
    const remesh = async (): Promise<void> => {
      redials += await connectPairs(nodes, signal);
      redials += await waitForTopicMesh(nodes, BENCH_TOPIC, count - 1, { signal, stallMs: 10_000 });
    };
    const single: PublishSetup = {
      cpu: ownCpuMs,
      disconnects: () => disconnects,
      prepare: remesh,
      publisher: 'node 0',
      publishers: 1,
      receivers: count,
      publisherReceiver: () => 0,
      publish: (_p, data) => nodes[0]!.pubsub.publish(BENCH_MESSAGE_TYPE, data, { topic: BENCH_TOPIC }),
    };
    const publishers = Math.min(Math.max(options.publishers ?? count, 1), count);
    const several = publishers > 1;
    const all: typeof single = {
      cpu: ownCpuMs,
      disconnects: () => disconnects,
      prepare: remesh,
      publisher:
        publishers === count ? `all ${count} nodes round-robin` : `${publishers} of ${count} nodes round-robin`,
      publishers,
      receivers: count,
      publisherReceiver: (p) => p,
      publish: (p, data) => nodes[p]!.pubsub.publish(BENCH_MESSAGE_TYPE, data, { topic: BENCH_TOPIC }),
    };
    await waitUntilReady(h, several ? all : single, 20_000, signal);
    report.setupMs = performance.now() - t0;
    logger.info('in-process: mesh ready; warming up', { setupMs: Math.round(report.setupMs) });
    report.warmup = await warmup(ctx, single);
    await runPhases(ctx, 'in-process', single, { latency: true, throughput: false }, report.phases);
    if (several) await runPhases(ctx, 'in-process', all, { latency: true, throughput: false }, report.phases);
    await runPhases(ctx, 'in-process', single, { latency: false, throughput: true }, report.phases);
    if (several) await runPhases(ctx, 'in-process', all, { latency: false, throughput: true }, report.phases);
    if (h.stray) report.notes.push(`${h.stray} late receipts of earlier phases were ignored`);
    if (redials) report.notes.push(`${redials} connections closed by libp2p under load were re-dialled between phases`);
  } catch (err) {
    report.error = describeError(err);
  } finally {
    if (!report.setupMs) report.setupMs = performance.now() - t0;
    logger.info('in-process: stopping nodes');
    await stopNodes(nodes, logger);
    rmSync(root, { recursive: true, force: true });
  }
  return report;
}

// ---------------------------------------------------------------------------------------------------------------
// multi-process scenario

function runtimeOf(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<string | undefined> {
  return new Promise((resolve) => {
    const proc = spawn(command, [...args, 'version', '--json'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (c: string) => (out += c));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    proc.on('error', () => resolve(undefined));
    proc.on('close', () => {
      clearTimeout(timer);
      try {
        resolve((JSON.parse(out) as { runtime?: string }).runtime);
      } catch {
        resolve(undefined);
      }
    });
  });
}

/** POST /v1/publish over a node's Unix socket, through a keep-alive agent. */
function apiPublisher(
  socketPath: string,
  concurrency: number,
): { publish: (body: unknown) => Promise<void>; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  return {
    publish: (body) =>
      new Promise<void>((resolve, reject) => {
        const payload = JSON.stringify(body);
        const req = request(
          {
            socketPath,
            path: '/v1/publish',
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (text += c));
            res.on('end', () => {
              if (res.statusCode === 200) resolve();
              else reject(new Error(`control API answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
            });
            res.on('error', reject);
          },
        );
        req.setTimeout(30_000, () => req.destroy(new Error('publish request timed out after 30 s')));
        req.on('error', reject);
        req.end(payload);
      }),
    close: () => agent.destroy(),
  };
}

export async function runProcessesScenario(ctx: ScenarioContext, options: ProcessesOptions): Promise<ScenarioReport> {
  const { signal, logger, h } = ctx;
  const count = Math.max(2, options.nodes ?? 5);
  const subscribers = count - 1;
  const mode = options.publisher ?? 'both';
  const concurrency = options.apiConcurrency ?? 32;
  const args = options.args ?? [];
  const root = mkdtempSync(join(tmpdir(), 'chorus-bench-'));
  const env = childEnv({ ...devClusterEnv(root), ...options.env });
  const exe = [options.command, ...args].join(' ');
  const report: ScenarioReport = {
    name: 'processes',
    title: `${count} chorus node processes on 127.0.0.1 (bootstrap full mesh, --no-mdns)`,
    nodes: count,
    subscribers,
    publisherKind:
      mode === 'peer'
        ? 'an in-benchmark ChorusNode joined as an extra peer, publishing directly'
        : `node ${count - 1}'s control API (POST /v1/publish over its Unix socket, keep-alive, ≤ ${concurrency} concurrent)` +
          (mode === 'both' ? '; then an in-benchmark ChorusNode joined as an extra peer' : ''),
    executable: exe,
    setupMs: 0,
    phases: [],
    notes: [
      `subscribers: \`chorus --data-dir D subscribe ${BENCH_TOPIC} --json\` on nodes 0..${subscribers - 1}`,
      'latency = wall time when this process reads the line from the subscribe stream − sent_at_ms in the payload',
      "node latency = the receiving node's receivedAt (ms resolution) − sent_at_ms: the part before the subscribe stream",
    ],
  };
  const nodes: Child[] = [];
  const subs: Child[] = [];
  let peer: ChorusNode | undefined;
  let api: ReturnType<typeof apiPublisher> | undefined;
  const t0 = performance.now();
  const wallOffset = Date.now() - epochMs(); // maps epochMs() onto the Date clock of receivedAt
  try {
    report.runtime = await runtimeOf(options.command, args, env);
    const addrs: string[] = [];
    for (let i = 0; i < count && !signal?.aborted; i++) {
      const dir = join(root, `n${i}`);
      mkdirSync(dir, { mode: 0o700 });
      const child = spawnChild(
        `node ${i}`,
        options.command,
        [
          ...args,
          '--data-dir',
          dir,
          '--log-format',
          'json',
          '--log-level',
          'info',
          'node',
          '--listen',
          '/ip4/127.0.0.1/tcp/0',
          '--no-mdns',
          '--no-ops', // several nodes share the host; health probes would also add traffic to the measurement
          ...addrs.flatMap((a) => ['--bootstrap', a]),
        ],
        env,
      );
      nodes.push(child);
      const addr = await child.waitForStderr(
        (line) => {
          try {
            const entry = JSON.parse(line) as { message?: string; fields?: { addresses?: string[] } };
            return entry.message === 'chorus node running' ? (entry.fields?.addresses?.[0] ?? '') : undefined;
          } catch {
            return undefined;
          }
        },
        30_000,
        signal,
      );
      if (!addr) throw new Error(`node ${i} reported no listen address`);
      addrs.push(addr);
      logger.info(`processes: node ${i} running`, { addr });
    }
    for (let i = 0; i < subscribers && !signal?.aborted; i++) {
      const sub = spawnChild(
        `subscriber ${i}`,
        options.command,
        [...args, '--data-dir', join(root, `n${i}`), 'subscribe', BENCH_TOPIC, '--json'],
        env,
        (line) => {
          const now = epochMs();
          let m: Partial<ReceivedMessage>;
          try {
            m = JSON.parse(line) as Partial<ReceivedMessage>;
          } catch {
            return;
          }
          const nodeAt = typeof m.receivedAt === 'string' ? Date.parse(m.receivedAt) : Number.NaN;
          h.deliver(
            i,
            m.envelope?.data,
            (d) => now - d.sent_at_ms,
            Number.isNaN(nodeAt) ? undefined : (d) => nodeAt - (d.sent_at_ms + wallOffset),
          );
        },
      );
      subs.push(sub);
      await sub.waitForStderr((line) => (/\bsubscribed\b/.test(line) ? true : undefined), 30_000, signal);
    }
    report.pids = { nodes: nodes.map((c) => c.proc.pid ?? -1), subscribers: subs.map((c) => c.proc.pid ?? -1) };
    if (signal?.aborted) return report;

    const children = [...nodes, ...subs];
    const phases = (publisher: string, publish: PhaseSpec['publish']): PublishSetup => ({
      cpu: () => ownCpuMs() + children.reduce((sum, c) => sum + childCpuMs(c.proc.pid), 0),
      publisher,
      publishers: 1,
      receivers: subscribers,
      publisherReceiver: () => -1,
      publish,
    });

    if (mode !== 'peer') {
      api = apiPublisher(socketPath(join(root, `n${count - 1}`)), concurrency);
      const client = api;
      const viaApi = phases(`node ${count - 1} via control API`, (_p, data) =>
        client.publish({ type: BENCH_MESSAGE_TYPE, topic: BENCH_TOPIC, data }),
      );
      await waitUntilReady(h, viaApi, 30_000, signal);
      report.setupMs = performance.now() - t0;
      logger.info('processes: mesh ready; warming up', { setupMs: Math.round(report.setupMs) });
      report.warmup = await warmup(ctx, viaApi);
      await runPhases(ctx, 'processes', viaApi, { latency: true, throughput: true }, report.phases);
    }
    if (mode !== 'api' && !signal?.aborted) {
      const dir = join(root, 'peer');
      mkdirSync(dir);
      peer = await ChorusNode.start({ config: benchConfig(dir), logger: silentLogger, api: false });
      const self = peer;
      for (const a of addrs) await self.libp2p.dial(multiaddr(a), { signal });
      await waitForTopicMesh([self], BENCH_TOPIC, subscribers, { signal, stallMs: 20_000, redialMs: Infinity });
      const viaPeer = phases('in-benchmark peer (direct publish)', (_p, data) =>
        self.pubsub.publish(BENCH_MESSAGE_TYPE, data, { topic: BENCH_TOPIC }),
      );
      await waitUntilReady(h, viaPeer, 20_000, signal);
      if (!report.setupMs) report.setupMs = performance.now() - t0;
      if (mode === 'peer') report.warmup = await warmup(ctx, viaPeer);
      else await warmup(ctx, viaPeer);
      await runPhases(ctx, 'processes', viaPeer, { latency: mode === 'peer', throughput: true }, report.phases);
    }
    if (h.stray) report.notes.push(`${h.stray} late receipts of earlier phases were ignored`);
  } catch (err) {
    report.error = describeError(err);
  } finally {
    if (!report.setupMs) report.setupMs = performance.now() - t0;
    logger.info('processes: stopping');
    api?.close();
    if (peer) await stopNodes([peer], logger);
    await stopChildren(subs, 3000);
    await stopChildren(nodes, 8000);
    rmSync(root, { recursive: true, force: true });
  }
  return report;
}

// ---------------------------------------------------------------------------------------------------------------
// the whole run

/** Encoded size of one benchmark envelope with this payload (a real 52-character peer ID as sender). */
function envelopeBytes(h: Harness): number {
  const from = '12D3KooW' + 'x'.repeat(44);
  const env = buildEnvelope(
    BENCH_MESSAGE_TYPE,
    from,
    { ...h.data('throughput#1', 19_999, 0) },
    { fromRole: 'developer' },
  );
  return encodeEnvelope(env).byteLength;
}

export async function runPubSubBench(options: PubSubBenchOptions = {}): Promise<PubSubBenchReport> {
  const startedAt = new Date();
  const t0 = performance.now();
  const loadAtStart = loadavg()[0] ?? 0;
  const opts: ScenarioContext['opts'] = {
    payloadBytes: options.payloadBytes ?? 1024,
    warmupMessages: options.warmupMessages ?? 500,
    latencyRates: options.latencyRates?.length ? options.latencyRates : [20, 500],
    latencyDurationMs: options.latencyDurationMs ?? 8000,
    throughputMessages: options.throughputMessages ?? 20_000,
    throughputMaxMs: options.throughputMaxMs ?? 15_000,
    window: options.window ?? 100,
    drainMs: options.drainMs ?? 8000,
  };
  const h = new Harness(opts.payloadBytes);
  const ctx: ScenarioContext = { h, opts, signal: options.signal, logger: options.logger ?? silentLogger };
  const scenarios: ScenarioReport[] = [];
  if (options.inProcess !== false && !options.signal?.aborted) {
    scenarios.push(await runInProcessScenario(ctx, options.inProcess ?? {}));
  }
  if (options.processes && !options.signal?.aborted) {
    scenarios.push(await runProcessesScenario(ctx, options.processes));
  }
  const reason = options.signal?.aborted ? describeError(options.signal.reason) : undefined;
  return {
    benchmark: 'pubsub',
    startedAt: startedAt.toISOString(),
    durationMs: performance.now() - t0,
    machine: machineInfo(loadAtStart),
    params: {
      topic: BENCH_TOPIC,
      messageType: BENCH_MESSAGE_TYPE,
      envelopeBytes: envelopeBytes(h),
      ...opts,
    },
    targets: TARGETS,
    scenarios,
    ...(reason ? { aborted: reason } : {}),
  };
}
