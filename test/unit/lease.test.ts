// Cluster leases against a real lease server on loopback: max_nodes enforced, refusal is a clear
// error, a node runs through the grace period when the server is gone and stops when it ends, and
// renewals resume when the server returns. The exchange is signed both ways: a tampered, replayed or
// stale request is refused by the server, and a forged, altered or replayed answer by the node.
import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { mkdtempSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generateKeyFile } from '../../src/core/crypto/ed25519.ts';
import { generateAuthority, issueLicense, writeLicense } from '../../src/core/license/authority.ts';
import { issueCertificate } from '../../src/core/license/certificate.ts';
import { ANSWER_SIGNATURE_HEADER, signRequest, verifyAnswer } from '../../src/core/license/lease-protocol.ts';
import { LeaseServer } from '../../src/core/license/lease-server.ts';
import { LeaseRefusedError, UntrustedAnswerError } from '../../src/core/license/lease.ts';
import { silentLogger } from '../../src/core/log.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { signerFor, type Signer } from '../../src/core/p2p/signer.ts';
import { startNode } from '../helpers/cluster.ts';
import { until } from '../helpers/poll.ts';

const dir = mkdtempSync(join(tmpdir(), 'chorus-lease-'));
const authority = generateAuthority(join(dir, 'authority.key'));
const licenseeKeyFile = join(dir, 'licensee.key');
const licensee = generateKeyFile(licenseeKeyFile);
const serverKey = generateKeyFile(join(dir, 'lease-server.key'));
const licenseFile = join(dir, 'license.json');
const license = issueLicense(authority, {
  licensee: 'Acme',
  licenseeKey: licensee.publicKey,
  clusterId: 'prod',
  maxNodes: 3,
  expiresAt: new Date(Date.now() + 86_400_000),
});
writeLicense(licenseFile, license);
const dbFile = join(dir, 'leases.db');

const nodes: ChorusNode[] = [];
const servers: LeaseServer[] = [];
after(async () => {
  for (const n of nodes) await n.stop().catch(() => {});
  for (const s of servers) await s.stop().catch(() => {});
});

