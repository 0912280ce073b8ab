// mDNS on a LAN: two hosts in network namespaces on one bridge, each running the built binary with
// mDNS on (the default) and no bootstrap peers, find each other and connect. Skipped (with the reason
// printed) only where network namespaces cannot be created.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cleanup, Daemon, tempDir, until } from '../helpers/daemon.ts';
import { ip, NetnsLan, whyNoNetns } from '../helpers/netns.ts';
import { BINARY } from '../helpers/run.ts';

const lan = new NetnsLan(2, '10.78.0');
const skip = whyNoNetns();
if (skip) process.stdout.write(`# mdns test skipped: ${skip}\n`);

describe('two hosts on a LAN with mDNS', { skip }, () => {
  const nodes: Daemon[] = [];

  before(async () => {
    assert.ok(existsSync(BINARY), 'build first: node scripts/build-binaries.ts --target linux-x64');
    lan.setup();
    // multicast leaves through eth0 (a host on a LAN has a route for it; these namespaces have only the subnet)
    for (const i of [1, 2]) ip('-n', lan.ns(i), 'route', 'add', '224.0.0.0/4', 'dev', 'eth0');
    const config = join(tempDir(), 'chorus.yaml');
    writeFileSync(config, `keys:\n  keyring: ${join(tempDir('chorus-mdns-keys-'), 'keyring.json')}\n`);
    for (const i of [1, 2]) {
      nodes.push(
        await Daemon.start({
          netns: lan.ns(i),
          config,
          listen: `/ip4/${lan.addr(i)}/tcp/9000`,
          mdns: true,
          startTimeoutMs: 30_000,
        }),
      );
    }
  });

  after(async () => {
    assert.deepEqual(await lan.shutdown(cleanup), [], 'no namespace of this run is left behind');
  });

  test('each node finds the other without bootstrap peers and connects to it', async () => {
    const [a, b] = nodes as [Daemon, Daemon];
    const [idA, idB] = [(await a.status()).peerId, (await b.status()).peerId];
    for (const [n, other] of [
      [a, idB],
      [b, idA],
    ] as const) {
      await until(
        `${n.dataDir} connected to ${other}`,
        async () => {
          const r = await n.cli(['peers', '--json']);
          const peers = JSON.parse(r.stdout) as { peerId: string; connected?: boolean }[];
          return peers.some((p) => p.peerId === other && p.connected !== false) || undefined;
        },
        { timeoutMs: 40_000, intervalMs: 500 },
      );
    }
  });
});
