// The ops service against running in-process nodes: /healthz, /readyz, /health and /metrics over real
// HTTP, the pubsub and DHT probes through real peers, every metric family fed by real traffic, the
// election/lease provider interfaces, and readiness turning red on a node without peers.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAddress } from '../../src/core/ucxl/address.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { wireLicenseMetricSources } from '../../src/core/license/ops.ts';
import { startCluster, startNode, stopAll } from '../helpers/cluster.ts';
import { until } from '../helpers/poll.ts';

const OPS = { ops: { checkIntervalMs: 200, checkTimeoutMs: 3000 } };

async function get(node: ChorusNode, path: string): Promise<{ status: number; type: string; text: string }> {
  const url = node.ops?.url();
  assert.ok(url, 'the ops listener runs');
  const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

/** The value of one series in Prometheus text (undefined when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
  }
  return undefined;
}

describe('ops on a three-node cluster', () => {
  let nodes: ChorusNode[] = [];
  let a: ChorusNode;
  let b: ChorusNode;

  before(async () => {
    const keyring = join(mkdtempSync(join(tmpdir(), 'chorus-keys-')), 'keyring.json');
    nodes = await startCluster(3, { ops: true, config: () => ({ ...OPS, keys: { keyring } }) });
    [a, b] = nodes as [ChorusNode, ChorusNode];
  });
  after(() => stopAll(nodes));

  test('/healthz answers; /readyz turns green once the peers, pubsub and DHT probes pass', async () => {
    const live = await get(a, '/healthz');
    assert.equal(live.status, 200);
    assert.deepEqual(JSON.parse(live.text), { status: 'alive' });
    for (const n of nodes) {
      await until('readyz 200', async () => (await get(n, '/readyz')).status === 200, { timeoutMs: 20_000 });
    }
    const ready = JSON.parse((await get(a, '/readyz')).text) as { ready: boolean; reasons: string[] };
    assert.deepEqual(ready, { ready: true, reasons: [] });
  });

  test('/health details every check: status, last run, duration, what it proved', async () => {
    const h = await get(a, '/health');
    assert.equal(h.status, 200);
    assert.match(h.type, /application\/json/);
    const body = JSON.parse(h.text) as {
      peerId: string;
      ready: boolean;
      checks: {
        name: string;
        status: string;
        lastRun: string;
        durationMs: number;
        detail?: string;
        critical: boolean;
      }[];
    };
    assert.equal(body.peerId, a.peerId);
    assert.equal(body.ready, true);
    const byName = new Map(body.checks.map((c) => [c.name, c]));
    assert.deepEqual([...byName.keys()].sort(), ['dht', 'license', 'peers', 'pubsub']);
    for (const c of body.checks) {
      assert.equal(c.status, 'pass', `${c.name} passes`);
      assert.equal(c.critical, true);
      assert.ok(Date.parse(c.lastRun) > 0);
      assert.ok(c.durationMs >= 0);
    }
    assert.match(byName.get('peers')?.detail ?? '', /^2 peer\(s\) connected$/);
    const others = new Set([nodes[1]?.peerId, nodes[2]?.peerId]);
    const echoedBy = /^echoed by (\S+) in \d+ ms$/.exec(byName.get('pubsub')?.detail ?? '')?.[1];
    assert.ok(echoedBy && others.has(echoedBy), 'the pubsub probe came back through a peer');
    const dht = /^stored on (\S+), read back from (\S+)$/.exec(byName.get('dht')?.detail ?? '');
    assert.ok(dht && others.has(dht[1]) && others.has(dht[2]), 'the DHT probe record went through peers');
  });

  test('/metrics: peers, connections, pubsub in/out, publish errors, redactions, DHT, event log, process', async () => {
    const data = { task_id: 't-metrics', note: 'key AKIAIOSFODNN7EXAMPLE' };
    const receipt = await a.pubsub.publish('TaskAnnouncement', data);
    assert.equal(receipt.redactions, 1);
    a.pubsub.setMeshWait(100);
    await assert.rejects(a.pubsub.publishRaw('CHORUS/nobody/listens', { x: 1 }), { code: 'NO_SUBSCRIBERS' });
    a.pubsub.setMeshWait(5000);
    const address = parseAddress('ucxl://ops:developer@metrics:t1/*^/probe.md');
    await a.decisions.put(address, new TextEncoder().encode('hello'));
    await b.decisions.get(address);
    await assert.rejects(b.decisions.get(parseAddress('ucxl://ops:developer@metrics:t1/*^/missing.md')));

    const m = await until(
      'the delivery counted on B',
      async () => {
        const text = (await get(b, '/metrics')).text;
        const got = sample(text, 'chorus_pubsub_messages_total', {
          direction: 'in',
          family: 'coordination',
          type: 'TaskAnnouncement',
        });
        return got !== undefined && got >= 1 ? text : undefined;
      },
      { timeoutMs: 10_000 },
    );
    const seqBefore = a.eventLog.head.seq;
    const ma = await get(a, '/metrics');
    const seqAfter = a.eventLog.head.seq; // probes keep writing entries while the scrape runs
    assert.equal(ma.status, 200);
    assert.match(ma.type, /^text\/plain; version=0\.0\.4/);
    const t = ma.text;
    assert.equal(sample(t, 'chorus_peers', { license: 'dev' }), 2, 'both peers proved a dev license');
    assert.equal(sample(t, 'chorus_license_info', { license_id: a.license.license.id, dev: 'true' }), 1);
    assert.equal(sample(t, 'chorus_license_lease_state', { state: 'none' }), 1, 'no lease server configured');
    assert.equal(sample(t, 'chorus_admission_refused_peers'), 0);
    assert.equal(sample(t, 'chorus_health_check_status', { check: 'license', critical: 'true' }), 1);
    assert.equal(
      (sample(t, 'chorus_connections', { direction: 'inbound' }) ?? 0) +
        (sample(t, 'chorus_connections', { direction: 'outbound' }) ?? 0),
      a.libp2p.getConnections().length,
    );
    assert.ok(
      (sample(t, 'chorus_pubsub_messages_total', {
        direction: 'out',
        family: 'coordination',
        type: 'TaskAnnouncement',
      }) ?? 0) >= 1,
    );
    assert.ok(
      (sample(t, 'chorus_pubsub_messages_total', { direction: 'out', family: 'custom', type: 'raw' }) ?? 0) >= 1,
    );
    assert.equal(sample(t, 'chorus_pubsub_publish_errors_total', { family: 'custom', reason: 'NO_SUBSCRIBERS' }), 1);
    assert.equal(sample(t, 'chorus_shhh_redactions_total', { rule: 'aws-access-key-id' }), 1);
    assert.equal(sample(t, 'chorus_dht_op_duration_seconds_count', { op: 'put' }), 1);
    assert.equal(sample(t, 'chorus_dht_replication_deficit'), 0);
    assert.ok((sample(t, 'chorus_dht_records', { kind: 'latest' }) ?? 0) >= 1);
    const entries = sample(t, 'chorus_eventlog_entries') ?? -1;
    assert.ok(entries >= seqBefore && entries <= seqAfter, `${seqBefore} ≤ ${entries} ≤ ${seqAfter}`);
    assert.ok((sample(t, 'chorus_eventlog_bytes') ?? 0) > 0);
    assert.ok((sample(t, 'process_cpu_user_seconds_total') ?? -1) >= 0);
    assert.ok(sample(t, 'nodejs_eventloop_lag_seconds') !== undefined);
    assert.equal(sample(t, 'chorus_ready'), 1);
    assert.equal(sample(t, 'chorus_health_check_status', { check: 'dht', critical: 'true' }), 1);
    assert.ok((sample(t, 'chorus_health_check_duration_seconds', { check: 'pubsub' }) ?? -1) >= 0);
    assert.equal(sample(t, 'chorus_info', { peer_id: a.peerId }), 1);
    // on B: a read that found its decision, and one that did not
    assert.equal(sample(m, 'chorus_dht_op_duration_seconds_count', { op: 'get' }), 1);
    assert.equal(sample(m, 'chorus_dht_op_errors_total', { op: 'get', code: 'UCXL-404-NOT_FOUND' }), 1);
  });

  test('election series report the node’s own election; sources carry their values', async () => {
    // the node wires its election service as the source at start
    const before = (await get(a, '/metrics')).text;
    assert.equal(sample(before, 'chorus_election_term'), a.election.raft.term);
    assert.equal(sample(before, 'chorus_election_state', { state: a.election.raft.state }), 1);
    assert.ok((sample(before, 'chorus_election_leader_changes_total') ?? 0) >= 1);
    const metrics = a.ops!.metrics;
    metrics.setElectionSource(() => ({ term: 7, state: 'leader', leaderChanges: 2 }));
    metrics.setLeaseSource(() => ({ state: 'grace', graceRemainingSeconds: 120 }));
    metrics.setPeerLicenseSource(() => 'valid');
    try {
      const t = (await get(a, '/metrics')).text;
      assert.equal(sample(t, 'chorus_election_term'), 7);
      assert.equal(sample(t, 'chorus_election_leader_changes_total'), 2);
      assert.equal(sample(t, 'chorus_election_state', { state: 'leader' }), 1);
      assert.equal(sample(t, 'chorus_license_lease_state', { state: 'grace' }), 1);
      assert.equal(sample(t, 'chorus_license_grace_remaining_seconds'), 120);
      assert.equal(sample(t, 'chorus_peers', { license: 'valid' }), 2);
      const summary = await a.ops!.summary();
      assert.deepEqual(summary.election, { term: 7, state: 'leader', leaderChanges: 2 });
    } finally {
      metrics.setElectionSource(undefined);
      wireLicenseMetricSources(metrics, a);
    }
    assert.doesNotMatch((await get(a, '/metrics')).text, /^chorus_election_term/m, 'absent without a source');
    metrics.setElectionSource(() => a.election.metrics());
    assert.match((await get(a, '/metrics')).text, /^chorus_election_term/m);
  });

  test('a registered critical check gates readiness with its reason', async () => {
    a.ops!.health.register({
      name: 'custom',
      critical: true,
      run: async () => {
        throw new Error('no license installed');
      },
    });
    try {
      const red = await until(
        'readyz 503',
        async () => {
          const r = await get(a, '/readyz');
          return r.status === 503 && !r.text.includes('not run yet') ? r : undefined;
        },
        { timeoutMs: 5000 },
      );
      assert.deepEqual(JSON.parse(red.text), { ready: false, reasons: ['custom: no license installed'] });
    } finally {
      a.ops!.health.unregister('custom');
    }
    assert.equal((await get(a, '/readyz')).status, 200);
  });

  test('unknown paths and methods are refused', async () => {
    assert.equal((await get(a, '/nope')).status, 404);
    const res = await fetch(`${a.ops!.url()}/metrics`, { method: 'POST' });
    assert.equal(res.status, 405);
  });
});

describe('ops on a node without peers', () => {
  let lone: ChorusNode;
  before(async () => {
    lone = await startNode(OPS, {}, undefined, { ops: true });
  });
  after(() => lone.stop());

  test('/readyz is red and names each failing check; /healthz stays green', async () => {
    const r = await until(
      'every check has run',
      async () => {
        const res = await get(lone, '/readyz');
        const body = JSON.parse(res.text) as { ready: boolean; reasons: string[] };
        return body.reasons.some((x) => x.includes('not run yet')) ? undefined : { res, body };
      },
      { timeoutMs: 10_000 },
    );
    assert.equal(r.res.status, 503);
    assert.equal(r.body.ready, false);
    assert.ok(r.body.reasons.includes('peers: no peers connected and no bootstrap peers configured'));
    assert.ok(r.body.reasons.some((x) => x.startsWith('pubsub: no peer subscribed')));
    assert.ok(r.body.reasons.some((x) => x.startsWith('dht: ')));
    assert.equal((await get(lone, '/healthz')).status, 200);
    assert.equal(sample((await get(lone, '/metrics')).text, 'chorus_ready'), 0);
  });

  test('a lone node, which needs only itself, counts its writes as replicated, not as deficits', async () => {
    await until('the lone node leads its cluster of one', async () => lone.election.soleVoter());
    const receipt = await lone.decisions.put(
      parseAddress('ucxl://ops:developer@solo:t1/*^/a.md'),
      new TextEncoder().encode('kept here'),
    );
    assert.deepEqual([receipt.holders, receipt.replication], [1, 1]);
    const t = (await get(lone, '/metrics')).text;
    assert.equal(sample(t, 'chorus_dht_op_duration_seconds_count', { op: 'put' }), 1, 'the write was counted');
    assert.equal(sample(t, 'chorus_dht_replication_deficit'), 0);
    assert.equal(sample(t, 'chorus_dht_replication_missing_holders'), 0);
    assert.equal(sample(t, 'chorus_dht_under_replicated_total'), 0);
  });
});

describe('replication deficits', () => {
  let pair: ChorusNode[] = [];
  before(async () => {
    pair = await startCluster(2, { ops: true, config: () => OPS });
  });
  after(() => stopAll(pair));

  test('a write that reaches fewer holders than dht.replication is counted', async () => {
    const [x] = pair as [ChorusNode];
    await assert.rejects(
      x.decisions.put(parseAddress('ucxl://ops:developer@deficit:t1/*^/a.md'), new TextEncoder().encode('a')),
      /stored on 2 of 3/,
    );
    const t = (await get(x, '/metrics')).text;
    // at least this write; the ops probe's own records (2 nodes < 3) and a re-replication on connect may add to them
    assert.ok((sample(t, 'chorus_dht_replication_deficit') ?? 0) >= 1, 'deficit gauge');
    assert.ok((sample(t, 'chorus_dht_replication_missing_holders') ?? 0) >= 1, 'missing holders gauge');
    assert.ok((sample(t, 'chorus_dht_under_replicated_total') ?? 0) >= 1, 'under-replicated counter');
    assert.equal(sample(t, 'chorus_dht_op_errors_total', { op: 'put', code: 'REPLICATION_FAILED' }), 1);
  });

  test('a peer passed over for not answering is counted until it answers', async () => {
    const [x, y] = pair as [ChorusNode, ChorusNode];
    const unresponsive = x.decisions.replicas!.unresponsive;
    assert.equal(sample((await get(x, '/metrics')).text, 'chorus_dht_unresponsive_peers'), 0);
    unresponsive.failed(y.peerId); // as a request to it that got no answer notes it
    assert.equal(sample((await get(x, '/metrics')).text, 'chorus_dht_unresponsive_peers'), 1);
    // its next answer clears it
    await x.decisions.replicas!.getFrom(y.peerId, new TextEncoder().encode('/ucxl/any'), AbortSignal.timeout(5000));
    assert.equal(sample((await get(x, '/metrics')).text, 'chorus_dht_unresponsive_peers'), 0);
  });
});
