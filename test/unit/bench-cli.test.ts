// `chorus bench dht` from source on a tiny cluster: the JSON report's shape, and the SLO gate's exit code.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkSlo, histogram, runDhtBenchLive, type DhtBenchReport } from '../../src/bench/dht/in-process.ts';
import { over, under } from '../../src/bench/slo-figures.ts';
import { sloBreaches } from '../../src/commands/bench/tasks.ts';
import { validateConfig } from '../../src/core/config/load.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { parseAddress } from '../../src/core/ucxl/address.ts';
import { startCluster, stopAll, testConfig } from '../helpers/cluster.ts';
import type { BenchTasksResult } from '../../src/commands/bench/tasks.ts';
import { runCli } from '../helpers/run.ts';

const tiny = ['bench', 'dht', '--nodes', '3', '--keys', '4', '--ops', '20', '--warmup', '2'];

test('bench dht --json reports PUT/GET summaries, success, replication and a histogram', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'chorus-bench-')), 'report.json');
  const r = await runCli([...tiny, '--put-warmup', '3', '--json', '--out', out], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const { report, slo } = JSON.parse(r.stdout) as { report: DhtBenchReport; slo: { breached: string[] } };
  assert.equal(report.params.nodes, 3);
  assert.equal(report.params.putWarmup, 3);
  assert.equal(report.put.ok, 4, 'the warm-up writes are not measured');
  assert.equal(report.put.count, 4);
  assert.deepEqual(report.errors, {}, 'the warm-up writes succeeded too');
  assert.equal(report.get.count, 20);
  assert.equal(report.get.successRate, 1);
  for (const k of ['p50', 'p90', 'p95', 'p99', 'max'] as const) assert.equal(typeof report.get[k], 'number');
  assert.ok((report.get.p50 ?? 0) <= (report.get.p95 ?? 0) && (report.get.p95 ?? 0) <= (report.get.max ?? 0));
  assert.ok(report.replication.min >= 3);
  assert.equal(
    report.getHistogram.reduce((n, b) => n + b.count, 0),
    20,
  );
  assert.deepEqual(slo.breached, []);
  assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')).report.params, report.params);
});

test('a breached SLO prints the report, then one line naming it, and exits 3', async () => {
  const r = await runCli([...tiny, '--slo-p95', '0.001ms'], { timeoutMs: 120_000 });
  assert.equal(r.code, 3);
  assert.match(r.stdout, /SLO: GET p95 ≤ 0\.001 ms, success ≥ 99 % — BREACHED/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /^chorus: SLO breached: GET p95 [\d.]+ ms > 0\.001 ms$/m);
});

test('SLO checks (a figure past its gate never reads as the gate) and histogram buckets on known samples', () => {
  const report = { get: { p95: 25, successRate: 0.995 } } as DhtBenchReport;
  assert.deepEqual(checkSlo(report, 20, 99.9).breached, ['GET p95 25.0 ms > 20 ms', 'GET success 99.50 % < 99.9 %']);
  assert.deepEqual(checkSlo(report, 30, 99).breached, []);
  // a figure just past its gate is never shown as the gate
  const edge = { get: { p95: 20.04, successRate: 0.99995 } } as DhtBenchReport;
  assert.deepEqual(checkSlo(edge, 20, 99.999).breached, ['GET p95 20.1 ms > 20 ms', 'GET success 99.99 % < 99.999 %']);
  assert.equal(over(0.5004, 0.5, 3), '0.501');
  assert.equal(under(4.9, 5, 0), '4');
  assert.equal(over(31.25, 20), '31.3');
  assert.deepEqual(histogram([0.4, 0.9, 3, 3, 7000]), [
    { leMs: 0.5, count: 1 },
    { leMs: 1, count: 1 },
    { leMs: 2, count: 0 },
    { leMs: 5, count: 2 },
    { leMs: 10, count: 0 },
    { leMs: Infinity, count: 1 },
  ]);
});

