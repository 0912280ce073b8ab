// Pubsub delivery benchmark (npm run bench:pubsub): 1 KiB signed envelopes through 10 in-process nodes and
// through 5 `chorus node` processes; prints latency percentiles, delivery ratio and throughput next to the
// targets of #17 (p99 ≤ 20 ms, ≥ 0.5× the delivery floor measured at the start of the run, 100 % delivery).
// Prints figures; asserts nothing. Progress goes to stderr; --json prints the report object on stdout instead of
// the tables.
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  floorCeiling,
  killBenchChildren,
  runPubSubBench,
  type PhaseReport,
  type PubSubBenchReport,
} from '../src/bench/pubsub/run.ts';
import { createLogger } from '../src/core/log.ts';
import { scriptArgs } from './script-args.ts';

const USAGE = `usage: node scripts/bench-pubsub.ts [options]
  --json                 print the report as JSON on stdout
  --only <scenario>      in-process | processes (default: both)
  --publisher <who>      processes: api | peer | both (default both)
  --nodes <n>            in-process nodes (default 10)
  --processes <n>        node processes (default 5)
  --messages <n>         messages per throughput phase (default 20000)
  --max-publish <s>      a throughput phase stops publishing after this many seconds (default 15)
  --rate <n,n…>          messages/s of the latency phases, one phase per rate (default 20,500)
  --duration <s>         seconds per latency phase (default 8)
  --window <n>           in-flight window, messages not yet fully delivered (default 100)
  --deadline <s>         overall deadline (default 170)
  --child-cpu-prof <dir> write a V8 CPU profile of every child process into <dir> (NODE_OPTIONS=--cpu-prof)
  --source               run the processes from source (node src/cli/bin.ts), not dist/chorus-linux-x64
  --quiet                no progress on stderr`;

const { values: flags } = scriptArgs(
  'bench:pubsub',
  {
    options: {
      json: { type: 'boolean' },
      only: { type: 'string' },
      publisher: { type: 'string' },
      nodes: { type: 'string' },
      processes: { type: 'string' },
      messages: { type: 'string' },
      'max-publish': { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      window: { type: 'string' },
      deadline: { type: 'string' },
      source: { type: 'boolean' },
      'child-cpu-prof': { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  },
  USAGE,
);

if (flags.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

function num(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`bench:pubsub: --${name} must be a positive number\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
}

const only = flags.only;
if (only !== undefined && only !== 'in-process' && only !== 'processes') {
  process.stderr.write(`bench:pubsub: --only must be in-process or processes\n`);
  process.exit(2);
}
const publisher = flags.publisher ?? 'both';
if (publisher !== 'api' && publisher !== 'peer' && publisher !== 'both') {
  process.stderr.write(`bench:pubsub: --publisher must be api, peer or both\n`);
  process.exit(2);
}

const root = fileURLToPath(new URL('../', import.meta.url));
const binary = `${root}dist/chorus-linux-x64`;
function executable(): { command: string; args: string[] } {
  if (!flags.source) {
    try {
      accessSync(binary, constants.X_OK);
      return { command: binary, args: [] };
    } catch {
      process.stderr.write('bench:pubsub: dist/chorus-linux-x64 is missing; running node src/cli/bin.ts instead\n');
    }
  }
  return { command: process.execPath, args: [`${root}src/cli/bin.ts`] };
}

const deadlineMs = num('deadline', flags.deadline, 170) * 1000;
const controller = new AbortController();
const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(deadlineMs)]);
process.once('SIGINT', () => controller.abort(new Error('interrupted')));
process.once('SIGTERM', () => controller.abort(new Error('terminated')));
// last resort if stopping hangs after the deadline: kill what we started and leave
setTimeout(() => {
  const killed = killBenchChildren();
  process.stderr.write(`bench:pubsub: still running ${deadlineMs / 1000 + 30} s in; killed ${killed} processes\n`);
  process.exit(1);
}, deadlineMs + 30_000).unref();
process.on('exit', () => killBenchChildren());

const logger = createLogger({
  level: flags.quiet ? 'warn' : 'info',
  format: 'text',
  sink: (line) => process.stderr.write(`${line}\n`),
});

const report = await runPubSubBench({
  signal,
  logger,
  latencyRates: (flags.rate ?? '20,500').split(',').map((r) => num('rate', r, 500)),
  latencyDurationMs: num('duration', flags.duration, 8) * 1000,
  throughputMessages: Math.round(num('messages', flags.messages, 20_000)),
  throughputMaxMs: num('max-publish', flags['max-publish'], 15) * 1000,
  window: Math.round(num('window', flags.window, 100)),
  inProcess: only === 'processes' ? false : { nodes: Math.round(num('nodes', flags.nodes, 10)) },
  processes:
    only === 'in-process'
      ? false
      : {
          ...executable(),
          nodes: Math.round(num('processes', flags.processes, 5)),
          publisher,
          ...(flags['child-cpu-prof']
            ? { env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${flags['child-cpu-prof']}` } }
            : {}),
        },
});

