// Reading a benchmark report file (`chorus bench dht|pubsub|tasks … --out report.json`, i.e. `{report, slo}`):
// its measured latencies as named series, with the points of a CDF (from each summary's nearest-rank
// percentiles) and histogram bars (the report's own histogram where it has one, else the share of samples in
// each percentile band). Pure, no Node APIs: the CLI (`chorus bench report`) and the portal's benchmark view
// (bundled for the browser) share it.
import { UsageError } from '../core/errors.ts';
import type { Summary } from './stats.ts';

/** A measured latency: its summary and, when the report has one, its histogram. */
export interface LatencySeries {
  name: string;
  summary: Summary;
  histogram?: { leMs: number; count: number }[];
}

export interface ParsedBenchReport {
  kind: 'dht' | 'pubsub' | 'tasks';
  title: string;
  series: LatencySeries[];
  facts: [string, string][];
  slo?: { breached: string[] };
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isSummary = (v: unknown): v is Summary => isObject(v) && typeof v.count === 'number' && 'p50' in v;
export const formatMs = (x: number | null | undefined): string =>
  x === null || x === undefined ? '—' : `${x.toFixed(1)} ms`;

function successRate(get: Summary): string {
  const rate = (get as Summary & { successRate?: unknown }).successRate;
  return typeof rate === 'number' ? `${(rate * 100).toFixed(2)} %` : '—';
}

/** Reads a report file's JSON (`{report, slo}` as `--out` writes it); throws a one-line reason otherwise. */
export function parseBenchReport(json: unknown): ParsedBenchReport {
  const root = isObject(json) && isObject(json.report) ? json : { report: json };
  const r = root.report;
  if (!isObject(r)) throw new UsageError('not a chorus bench report: no report object');
  const slo =
    isObject(root.slo) && Array.isArray(root.slo.breached) ? { breached: root.slo.breached.map(String) } : undefined;
  if (r.benchmark === 'pubsub' && Array.isArray(r.scenarios)) {
    const series: LatencySeries[] = [];
    for (const s of r.scenarios as Json[]) {
      for (const p of (s.phases as Json[] | undefined) ?? []) {
        if (!isSummary(p.latencyMs)) continue;
        const rate = typeof p.targetRate === 'number' ? ` @${p.targetRate}/s` : '';
        series.push({ name: `${String(s.name)} ${String(p.name)}${rate}`, summary: p.latencyMs });
      }
    }
    const params = isObject(r.params) ? r.params : {};
    return {
      kind: 'pubsub',
      title: `chorus bench pubsub — ${String(params.payloadBytes ?? '?')}-byte payloads`,
      series,
      facts: [
        ['started', String(r.startedAt ?? '—')],
        ['machine', isObject(r.machine) ? `${String(r.machine.cpuModel)} × ${String(r.machine.cores)}` : '—'],
      ],
      slo,
    };
  }
  if (isSummary(r.claimLatencyMs) && isObject(r.throughput)) {
    const t = r.throughput;
    const setup = isObject(r.setup) ? r.setup : {};
    return {
      kind: 'tasks',
      title: `chorus bench tasks — ${String(setup.procs ?? '?')} node processes`,
      series: [
        { name: 'create', summary: r.createLatencyMs as Summary },
        { name: 'claim', summary: r.claimLatencyMs },
        ...(isSummary(t.transitionLatencyMs) ? [{ name: 'transition', summary: t.transitionLatencyMs }] : []),
      ].filter((s) => isSummary(s.summary)),
      facts: [
        ['transitions/s', typeof t.perSecond === 'number' ? t.perSecond.toFixed(1) : '—'],
        ['claim failures', String(r.claimFailures ?? 0)],
      ],
      slo,
    };
  }
  if (isSummary(r.get) && isSummary(r.put)) {
    const params = isObject(r.params) ? r.params : {};
    const histogram = Array.isArray(r.getHistogram)
      ? (r.getHistogram as { leMs: number | null; count: number }[])
      : undefined;
    return {
      kind: 'dht',
      title: `chorus bench dht — ${String(r.mode ?? '')}, ${String(params.nodes ?? '?')} nodes`,
      series: [
        { name: 'PUT', summary: r.put },
        // JSON has no Infinity: the last bucket's bound reads back as null
        {
          name: 'GET',
          summary: r.get,
          histogram: histogram?.map((b) => ({ leMs: b.leMs ?? Infinity, count: b.count })),
        },
      ],
      facts: [
        ['keys × size', `${String(params.keys ?? '?')} × ${String(params.valueSize ?? '?')} B`],
        ['GET success', successRate(r.get)],
      ],
      slo,
    };
  }
  throw new UsageError('not a chorus bench report (dht, pubsub or tasks, as --out writes it)');
}

/** CDF points of a summary: (latency, fraction of samples at or below it), from its nearest-rank percentiles. */
export function cdfPoints(s: Summary): [number, number][] {
  const pts: [number, number | null][] = [
    [s.count ? 1 / s.count : 0, s.min],
    [0.5, s.p50],
    [0.9, s.p90],
    [0.95, s.p95],
    [0.99, s.p99],
    [1, s.max],
  ];
  return pts.filter((p): p is [number, number] => p[1] !== null).map(([f, x]) => [x, f]);
}

/** Bars of a series: its histogram, else the share of samples in each percentile band. */
export function histogramBars(s: LatencySeries): { labels: string[]; values: number[]; unit: string } {
  if (s.histogram?.length) {
    return {
      labels: s.histogram.map((b) => (Number.isFinite(b.leMs) ? `≤ ${b.leMs} ms` : '> all')),
      values: s.histogram.map((b) => b.count),
      unit: 'samples',
    };
  }
  const q = s.summary;
  const bands: [string, number | null, number][] = [
    ['p50', q.p50, 50],
    ['p90', q.p90, 40],
    ['p95', q.p95, 5],
    ['p99', q.p99, 4],
    ['max', q.max, 1],
  ];
  const known = bands.filter((b) => b[1] !== null);
  return {
    // two lines under each bar: the band's upper percentile, then its latency
    labels: known.map(([name, upTo]) => `≤ ${name}\n${formatMs(upTo)}`),
    values: known.map(([, , share]) => share),
    unit: '% of samples',
  };
}
