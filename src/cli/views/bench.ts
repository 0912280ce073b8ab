// Text rendering of `chorus bench dht|pubsub|tasks|report`: parameters, latency tables (a GET histogram) and the SLO verdict.
import type { BenchDhtResult } from '../../commands/bench/dht.ts';
import type { BenchTasksResult } from '../../commands/bench/tasks.ts';
import type { BenchPubSubResult } from '../../commands/bench/pubsub.ts';
import type { BenchReportResult } from '../../commands/bench/report.ts';
import { renderTable } from '../table.ts';
import type { TerminalFacts } from '../terminal.ts';

const ms = (x: number | null) => (x === null ? '—' : x.toFixed(1));
const cpu = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(2));

export function renderBenchDht({ report: r, slo }: BenchDhtResult, term: TerminalFacts): string {
  const p = r.params;
  const table = renderTable(
    ['op', 'samples', 'ok', 'failed', 'p50 ms', 'p90 ms', 'p95 ms', 'p99 ms', 'max ms', 'ops/s', 'CPU ms/op'],
    [
      [
        'PUT',
        r.put.count,
        r.put.ok,
        r.put.failed,
        ms(r.put.p50),
        ms(r.put.p90),
        ms(r.put.p95),
        ms(r.put.p99),
        ms(r.put.max),
        r.put.throughputPerSec.toFixed(0),
        cpu(r.put.cpuMsPerOp),
      ],
      [
        'GET',
        r.get.count,
        r.get.ok,
        r.get.failed,
        ms(r.get.p50),
        ms(r.get.p90),
        ms(r.get.p95),
        ms(r.get.p99),
        ms(r.get.max),
        r.get.throughputPerSec.toFixed(0),
        cpu(r.get.cpuMsPerOp),
      ],
    ],
    term.color,
  );
  const peak = Math.max(1, ...r.getHistogram.map((b) => b.count));
  const histogram = r.getHistogram.map(
    (b) =>
      `  ≤ ${(Number.isFinite(b.leMs) ? `${b.leMs} ms` : '∞').padStart(8)} ${'█'.repeat(Math.ceil((40 * b.count) / peak)).padEnd(40)} ${b.count}`,
  );
  return [
    `chorus bench dht — ${r.live ? `live cluster via ${r.live.join.length} peer(s) (${r.live.clusterPeers} licensed peers met; a writer and a reader node joined)` : `${p.nodes} ${r.mode === 'processes' ? 'node processes (through their control APIs)' : 'nodes in one process'}`}, ${p.keys} keys × ${p.valueSize} B (encrypted)${p.putWarmup ? ` after ${p.putWarmup} warm-up PUTs` : ''}, replication ${p.replication}, ${p.ops} GETs after ${p.warmup} warm-up, concurrency ${p.concurrency}`,
    table,
    'GET latency:',
    ...histogram,
    `GET success ${(r.get.successRate * 100).toFixed(2)} %   holders per key min ${r.replication.min} / median ${r.replication.median}   errors ${Object.keys(r.errors).length ? JSON.stringify(r.errors) : 'none'}`,
    `start-up ${(r.startupMs / 1000).toFixed(1)} s, RSS ≈ ${r.rssPerNodeMb.toFixed(1)} MB per node   (CPU ms/op: all nodes' CPU time over the phase, background work included)`,
    ...(r.live
      ? [
          `cleanup: ${r.live.cleanup.tombstoned} key(s) tombstoned${r.live.cleanup.failed ? `, ${r.live.cleanup.failed} FAILED` : ''}`,
        ]
      : []),
    `SLO: GET p95 ≤ ${slo.p95Ms} ms, success ≥ ${slo.successPercent} % — ${slo.breached.length ? 'BREACHED' : 'met'}`,
  ].join('\n');
}