if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
else process.stdout.write(render(report));
process.exit(report.scenarios.some((s) => s.error) || report.aborted ? 1 : 0);

// ---------------------------------------------------------------------------------------------------------------
// rendering

function ms(v: number | null | undefined): string {
  if (v === null || v === undefined) return 'n/a';
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
}

function int(v: number): string {
  return Math.round(v).toLocaleString('en-US');
}

function pct(v: number): string {
  return v === 1 ? '100 %' : `${(Math.floor(v * 10000) / 100).toFixed(2)} %`;
}

function table(rows: string[][], right: Set<number>): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r, i) => {
    const line = r.map((cell, c) => (right.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ');
    return i === 0 ? `${line}\n  ${widths.map((w) => '─'.repeat(w)).join('  ')}` : line;
  });
}

function verdict(p: PhaseReport, r: PubSubBenchReport): string {
  const marks: string[] = [];
  const ok = (b: boolean): string => (b ? '✓' : '✗');
  if (p.mode === 'fixed-rate') marks.push(`p99 ${ok((p.latencyMs.p99 ?? Infinity) <= r.targets.p99Ms)}`);
  else if (r.floor) marks.push(`rate ${ok(p.completeRate >= r.targets.floorShare * floorCeiling(r.floor, p.fanout))}`);
  marks.push(`delivery ${ok(p.deliveryRatio >= r.targets.deliveryRatio && p.duplicates === 0 && p.messages > 0)}`);
  return marks.join(' ');
}