test('bench tasks SLO lines: a figure just past a gate never reads as the gate itself', () => {
  const summary = (p95: number | null) => ({
    count: 1,
    min: p95,
    mean: p95,
    p50: p95,
    p90: p95,
    p95,
    p99: p95,
    max: p95,
  });
  const report = (p95: number | null, perSecond: number, claimFailures = 0) =>
    ({ claimLatencyMs: summary(p95), throughput: { perSecond }, claimFailures }) as Parameters<typeof sloBreaches>[0];
  const gates = { sloClaimP95: 50, sloRate: 200 };
  assert.deepEqual(sloBreaches(report(31.2, 205), gates), []);
  assert.deepEqual(sloBreaches(report(31.2, 199.96), gates), ['199.9 transitions/s < 200']);
  assert.deepEqual(sloBreaches(report(31.2, 199.6), gates), ['199.6 transitions/s < 200']);
  assert.deepEqual(sloBreaches(report(50.04, 200, 2), gates), ['claim p95 50.1 ms > 50 ms', '2 claims failed']);
  assert.deepEqual(sloBreaches(report(null, 200), gates), ['claim p95: no claim completed']);
});

const tinyPubSub = [
  'bench',
  'pubsub',
  '--nodes',
  '3',
  '--rate',
  '20',
  '--duration',
  '1s',
  '--messages',
  '100',
  '--max-publish',
  '1s',
];

/** A latency SLO no machine misses, so the report's shape is tested, not this machine's speed. */
const LENIENT_P99 = ['--slo-p99', '60s'];

