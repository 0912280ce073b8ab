// `chorus peers` and `chorus elect status` show a peer's dialable listen addresses (from identify), not the
// ephemeral port of its inbound connection. Two nodes in this process (b serves the control API, a dials
// b, so b only has an inbound connection from a), driven through the real CLI from source.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { multiaddr } from '@multiformats/multiaddr';
import type { ElectionStatus } from '../../src/core/election/service.ts';
import type { ChorusNode, PeerView } from '../../src/core/node/node.ts';
import { rankAddresses } from '../../src/core/p2p/peer-addresses.ts';
import { electionAgreed, FAST_ELECTION, startNode, startWithConfig, stopAll, testConfig } from '../helpers/cluster.ts';
import { runCli } from '../helpers/run.ts';

const PEER = '12D3KooWPC2CxG9ZCM1hd4Y2FAWiB4tSsRem1Auj45RXPjVxpCRy';
const mas = (...s: string[]) => s.map((x) => multiaddr(x));

test('rankAddresses: the connected host first, routable before loopback, no 0.0.0.0, /p2p appended', () => {
  const listen = mas(
    '/ip4/127.0.0.1/tcp/9000',
    '/ip4/0.0.0.0/tcp/9000',
    '/ip4/10.0.0.7/tcp/9000',
    '/ip4/192.168.1.5/tcp/9000',
  );
  assert.deepEqual(rankAddresses(PEER, listen, mas('/ip4/192.168.1.5/tcp/51234')), [
    `/ip4/192.168.1.5/tcp/9000/p2p/${PEER}`,
    `/ip4/10.0.0.7/tcp/9000/p2p/${PEER}`,
    `/ip4/127.0.0.1/tcp/9000/p2p/${PEER}`,
  ]);
  // connected over loopback: loopback is dialable from here, right after the connected host
  assert.deepEqual(
    rankAddresses(PEER, mas('/ip4/10.0.0.7/tcp/1', '/ip4/127.0.0.1/tcp/1'), mas('/ip4/127.0.0.2/tcp/5')),
    [`/ip4/127.0.0.1/tcp/1/p2p/${PEER}`, `/ip4/10.0.0.7/tcp/1/p2p/${PEER}`],
  );
  assert.deepEqual(rankAddresses(PEER, [], mas('/ip4/10.0.0.7/tcp/5')), []);
});

describe('through the CLI: b sees a only through a connection a opened', () => {
  let a: ChorusNode;
  let b: ChorusNode;
  const election = { expect: 2, ...FAST_ELECTION };

  before(async () => {
    b = await startWithConfig(testConfig({ election }), {}, undefined, { api: true });
    a = await startNode({ election });
    await a.libp2p.dial(b.libp2p.getMultiaddrs()[0]!);
    await electionAgreed([a, b]);
  });
  after(() => stopAll([a, b]));

  const listenOfA = (): string => a.addresses()[0]!;
  const inboundPortOfA = (): string =>
    /\/tcp\/(\d+)/.exec(b.libp2p.getConnections(a.libp2p.peerId)[0]!.remoteAddr.toString())![1]!;

  test('chorus peers --json and the table show the listen address first', async () => {
    assert.notEqual(listenOfA(), undefined);
    assert.doesNotMatch(
      listenOfA(),
      new RegExp(`/tcp/${inboundPortOfA()}/`),
      'the inbound port is not the listen port',
    );
    const r = await runCli(['--data-dir', b.config.dataDir, 'peers', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const peer = (JSON.parse(r.stdout) as PeerView[]).find((p) => p.peerId === a.peerId);
    assert.deepEqual(peer?.addresses, [listenOfA()]);
    const table = await runCli(['--data-dir', b.config.dataDir, 'peers']);
    assert.ok(table.stdout.includes(listenOfA().replace(/\/p2p\/.*$/, '')), table.stdout);
    assert.ok(!table.stdout.includes(`/tcp/${inboundPortOfA()} `), table.stdout);
  });

  test('chorus elect status --json shows the voter’s (and the leader’s) listen address', async () => {
    const r = await runCli(['--data-dir', b.config.dataDir, 'elect', 'status', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const status = JSON.parse(r.stdout) as ElectionStatus;
    const voter = status.voters.find((v) => v.peerId === a.peerId);
    assert.deepEqual(voter?.addresses, [listenOfA()]);
    if (status.leader?.peerId === a.peerId) assert.deepEqual(status.leader.addresses, [listenOfA()]);
  });
});
