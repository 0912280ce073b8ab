// DHT benchmark (npm run bench:dht): PUT/GET latency, success and replication on N in-process nodes.
//   node scripts/bench-dht.ts [--nodes 20] [--keys 200] [--ops 2000] [--replication 3] [--concurrency 8] [--json]
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { runDhtBench } from '../src/core/bench/dht.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '20' },
    keys: { type: 'string', default: '200' },
    ops: { type: 'string', default: '2000' },
    'value-size': { type: 'string', default: '1024' },
    replication: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '100' },
    json: { type: 'boolean', default: false },
  },
});
const n = (k: keyof typeof values) => Number(values[k]);
const report = await runDhtBench({
  nodes: n('nodes'),
  keys: n('keys'),
  ops: n('ops'),
  valueSize: n('value-size'),
  replication: n('replication'),
  concurrency: n('concurrency'),
  warmup: n('warmup'),
  progress: (phase, done, total) => {
    if (process.stderr.isTTY) process.stderr.write(`\r${phase} ${done}/${total}   `);
  },
});
if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
if (values.json) {
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} else {
  const f = (x: number | null) => (x === null ? '—' : x.toFixed(1));
  const p = report.params;
  process.stdout.write(
    [
      `chorus DHT benchmark — ${p.nodes} nodes in one process, ${p.keys} keys × ${p.valueSize} B (encrypted), replication ${p.replication}, ${p.ops} GETs, concurrency ${p.concurrency}`,
      `machine: ${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}, node ${process.version}`,
      `            n      ok   fail   p50    p90    p95    p99    max (ms)   ops/s`,
      `PUT   ${String(report.put.count).padStart(6)} ${String(report.put.ok).padStart(6)} ${String(report.put.failed).padStart(6)} ${f(report.put.p50).padStart(6)} ${f(report.put.p90).padStart(6)} ${f(report.put.p95).padStart(6)} ${f(report.put.p99).padStart(6)} ${f(report.put.max).padStart(6)}   ${report.put.throughputPerSec.toFixed(0)}`,
      `GET   ${String(report.get.count).padStart(6)} ${String(report.get.ok).padStart(6)} ${String(report.get.failed).padStart(6)} ${f(report.get.p50).padStart(6)} ${f(report.get.p90).padStart(6)} ${f(report.get.p95).padStart(6)} ${f(report.get.p99).padStart(6)} ${f(report.get.max).padStart(6)}   ${report.get.throughputPerSec.toFixed(0)}`,
      `GET success ${(report.get.successRate * 100).toFixed(2)} %   holders per key min ${report.replication.min} median ${report.replication.median} max ${report.replication.max}`,
      `errors: ${Object.keys(report.errors).length ? JSON.stringify(report.errors) : 'none'}`,
      `startup ${(report.startupMs / 1000).toFixed(1)} s, RSS ≈ ${report.rssPerNodeMb.toFixed(1)} MB per node`,
      `targets: GET success ≥ 99.9 %, GET p95 ≤ 20 ms, PUT p95 ≤ 100 ms, ≥ 3 holders per key`,
      '',
    ].join('\n'),
  );
}
process.exit(0);