export function renderBenchPubSub({ report: r, slo }: BenchPubSubResult, term: TerminalFacts): string {
  const rows = r.scenarios.flatMap((s) =>
    s.phases.map((p) => [
      s.name,
      p.targetRate ? `${p.name} @${p.targetRate}/s` : p.name,
      p.publisher,
      p.messages,
      p.completeRate.toFixed(0),
      `${(p.deliveryRatio * 100).toFixed(2)} %`,
      p.duplicates,
      ms(p.latencyMs.p50),
      ms(p.latencyMs.p99),
      ms(p.latencyMs.max),
    ]),
  );
  const errors = r.scenarios.filter((s) => s.error).map((s) => `${s.name}: ${s.error}`);
  return [
    `chorus bench pubsub — ${r.params.payloadBytes}-byte payloads (${r.params.envelopeBytes}-byte signed envelopes) on ${r.params.topic}; ${r.machine.cpuModel} × ${r.machine.cores}`,
    renderTable(
      ['scenario', 'phase', 'publisher', 'msgs', 'msg/s', 'delivered', 'dup', 'p50 ms', 'p99 ms', 'max ms'],
      rows,
      term.color,
    ),
    ...errors,
    `SLO: latency p99 ≤ ${slo.p99Ms} ms, delivery ≥ ${slo.deliveryPercent} % — ${slo.breached.length ? 'BREACHED' : 'met'}`,
  ].join('\n');
}

export function renderBenchTasks({ report: r, slo }: BenchTasksResult, term: TerminalFacts): string {
  const ms = (x: number | null): string => (x === null ? '—' : `${x.toFixed(1)} ms`);
  const s = r.setup;
  const head = `tasks: ${s.procs} node processes (one voter set), ready in ${(s.startupMs / 1000).toFixed(1)} s`;
  const table = renderTable(
    ['phase', 'ops', 'p50', 'p95', 'p99', 'rate', 'failures'],
    [
      [
        'create, one at a time',
        r.createLatencyMs.count,
        ms(r.createLatencyMs.p50),
        ms(r.createLatencyMs.p95),
        ms(r.createLatencyMs.p99),
        '—',
        0,
      ],
      [
        'claim, one at a time',
        r.claimLatencyMs.count,
        ms(r.claimLatencyMs.p50),
        ms(r.claimLatencyMs.p95),
        ms(r.claimLatencyMs.p99),
        '—',
        r.claimFailures,
      ],
      [
        `transitions, ${s.concurrency} workers`,
        r.throughput.transitions,
        ms(r.throughput.transitionLatencyMs.p50),
        ms(r.throughput.transitionLatencyMs.p95),
        ms(r.throughput.transitionLatencyMs.p99),
        `${r.throughput.perSecond.toFixed(0)}/s`,
        r.throughput.failures,
      ],
    ],
    term.color,
  );
  const cpu = `CPU of all node processes: ${r.cpuMsPerClaim.toFixed(1)} ms per create + claim, ${r.throughput.cpuMsPerTransition.toFixed(1)} ms per transition`;
  const verdict = slo.breached.length
    ? `SLO breached: ${slo.breached.join('; ')}`
    : `SLO met: claim p95 ≤ ${slo.claimP95Ms} ms, ≥ ${slo.transitionsPerSecond} transitions/s`;
  return `${head}\n${table}\n${cpu}\n${verdict}`;
}

export function renderBenchReport({ report: r, html }: BenchReportResult, term: TerminalFacts): string {
  const table = renderTable(
    ['operation', 'samples', 'p50 ms', 'p90 ms', 'p95 ms', 'p99 ms', 'max ms'],
    r.series.map((s) => [
      s.name,
      s.summary.count,
      ms(s.summary.p50),
      ms(s.summary.p90),
      ms(s.summary.p95),
      ms(s.summary.p99),
      ms(s.summary.max),
    ]),
    term.color,
  );
  const slo = r.slo ? (r.slo.breached.length ? `SLO breached: ${r.slo.breached.join('; ')}` : 'SLO met') : undefined;
  return [
    r.title,
    table,
    ...(slo ? [slo] : []),
    ...(html ? [`wrote ${html.file} (${(html.bytes / 1024).toFixed(0)} KiB, one self-contained page)`] : []),
  ].join('\n');
}
