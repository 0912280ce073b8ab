// The pubsub delivery benchmark: ~1 KiB signed envelope messages on a dedicated topic, measured in two set-ups —
// N ChorusNode instances fully meshed in this process, and M `chorus node` processes on 127.0.0.1 whose
// subscribers are `chorus subscribe --json` streams. Each phase reports latency percentiles (receive − send),
// delivery ratio, duplicates and throughput. Returns a typed report; never prints, never exits. Every node and
// child process is stopped before the runners return, also on error or when the signal aborts.
import { loadavg } from 'node:os';
import { describeError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { buildEnvelope, encodeEnvelope } from '../../core/pubsub/messages.ts';
import { measureDeliveryFloor } from './floor.ts';
import { runInProcessScenario } from './in-process.ts';
import { Harness, type ScenarioContext } from './phases.ts';
import { runProcessesScenario } from './processes.ts';
import {
  BENCH_MESSAGE_TYPE,
  BENCH_TOPIC,
  machineInfo,
  TARGETS,
  type PubSubBenchOptions,
  type PubSubBenchReport,
  type ScenarioReport,
} from './report.ts';

export { killBenchChildren } from '../children.ts';
export * from './report.ts';
export { DeliveryTracker } from './tracker.ts';
export { floorCeiling, type DeliveryFloor } from './floor.ts';

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
  // before any node starts: the floor is the machine's, not the benchmark's
  const floor = options.floorIterations === false ? undefined : measureDeliveryFloor(options.floorIterations ?? 5000);
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
    ...(floor ? { floor } : {}),
    scenarios,
    ...(reason ? { aborted: reason } : {}),
  };
}