function render(r: PubSubBenchReport): string {
  const m = r.machine;
  const p = r.params;
  const out: string[] = [
    'chorus pubsub delivery benchmark',
    `  machine   ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform} ${m.release} ${m.arch}; node ${m.node}; load average ${m.loadAverage.start} at start, ${m.loadAverage.end} at end`,
    `  messages  ${p.messageType} envelopes on ${p.topic}: data with a ${p.payloadBytes}-byte string + sent_at_ns/sent_at_ms/id; ${p.envelopeBytes} bytes encoded, signed (StrictSign)`,
    `  phases    warm-up ≤ ${p.warmupMessages} msgs or 3 s; latency: fixed ${p.latencyRates.join(' and ')} msg/s, each for ${p.latencyDurationMs / 1000} s; throughput: ${int(p.throughputMessages)} msgs as fast as accepted (window ${p.window} in flight, ≤ ${p.throughputMaxMs / 1000} s publishing), then ≤ ${p.drainMs / 1000} s to drain`,
    `  targets   p99 ≤ ${r.targets.p99Ms} ms (latency phases), ≥ ${r.targets.floorShare}× the delivery floor (throughput phases), ${pct(r.targets.deliveryRatio)} delivery, 0 duplicates`,
    '  columns   sent/s = accepted by the publisher; msg/s = messages that reached every subscriber, per second (compared with the target); deliv/s = unique deliveries per second; cpu/msg = CPU ms of all nodes (and subscriber processes) per message delivered to all; latency = receive − send',
    `  run       ${r.startedAt}, ${(r.durationMs / 1000).toFixed(1)} s${r.aborted ? ` — ABORTED: ${r.aborted}` : ''}`,
    '',
  ];
  for (const s of r.scenarios) {
    out.push(`${s.title}`);
    out.push(`  publisher: ${s.publisherKind}`);
    if (s.executable) out.push(`  executable: ${s.executable}${s.runtime ? ` (${s.runtime})` : ''}`);
    if (s.pids) out.push(`  pids: nodes ${s.pids.nodes.join(' ')}; subscribers ${s.pids.subscribers.join(' ')}`);
    out.push(
      `  setup ${(s.setupMs / 1000).toFixed(1)} s` +
        (s.warmup ? `; warm-up ${s.warmup.messages} msgs, ${s.warmup.deliveries}/${s.warmup.expected} delivered` : ''),
    );
    for (const n of s.notes) out.push(`  · ${n}`);
    const rows = [
      [
        'phase',
        'publisher',
        'msgs',
        'sent/s',
        'msg/s',
        'deliv/s',
        'cpu/msg',
        'delivered',
        'dup',
        'p50 ms',
        'p90 ms',
        'p99 ms',
        'max ms',
        'vs target',
      ],
    ];
    for (const ph of s.phases) {
      rows.push([
        ph.mode === 'fixed-rate' ? `${ph.name} @${ph.targetRate}/s` : ph.name,
        ph.publisher,
        int(ph.messages),
        int(ph.publishRate),
        int(ph.completeRate),
        int(ph.deliveryRate),
        ph.cpuMsPerMessage === undefined ? 'n/a' : `${ms(ph.cpuMsPerMessage)} ms`,
        `${pct(ph.deliveryRatio)} (${int(ph.deliveries)}/${int(ph.expectedDeliveries)})`,
        String(ph.duplicates),
        ms(ph.latencyMs.p50),
        ms(ph.latencyMs.p90),
        ms(ph.latencyMs.p99),
        ms(ph.latencyMs.max),
        verdict(ph, r),
      ]);
    }
    if (s.phases.length) out.push('', ...table(rows, new Set([2, 3, 4, 5, 6, 8, 9, 10, 11, 12])).map((l) => `  ${l}`));
    const best = s.phases.filter((ph) => ph.mode !== 'fixed-rate').sort((a, b) => b.completeRate - a.completeRate)[0];
    if (r.floor && best) {
      const ceiling = floorCeiling(r.floor, best.fanout);
      out.push(
        `  vs the delivery floor: max ${int(best.completeRate)} msg/s against at most ${int(ceiling)} msg/s for ${best.fanout} deliveries per message on ${r.floor.cores} cores (${r.floor.perDeliveryUs.toFixed(1)} µs a delivery, measured at the start of this run) = ${(best.completeRate / ceiling).toFixed(2)}×`,
      );
    }
    for (const ph of s.phases) {
      const extra: string[] = [];
      if (ph.nodeLatencyMs) {
        const n = ph.nodeLatencyMs;
        extra.push(
          `at the receiving node (before the subscribe stream): p50 ${ms(n.p50)} p99 ${ms(n.p99)} max ${ms(n.max)} ms`,
        );
      }
      if (ph.publishErrors) extra.push(`${ph.publishErrors} publish errors (first: ${ph.firstError})`);
      if (ph.stoppedEarly) extra.push(`stopped early: ${ph.stoppedEarly}`);
      if (!ph.drained) extra.push('not all deliveries arrived before the drain deadline');
      if (ph.unexpected) extra.push(`${ph.unexpected} unexpected receipts`);
      if (ph.connectionDrops)
        extra.push(`${ph.connectionDrops} node-to-node connections closed by libp2p during the phase`);
      if (extra.length) out.push(`  ${ph.name} (${ph.publisher}): ${extra.join('; ')}`);
    }
    if (s.error) out.push(`  ERROR: ${s.error}`);
    out.push('');
  }
  return `${out.join('\n')}\n`;
}
