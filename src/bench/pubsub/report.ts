// The pubsub benchmark's vocabulary: the topic and message type it sends, the targets, the options of
// a run and of each scenario, and the report (phases, scenarios, the machine it ran on).
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os';
import type { Logger } from '../../core/log.ts';
import type { Summary } from '../stats.ts';
import type { DeliveryFloor } from './floor.ts';

/** The topic every benchmark message goes to (a custom topic: no other traffic, envelope validation on). */
export const BENCH_TOPIC = 'CHORUS/bench/pubsub/v1';
/** The envelope type of benchmark messages. */
export const BENCH_MESSAGE_TYPE = 'TaskProgress';

/** Issue #17: p99 at a fixed rate, throughput as a share of the delivery floor (see floor.ts), delivery. */
export const TARGETS = { p99Ms: 20, floorShare: 0.5, deliveryRatio: 1 } as const;

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
  /** Iterations of the delivery-floor measurement taken before the scenarios (default 5,000); false skips it. */
  floorIterations?: number | false;
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
  /** The CPU floor of a delivery, measured at the start of this run (see floor.ts); absent when skipped. */
  floor?: DeliveryFloor;
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

const round2 = (x: number): number => Math.round(x * 100) / 100;
