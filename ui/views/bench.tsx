// Benchmarks: a `chorus bench dht|pubsub|tasks … --out report.json` file, opened in the page (nothing is sent
// anywhere), as charts — the latency CDF of every measured operation (from the report's nearest-rank
// percentiles) and a histogram per operation (the GET histogram where the report has one, else the share of
// samples in each percentile band) — with the figures and the SLO verdict. The same view is what
// `chorus bench report … --html` writes as one self-contained file (the report embedded in that page).
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import {
  histogramBars,
  cdfPoints,
  formatMs as ms,
  parseBenchReport,
  type LatencySeries,
  type ParsedBenchReport as ParsedReport,
} from '../../src/bench/report-file.ts';
import { messageOf } from '../api.ts';
import { ErrorLine, Section, Tag } from '../components.tsx';

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4d7c0f', '#be185d'];

function Chart({
  opts,
  data,
  label,
}: {
  opts: Omit<uPlot.Options, 'width' | 'height'>;
  data: uPlot.AlignedData;
  label: string;
}) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current) return;
    const width = Math.max(320, Math.min(900, el.current.clientWidth || 640));
    const plot = new uPlot({ ...opts, width, height: 260 }, data, el.current);
    return () => plot.destroy();
  }, [opts, data]);
  return <div class="chart" ref={el} role="img" aria-label={label} />;
}

function CdfChart({ series }: { series: LatencySeries[] }) {
  const parts = series.map((s) => {
    const pts = cdfPoints(s.summary);
    return [pts.map((p) => p[0]), pts.map((p) => p[1])] as [number[], number[]];
  });
  const data = uPlot.join(parts) as uPlot.AlignedData;
  const opts: Omit<uPlot.Options, 'width' | 'height'> = {
    title: 'Latency CDF',
    scales: { x: { time: false, distr: 3 }, y: { range: [0, 1] } },
    axes: [{ label: 'latency (ms, log)' }, { label: 'fraction ≤ x' }],
    series: [
      { label: 'ms' },
      ...series.map((s, i) => ({
        label: s.name,
        stroke: COLORS[i % COLORS.length],
        width: 2,
        spanGaps: true,
        points: { show: true },
      })),
    ],
  };
  return <Chart opts={opts} data={data} label="latency CDF" />;
}

function Histogram({ s, color }: { s: LatencySeries; color: string }) {
  const b = histogramBars(s);
  const data: uPlot.AlignedData = [b.values.map((_, i) => i), b.values];
  const opts: Omit<uPlot.Options, 'width' | 'height'> = {
    title: `${s.name}: ${s.histogram ? 'histogram' : 'samples per percentile band'}`,
    scales: { x: { time: false, range: [-0.5, b.values.length - 0.5] } },
    axes: [
      { values: (_u, splits) => splits.map((i) => (Number.isInteger(i) ? (b.labels[i] ?? '') : '')), size: 50 },
      { label: b.unit },
    ],
    series: [
      { label: 'bucket' },
      {
        label: b.unit,
        fill: `${color}88`,
        stroke: color,
        paths: uPlot.paths.bars?.({ size: [0.7, 80] }),
        points: { show: false },
      },
    ],
    legend: { show: false },
  };
  return <Chart opts={opts} data={data} label={`${s.name} histogram`} />;
}

export function BenchReport({ report }: { report: ParsedReport }) {
  return (
    <div class="bench-report" data-report={report.kind}>
      <h2>{report.title}</h2>
      <p>
        {report.slo ? (
          report.slo.breached.length ? (
            <Tag kind="bad">SLO breached: {report.slo.breached.join('; ')}</Tag>
          ) : (
            <Tag kind="ok">SLO met</Tag>
          )
        ) : null}{' '}
        {report.facts.map(([k, v]) => (
          <span key={k} class="fact">
            {k}: {v}
          </span>
        ))}
      </p>
      <table>
        <thead>
          <tr>
            <th>operation</th>
            <th>samples</th>
            <th>min</th>
            <th>p50</th>
            <th>p90</th>
            <th>p95</th>
            <th>p99</th>
            <th>max</th>
          </tr>
        </thead>
        <tbody>
          {report.series.map((s) => (
            <tr key={s.name}>
              <td>{s.name}</td>
              <td>{s.summary.count}</td>
              <td>{ms(s.summary.min)}</td>
              <td>{ms(s.summary.p50)}</td>
              <td>{ms(s.summary.p90)}</td>
              <td>{ms(s.summary.p95)}</td>
              <td>{ms(s.summary.p99)}</td>
              <td>{ms(s.summary.max)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <CdfChart series={report.series.filter((s) => s.summary.count > 0)} />
      <div class="histograms">
        {report.series
          .filter((s) => s.summary.count > 0)
          .map((s, i) => (
            <Histogram key={s.name} s={s} color={COLORS[i % COLORS.length] as string} />
          ))}
      </div>
    </div>
  );
}

export function BenchView() {
  const [report, setReport] = useState<ParsedReport | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const open = (e: Event): void => {
    const file = (e.currentTarget as HTMLInputElement).files?.[0];
    if (!file) return;
    file
      .text()
      .then((text) => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          throw new Error(`${file.name} is not JSON`);
        }
        setReport(parseBenchReport(json));
        setError(undefined);
      })
      .catch((err: unknown) => {
        setReport(undefined);
        setError(`${file.name}: ${messageOf(err)}`);
      });
  };
  return (
    <div data-ready="bench">
      <Section title="Open a benchmark report">
        <p>
          A file written by <code>chorus bench dht|pubsub|tasks … --out report.json</code>; it is read in this page and
          sent nowhere. <code>chorus bench report report.json --html report.html</code> writes the same view as one
          file.
        </p>
        <input type="file" name="report" accept=".json,application/json" onChange={open} />
        <ErrorLine error={error} />
      </Section>
      {report ? <BenchReport report={report} /> : null}
    </div>
  );
}

/** The id of the element that carries a report in a page written by `chorus bench report --html`. */
export const REPORT_ELEMENT = 'chorus-bench-report';

/** The report embedded in this page, if it is such a page. */
export function embeddedReport(): unknown {
  const el = document.getElementById(REPORT_ELEMENT);
  return el ? (JSON.parse(el.textContent ?? 'null') as unknown) : undefined;
}

export function BenchReportPage({ report }: { report: unknown }) {
  let parsed: ParsedReport | undefined;
  let error: string | undefined;
  try {
    parsed = parseBenchReport(report);
  } catch (err) {
    error = messageOf(err);
  }
  return (
    <main class="report-page">
      <ErrorLine error={error} />
      {parsed ? <BenchReport report={parsed} /> : null}
      <p class="muted">Written by chorus bench report.</p>
    </main>
  );
}