test('bench pubsub --json reports every phase with delivery and latency; a breached SLO exits 3', async () => {
  const r = await runCli([...tinyPubSub, ...LENIENT_P99, '--json'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const { report, slo } = JSON.parse(r.stdout) as {
    report: {
      scenarios: {
        name: string;
        phases: {
          name: string;
          publishers: number;
          deliveryRatio: number;
          duplicates: number;
          latencyMs: { p99: number };
        }[];
      }[];
    };
    slo: { breached: string[] };
  };
  const phases = report.scenarios[0]?.phases ?? [];
  assert.equal(report.scenarios[0]?.name, 'in-process');
  assert.deepEqual([...new Set(phases.map((p) => p.name))], ['latency', 'throughput']);
  assert.deepEqual([...new Set(phases.map((p) => p.publishers))].sort(), [1, 3], 'one publisher, then all 3');
  for (const p of phases) {
    assert.equal(p.deliveryRatio, 1);
    assert.equal(p.duplicates, 0);
    assert.equal(typeof p.latencyMs.p99, 'number');
  }
  assert.deepEqual(slo.breached, []);

  const breach = await runCli([...tinyPubSub, '--slo-p99', '0.001ms'], { timeoutMs: 120_000 });
  assert.equal(breach.code, 3);
  assert.match(breach.stdout, /SLO: latency p99 ≤ 0\.001 ms, delivery ≥ 100 % — BREACHED/);
  assert.match(breach.stderr, /^chorus: SLO breached: in-process latency @20\/s: p99 [\d.]+ ms > 0\.001 ms/m);
});

test('bench pubsub --publishers chooses how many nodes publish round-robin, within --nodes', async () => {
  const r = await runCli([...tinyPubSub, ...LENIENT_P99, '--publishers', '2', '--json'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const { report } = JSON.parse(r.stdout) as {
    report: { scenarios: { phases: { publishers: number; publisher: string; deliveryRatio: number }[] }[] };
  };
  const phases = report.scenarios[0]?.phases ?? [];
  assert.deepEqual([...new Set(phases.map((p) => p.publishers))].sort(), [1, 2]);
  assert.ok(phases.some((p) => p.publisher === '2 of 3 nodes round-robin'));
  for (const p of phases) assert.equal(p.deliveryRatio, 1);

  const tooMany = await runCli([...tinyPubSub, '--publishers', '4'], { timeoutMs: 30_000 });
  assert.equal(tooMany.code, 2);
  assert.equal(tooMany.stderr.trim(), 'chorus: --publishers 4 needs at least as many --nodes (got 3)');
});

test('bench dht --procs runs separate node processes of this program and drives them through their APIs', async () => {
  const r = await runCli(['bench', 'dht', '--procs', '3', '--keys', '3', '--ops', '12', '--warmup', '2', '--json'], {
    timeoutMs: 120_000,
  });
  assert.equal(r.code, 0, r.stderr);
  const { report } = JSON.parse(r.stdout) as { report: DhtBenchReport };
  assert.equal(report.mode, 'processes');
  assert.equal(report.params.nodes, 3);
  assert.equal(report.put.ok, 3);
  assert.equal(report.get.successRate, 1);
  assert.ok(report.replication.min >= 3);
  assert.ok(report.rssPerNodeMb > 0, 'the node processes were measured');
});

describe('bench dht --join (live mode) against a running cluster', () => {
  let cluster: ChorusNode[] = [];
  before(async () => {
    cluster = await startCluster(3);
  });
  after(() => stopAll(cluster));
  const base = { nodes: 2, keys: 4, ops: 12, valueSize: 256, replication: 3, concurrency: 1, warmup: 2 };

  test('writes, reads back from a second node, then tombstones every key it wrote (warm-up writes too)', async () => {
    const report = await runDhtBenchLive({
      ...base,
      putWarmup: 2,
      // every cluster node as a bootstrap peer, as an operator would give: the test is about writing, reading
      // and tombstoning, not about how fast peer discovery finds the rest of the cluster on a loaded machine
      join: cluster.map((n) => n.addresses()[0]!),
      license: testConfig().license,
      listen: '/ip4/127.0.0.1/tcp/0',
    });
    assert.equal(report.mode, 'live');
    assert.equal(report.put.ok, 4);
    assert.equal(report.get.successRate, 1);
    assert.ok(report.replication.min >= 3);
    assert.deepEqual(report.live?.cleanup, { tombstoned: 6, failed: 0 });
    // the cluster itself sees the keys deleted
    const key0 = parseAddress(`ucxl://bench:developer@${report.live?.project}:run/*^/key-0`);
    const meta = await cluster[1]!.decisions.resolve(key0);
    assert.equal(meta.deleted, true);
  });

  test('a license of another authority is not admitted: a clear error, nothing written', async () => {
    const stranger = validateConfig({
      dataDir: mkdtempSync(join(tmpdir(), 'chorus-stranger-')),
      license: { dev: true },
    }).license;
    await assert.rejects(
      runDhtBenchLive({
        ...base,
        join: [cluster[0]!.addresses()[0]!],
        license: stranger,
        listen: '/ip4/127.0.0.1/tcp/0',
        joinTimeoutMs: 3000,
      }),
      /met 0 licensed cluster peer\(s\) in 3 s; .*is this license valid for that cluster/,
    );
  });
});

test('bench tasks runs a voter set of node processes: claim latency and transitions per second, SLO gated', async () => {
  const tiny = ['bench', 'tasks', '--procs', '3', '--claims', '5', '--concurrency', '3', '--duration', '1500ms'];
  const r = await runCli([...tiny, '--slo-claim-p95', '60s', '--slo-rate', '0', '--json'], { timeoutMs: 180_000 });
  assert.equal(r.code, 0, r.stderr);
  const { report, slo } = JSON.parse(r.stdout) as BenchTasksResult;
  assert.equal(report.setup.procs, 3);
  assert.equal(report.claimLatencyMs.count, 5, 'every claim answered');
  assert.equal(report.claimFailures, 0);
  assert.ok(report.throughput.transitions >= 4, `a full cycle committed (${report.throughput.transitions})`);
  assert.equal(report.throughput.failures, 0);
  assert.deepEqual(slo.breached, []);
  const breach = await runCli([...tiny.slice(0, 6), '--duration', '200ms', '--slo-claim-p95', '0.001ms'], {
    timeoutMs: 180_000,
  });
  assert.equal(breach.code, 3, breach.stderr);
  assert.match(breach.stderr, /^chorus: SLO breached: claim p95 [\d.]+ ms > 0.001 ms/m);
});
