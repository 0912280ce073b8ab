// Cluster leases against a real lease server on loopback: max_nodes enforced, refusal is a clear
// error, a node runs through the grace period when the server is gone and stops when it ends, and
// renewals resume when the server returns.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generateAuthority, issueLicense, writeLicense } from '../../src/core/license/authority.ts';
import { LeaseServer } from '../../src/core/license/lease-server.ts';
import { LeaseRefusedError } from '../../src/core/license/lease.ts';
import { silentLogger } from '../../src/core/log.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { startNode } from '../helpers/cluster.ts';
import { until } from '../helpers/poll.ts';

const dir = mkdtempSync(join(tmpdir(), 'chorus-lease-'));
const authority = generateAuthority(join(dir, 'authority.key'));
const licenseFile = join(dir, 'license.json');
writeLicense(
  licenseFile,
  issueLicense(authority, {
    licensee: 'Acme',
    clusterId: 'prod',
    maxNodes: 3,
    expiresAt: new Date(Date.now() + 86_400_000),
  }),
);
const dbFile = join(dir, 'leases.db');

const nodes: ChorusNode[] = [];
const servers: LeaseServer[] = [];
after(async () => {
  for (const n of nodes) await n.stop().catch(() => {});
  for (const s of servers) await s.stop().catch(() => {});
});

async function server(port = 0): Promise<{ server: LeaseServer; url: string }> {
  const s = new LeaseServer({
    dbFile,
    host: '127.0.0.1',
    port,
    authorities: [authority.publicKey],
    defaultTtlMs: 60_000,
    logger: silentLogger,
  });
  servers.push(s);
  const bound = await s.start();
  return { server: s, url: `http://127.0.0.1:${bound.port}` };
}

function licensed(url: string, timers: { leaseTtlMs?: number; gracePeriodMs?: number } = {}) {
  return {
    license: {
      dev: false,
      file: licenseFile,
      authority: [authority.publicKey],
      server: url,
      leaseTtlMs: timers.leaseTtlMs ?? 60_000,
      gracePeriodMs: timers.gracePeriodMs ?? 3_600_000,
    },
  };
}

test('max_nodes = 3 admits three nodes and refuses the fourth with a clear error', async () => {
  const { server: s, url } = await server();
  for (let i = 0; i < 3; i++) nodes.push(await startNode(licensed(url)));
  assert.equal(s.leases().length, 3);
  assert.equal(nodes[0]!.status().license.lease?.state, 'held');
  await assert.rejects(startNode(licensed(url)), (err: unknown) => {
    assert.ok(err instanceof LeaseRefusedError);
    assert.equal(err.code, 'CLUSTER_FULL');
    assert.match(err.message, /allows 3 node\(s\) and 3 hold a lease: the cluster is full/);
    return true;
  });
  // a node that stops releases its lease, and the slot is free again
  await nodes.pop()!.stop();
  assert.equal(s.leases().length, 2);
  nodes.push(await startNode(licensed(url)));
  assert.equal(s.leases().length, 3);
  for (const n of nodes.splice(0)) await n.stop();
  await s.stop();
  servers.splice(servers.indexOf(s), 1);
});

test('server gone: the node runs through the grace period, then stops; a returning server resumes renewals', async () => {
  const first = await server();
  const port = Number(new URL(first.url).port);
  const doomed = await startNode(licensed(first.url, { leaseTtlMs: 1500, gracePeriodMs: 2500 }));
  const survivor = await startNode(licensed(first.url, { leaseTtlMs: 1500, gracePeriodMs: 60_000 }));
  nodes.push(doomed, survivor);
  await first.server.stop();
  servers.splice(servers.indexOf(first.server), 1);

  await until('the grace state', () => doomed.status().license.lease?.state === 'grace', {
    timeoutMs: 10_000,
    intervalMs: 25,
  });
  const grace = doomed.status().license.lease!;
  assert.ok(grace.graceRemainingMs! > 0 && grace.graceRemainingMs! <= 2500);
  assert.ok(grace.consecutiveFailures >= 1);
  const reason = await doomed.halted; // the node stops on its own when the grace period ends
  assert.match(reason, /grace period of 2500 ms ended/);
  await doomed.stop(); // idempotent: already stopping
  assert.equal(doomed.lease?.status().state, 'expired');

  await until('the survivor in grace', () => survivor.status().license.lease?.state === 'grace', {
    timeoutMs: 10_000,
    intervalMs: 25,
  });
  const back = await server(port);
  await until('renewals resuming', () => survivor.status().license.lease?.state === 'held', {
    timeoutMs: 15_000,
    intervalMs: 25,
  });
  assert.equal(survivor.status().license.lease?.consecutiveFailures, 0);
  assert.equal(back.server.leases().filter((l) => l.peerId === survivor.peerId).length, 1);
});