async function server(port = 0, now?: () => number, db = dbFile): Promise<{ server: LeaseServer; url: string }> {
  const s = new LeaseServer({
    dbFile: db,
    host: '127.0.0.1',
    port,
    authorities: [authority.publicKey],
    key: serverKey.privateKey,
    defaultTtlMs: 60_000,
    logger: silentLogger,
    now,
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
      // these test nodes certify themselves with the licensee key (one license file for all of them)
      licenseeKey: licenseeKeyFile,
      authority: [authority.publicKey],
      server: url,
      serverKey: serverKey.publicKey,
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

/** A node's signer and certificate, for requests made by hand. */
async function nodeKeys(): Promise<{ signer: Signer; certificate: unknown }> {
  const signer = signerFor(await generateKeyPair('Ed25519'));
  return { signer, certificate: issueCertificate(license, licensee.privateKey, signer.author) };
}

async function post(
  url: string,
  method: string,
  path: string,
  body: unknown,
): Promise<{ status: number; json: { error?: { code: string; message: string } } & Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, {
    method,
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  const text = await res.text();
  const nonce = (body as { nonce?: string }).nonce ?? '';
  assert.ok(
    verifyAnswer(serverKey.publicKey, res.status, nonce, text, res.headers.get(ANSWER_SIGNATURE_HEADER)),
    'every answer is signed',
  );
  return { status: res.status, json: text ? JSON.parse(text) : {} };
}

const freshDb = (): string => join(mkdtempSync(join(tmpdir(), 'chorus-lease-db-')), 'leases.db');

test('the server refuses tampered, replayed, stale and unsigned requests, and another peer’s renewals', async () => {
  const { server: s, url } = await server(0, undefined, freshDb());
  const a = await nodeKeys();
  const b = await nodeKeys();
  const acquire = signRequest(a.signer, 'POST', '/v1/leases', { certificate: a.certificate, ttlMs: 60_000 });
  // altered after signing: a longer lease, or the request sent to another route
  const longer = await post(url, 'POST', '/v1/leases', { ...acquire, ttlMs: 3_600_000 });
  assert.equal(longer.status, 401);
  assert.match(longer.json.error?.message ?? '', /not signed by the peer it names/);
  const elsewhere = await post(url, 'POST', '/v1/leases/x/renew', acquire);
  assert.equal(elsewhere.status, 401);
  // someone else's certificate in a request signed by b
  const borrowed = await post(
    url,
    'POST',
    '/v1/leases',
    signRequest(b.signer, 'POST', '/v1/leases', { certificate: a.certificate }),
  );
  assert.equal(borrowed.status, 403);
  assert.match(borrowed.json.error?.message ?? '', /issued to peer .*, not to/);
  // the old, unsigned request: a license and any peer ID
  const unsigned = await post(url, 'POST', '/v1/leases', { license, peerId: b.signer.author });
  assert.equal(unsigned.status, 401);
  assert.equal(s.leases().length, 0, 'nothing granted so far');
  const granted = await post(url, 'POST', '/v1/leases', acquire);
  assert.equal(granted.status, 201, JSON.stringify(granted.json));
  const replayed = await post(url, 'POST', '/v1/leases', acquire);
  assert.equal(replayed.status, 401);
  assert.match(replayed.json.error?.message ?? '', /replayed/);
  // only the holder renews or releases its lease
  const id = String(granted.json.leaseId);
  const path = `/v1/leases/${id}`;
  assert.equal(
    (await post(url, 'POST', `${path}/renew`, signRequest(b.signer, 'POST', `${path}/renew`, {}))).status,
    404,
  );
  assert.equal((await post(url, 'DELETE', path, signRequest(b.signer, 'DELETE', path, {}))).status, 204);
  assert.equal(s.leases().length, 1, 'another peer cannot release it');
  assert.equal(
    (await post(url, 'POST', `${path}/renew`, signRequest(a.signer, 'POST', `${path}/renew`, {}))).status,
    200,
  );
  await s.stop();
  servers.splice(servers.indexOf(s), 1);
  // a server whose clock is ten minutes ahead sees every request as stale
  const ahead = await server(0, () => Date.now() + 600_000, freshDb());
  const stale = await post(
    ahead.url,
    'POST',
    '/v1/leases',
    signRequest(a.signer, 'POST', '/v1/leases', { certificate: a.certificate }),
  );
  assert.equal(stale.status, 401);
  assert.match(stale.json.error?.message ?? '', /stale/);
  await ahead.server.stop();
  servers.splice(servers.indexOf(ahead.server), 1);
});

const proxies: { close: () => Promise<void> }[] = [];
after(async () => {
  for (const p of proxies) await p.close().catch(() => {});
});

/** A man in the middle in front of the lease server: `tamper` may answer in its place. */
async function proxy(
  target: string,
  tamper: (
    path: string,
    real: () => Promise<{ status: number; headers: Record<string, string>; body: string }>,
  ) => Promise<{ status: number; headers: Record<string, string>; body: string }>,
): Promise<{ url: string; close: () => Promise<void> }> {
  const srv: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const forward = () =>
        new Promise<{ status: number; headers: Record<string, string>; body: string }>((resolve, reject) => {
          const up = httpRequest(
            `${target}${req.url}`,
            { method: req.method, headers: { 'content-type': 'application/json' } },
            (r) => {
              let body = '';
              r.on('data', (c: Buffer) => (body += c.toString()));
              r.on('end', () =>
                resolve({ status: r.statusCode ?? 502, headers: r.headers as Record<string, string>, body }),
              );
            },
          );
          up.on('error', reject);
          up.end(Buffer.concat(chunks));
        });
      void tamper(req.url ?? '/', forward).then((a) => {
        const { 'content-length': _l, 'transfer-encoding': _t, connection: _c, ...headers } = a.headers;
        res.writeHead(a.status, headers);
        res.end(a.body);
      });
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const handle = {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
  proxies.push(handle);
  return handle;
}

test('a node refuses a forged, altered or replayed answer: no lease from a man in the middle', async () => {
  const { server: s, url } = await server(0, undefined, freshDb());
  // 1. a server answer altered on the way (a longer lease): refused
  const altering = await proxy(url, async (_p, real) => {
    const a = await real();
    return { ...a, body: a.body.replace(/"ttlMs":\d+/, '"ttlMs":86400000') };
  });
  // 2. a lease made up by the man in the middle, with a real signature header from an earlier answer
  let recorded: { status: number; headers: Record<string, string>; body: string } | undefined;
  const recording = await proxy(url, async (_p, real) => (recorded = await real()));
  const first = await startNode(licensed(recording.url));
  nodes.push(first);
  assert.ok(recorded, 'an answer was recorded');
  const replaying = await proxy(url, async () => recorded!);
  const forging = await proxy(url, async () => ({
    status: 201,
    headers: {
      'content-type': 'application/json',
      [ANSWER_SIGNATURE_HEADER]: recorded!.headers[ANSWER_SIGNATURE_HEADER]!,
    },
    body: JSON.stringify({
      leaseId: 'forged',
      licenseId: license.license.id,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      ttlMs: 86_400_000,
    }),
  }));
  for (const [name, mitm] of [
    ['altered', altering],
    ['replayed', replaying],
    ['forged', forging],
  ] as const) {
    await assert.rejects(startNode(licensed(mitm.url)), (err: unknown) => {
      assert.ok(err instanceof UntrustedAnswerError, `${name}: ${String(err)}`);
      assert.match(err.message, /but not signed by license\.serverKey .* for this request/, name);
      return true;
    });
  }
  // the altered exchange did reach the server (it granted, the node refused the answer): at most that one more
  const holders = s.leases().map((l) => l.peerId);
  assert.ok(holders.includes(first.peerId) && holders.length <= 2, holders.join(', '));
  for (const p of [altering, recording, replaying, forging]) await p.close();
  for (const n of nodes.splice(0)) await n.stop();
  await s.stop();
  servers.splice(servers.indexOf(s), 1);
});
