// A real multi-host test: four network namespaces ("hosts") joined by veth pairs to a bridge that lives
// in a fifth, "switch" namespace (the host's own network is never touched), each running the built binary
// as a node on its own 10.77.x address. Checks that the mesh forms, pubsub delivers, a decision written on
// one host is read on the others and every host is ready; then pulls one host's cable (its switch port
// goes down): its readiness turns red with a reason while the others stay ready; plugs it back: everything
// converges and the same checks pass again. Namespaces and processes are removed even when a check fails.
// Skipped (with the reason printed) only where it cannot run: not root, or no `ip netns`.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { STATIC_TOPICS } from '../../src/core/pubsub/topics.ts';
import type { ElectionStatus } from '../../src/core/election/service.ts';
import type { HealthReport } from '../../src/core/ops/checks.ts';
import { cleanup, Daemon, Subscriber, tempDir, until } from '../helpers/daemon.ts';
import { NetnsLan, whyNoNetns } from '../helpers/netns.ts';
import { BINARY } from '../helpers/run.ts';

const HOSTS = 4;
const lan = new NetnsLan(HOSTS, '10.77.0');
const ns = (i: number): string => lan.ns(i);
const addr = (i: number): string => lan.addr(i);
const OPS_PORT = 9464;

/** The real /readyz of a host, fetched from inside its namespace (the ops listener is on its loopback). */
function readyz(i: number): { status: number; body: { ready: boolean; reasons: string[] } } {
  const script = `fetch('http://127.0.0.1:${OPS_PORT}/readyz').then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.json() })))`;
  const r = lan.exec(i, script);
  if (r.status !== 0) throw new Error(`readyz in ${ns(i)}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as { status: number; body: { ready: boolean; reasons: string[] } };
}

const skip = whyNoNetns();
if (skip) process.stdout.write(`# netns test skipped: ${skip}\n`);

describe('four hosts in network namespaces', { skip }, () => {
  const nodes: Daemon[] = [];
  const keyring = join(tempDir('chorus-netns-keys-'), 'keyring.json');
  const nonce = randomUUID();
  let round = 0;

  /** `chorus elect status --json` of a host (through its control socket). */
  const electStatus = async (n: Daemon): Promise<ElectionStatus> => {
    const r = await n.cli(['elect', 'status', '--json']);
    if (r.code !== 0) throw new Error(`elect status exited ${r.code}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as ElectionStatus;
  };

  /** Resolves with the leader once every one of `hosts` names the same leader in the same term. */
  const agreedLeader = (hosts: Daemon[], what: string, notLeader?: string): Promise<{ leader: string; term: number }> =>
    until(
      what,
      async () => {
        const all = await Promise.all(hosts.map(electStatus));
        const first = all[0]?.leader?.peerId;
        const same =
          first && first !== notLeader && all.every((s) => s.leader?.peerId === first && s.term === all[0]?.term);
        return same ? { leader: first, term: all[0]!.term } : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );

  const health = async (n: Daemon): Promise<HealthReport> => {
    const r = await n.api('GET', '/v1/health');
    if (r.status !== 200) throw new Error(`health answered ${r.status}`);
    return r.body as HealthReport;
  };

  // The checks that must hold on a healthy cluster: run once the mesh forms and again after the cut host
  // returns. One named step each, so a subsystem adds its own (the election's "elect status agrees").
  const clusterChecks: { name: string; run: () => Promise<void> }[] = [
    {
      name: 'the mesh forms: every host sees the others on every static topic',
      run: async () => {
        for (const n of nodes) {
          await until(
            `${n.dataDir} meshed`,
            async () => {
              const s = await n.status();
              const topics = STATIC_TOPICS.every((t) => (s.topics.find((x) => x.topic === t)?.peers ?? 0) >= HOSTS - 1);
              return s.peers >= HOSTS - 1 && topics;
            },
            { timeoutMs: 90_000, intervalMs: 500 },
          );
        }
      },
    },
    {
      name: 'pubsub delivers from every host to every other host',
      run: async () => {
        const subs = await Promise.all(nodes.map((n) => Subscriber.start(n.dataDir, STATIC_TOPICS)));
        try {
          round++;
          for (const [i, n] of nodes.entries()) await n.publish('StatusUpdate', { nonce, probe: `r${round}-h${i}` });
          await Promise.all(
            subs.map((s, j) =>
              Promise.all(
                nodes.map((_, i) => (i === j ? undefined : s.waitForTagged(nonce, `r${round}-h${i}`, 1, 30_000))),
              ),
            ),
          );
        } finally {
          await Promise.all(subs.map((s) => s.kill()));
        }
      },
    },
    {
      name: 'a decision written on one host is read on every other host',
      run: async () => {
        const writer = nodes[round % HOSTS] as Daemon;
        const file = join(tempDir(), 'adr.md');
        const content = `decided in round ${round} (${nonce})\n`;
        writeFileSync(file, content);
        const address = `ucxl://netns:developer@ops:round${round}/*^/adr.md`;
        const put = await writer.cli(['ucxl', 'put', address, file, '--json'], 30_000);
        assert.equal(put.code, 0, put.stderr);
        for (const reader of nodes.filter((n) => n !== writer)) {
          const got = await until(
            `${reader.dataDir} reads the decision`,
            async () => {
              const r = await reader.cli(['ucxl', 'get', address], 30_000);
              return r.code === 0 ? r.stdout : undefined;
            },
            { timeoutMs: 30_000, intervalMs: 500 },
          );
          assert.equal(got, content);
        }
      },
    },
    {
      name: '`chorus elect status` agrees everywhere: one leader, one term, four voters',
      run: async () => {
        const { leader } = await agreedLeader(nodes, 'every host names the same leader');
        const ids = await Promise.all(nodes.map(async (n) => (await n.status()).peerId));
        assert.ok(ids.includes(leader), 'the leader is one of the hosts');
        const statuses = await Promise.all(nodes.map(electStatus));
        assert.equal(statuses.filter((s) => s.state === 'leader').length, 1, 'exactly one host says it leads');
        for (const s of statuses) assert.equal(s.voters.length, HOSTS);
      },
    },
    {
      name: 'every host is ready (/readyz 200 from inside its namespace)',
      run: async () => {
        for (const [i, n] of nodes.entries()) {
          await until(`${ns(i + 1)} ready`, async () => (await health(n)).ready, {
            timeoutMs: 60_000,
            intervalMs: 500,
          });
          const r = readyz(i + 1);
          assert.deepEqual(r, { status: 200, body: { ready: true, reasons: [] } });
        }
      },
    },
  ];

  before(async () => {
    assert.ok(existsSync(BINARY), 'build first: node scripts/build-binaries.ts --target linux-x64');
    lan.setup();
    // reachability across the bridge: a connection to a closed port is refused (RST) only if it arrives
    const script = `require('node:net').connect(9, '${addr(HOSTS)}').on('error', (e) => { console.log(e.code); process.exit(0); }).setTimeout(3000, () => { console.log('TIMEOUT'); process.exit(0); })`;
    const probe = lan.exec(1, script);
    assert.equal(
      probe.stdout.trim(),
      'ECONNREFUSED',
      `the bridge does not carry traffic: ${probe.stdout}${probe.stderr}`,
    );
    const config = join(tempDir(), 'chorus.yaml');
    writeFileSync(
      config,
      `keys:\n  keyring: ${keyring}\nops:\n  port: ${OPS_PORT}\n  checkIntervalMs: 1000\n  checkTimeoutMs: 3000\nelection:\n  expect: ${HOSTS}\n`,
    );
    const bootstrap: string[] = [];
    for (let i = 1; i <= HOSTS; i++) {
      const node = await Daemon.start({
        netns: ns(i),
        config,
        listen: `/ip4/${addr(i)}/tcp/9000`,
        bootstrap: [...bootstrap],
        opsPort: OPS_PORT,
        startTimeoutMs: 30_000,
      });
      nodes.push(node);
      const s = await node.status();
      const own = s.addresses.find((a) => a.startsWith(`/ip4/${addr(i)}/tcp/9000/p2p/`));
      assert.ok(own, `host ${i} listens on its own address: ${s.addresses.join(', ')}`);
      bootstrap.push(own);
    }
  });

  after(async () => {
    assert.deepEqual(await lan.shutdown(cleanup), [], 'no namespace of this run is left behind');
  });

  test('the healthy cluster passes every cluster check', async (t) => {
    for (const check of clusterChecks) await t.test(check.name, check.run);
  });

  test('a host whose cable is pulled turns red with a reason; the others stay ready', async () => {
    const cut = nodes[HOSTS - 1] as Daemon;
    lan.setCable(HOSTS, false);
    const red = await until(
      'the cut host reports not ready',
      async () => {
        const h = await health(cut);
        return h.ready ? undefined : h;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    assert.ok(red.reasons.length > 0);
    assert.ok(
      red.reasons.every((r) => /^(pubsub|dht|peers): /.test(r)),
      `reasons name the failing checks: ${red.reasons.join('; ')}`,
    );
    const r = readyz(HOSTS);
    assert.equal(r.status, 503);
    assert.equal(r.body.ready, false);
    // the other three are a majority of the four voters: they keep (or elect) a leader among themselves,
    // and the cut host, unable to reach a majority, does not lead
    const cutId = (await cut.status()).peerId;
    const others = nodes.slice(0, -1);
    const { leader } = await agreedLeader(
      others,
      'the connected hosts agree on a leader other than the cut host',
      cutId,
    );
    assert.ok(leader);
    await until('the cut host stops leading', async () => (await electStatus(cut)).state !== 'leader', {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    // the others: every check has run again since the cut, and they are ready
    const since = Date.now();
    for (const n of nodes.slice(0, -1)) {
      const h = await until(
        `${n.dataDir} re-checked after the cut`,
        async () => {
          const report = await health(n);
          return report.checks.every((c) => Date.parse(c.lastRun ?? '') > since + 3000) ? report : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 250 },
      );
      assert.equal(h.ready, true, `still ready: ${h.reasons.join('; ')}`);
    }
  });

  test('with the cable back, the cluster converges and passes every check again', async (t) => {
    lan.setCable(HOSTS, true);
    await until('the cut host is ready again', async () => (await health(nodes[HOSTS - 1] as Daemon)).ready, {
      timeoutMs: 120_000,
      intervalMs: 500,
    });
    for (const check of clusterChecks) await t.test(check.name, check.run);
  });
});
