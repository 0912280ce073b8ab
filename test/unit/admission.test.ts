// Admission: no unlicensed peer in the mesh. Fail-closed startup (no socket without a license), the
// per-connection license proof, and refusal of messages and records from unlicensed authors even
// when a third node relays them.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import fc from 'fast-check';
import { validateConfig } from '../../src/core/config/load.ts';
import { encodeRecord, latestKey, signDecision } from '../../src/core/decisions/record.ts';
import { DIRECT_PROTOCOL } from '../../src/core/dht/direct.ts';
import { generateAuthority, issueLicense, writeLicense } from '../../src/core/license/authority.ts';
import { ADMISSION_PROTOCOL } from '../../src/core/license/admission.ts';
import { LicenseError } from '../../src/core/license/document.ts';
import { silentLogger } from '../../src/core/log.ts';
import { ChorusNode } from '../../src/core/node/node.ts';
import { signerFor } from '../../src/core/p2p/signer.ts';
import { readAll } from '../../src/core/p2p/streams.ts';
import { encodeEnvelope } from '../../src/core/pubsub/messages.ts';
import { TOPICS } from '../../src/core/pubsub/topics.ts';
import type { ReceivedMessage } from '../../src/core/pubsub/pubsub.ts';
import { plainHost, startNode, type PlainHost } from '../helpers/cluster.ts';
import { freePort } from '../helpers/daemon.ts';
import { nextEvent, until } from '../helpers/events.ts';

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

test('a node without a valid license is refused before it creates anything or opens a socket', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-unlicensed-'));
  const authority = generateAuthority(join(dir, 'authority.key'));
  const expired = issueLicense(authority, {
    licensee: 'Acme',
    clusterId: 'prod',
    maxNodes: 3,
    notBefore: new Date(Date.now() - 2 * 86_400_000),
    expiresAt: new Date(Date.now() - 86_400_000),
  });
  const cases = [
    { name: 'no license file', license: {}, reason: 'missing' },
    { name: 'expired license', write: expired, license: { authority: [authority.publicKey] }, reason: 'expired' },
    { name: 'no trusted authority', write: expired, license: {}, reason: 'untrusted_authority' },
  ];
  for (const c of cases) {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'chorus-unlicensed-node-'));
    if (c.write) writeLicense(join(dataDir, 'license.json'), c.write);
    const config = validateConfig({
      dataDir,
      p2p: { listen: [`/ip4/127.0.0.1/tcp/${port}`], mdns: false },
      license: c.license,
    });
    await assert.rejects(ChorusNode.start({ config, logger: silentLogger }), (err: unknown) => {
      assert.ok(err instanceof LicenseError, c.name);
      assert.equal(err.reason, c.reason, c.name);
      return true;
    });
    assert.ok(await canListen(port), `${c.name}: nothing listens on the configured port`);
    assert.deepEqual(
      readdirSync(dataDir).filter((f) => f !== 'license.json'),
      [],
      `${c.name}: no identity, log or socket`,
    );
  }
});

test('licensed nodes admit each other and show the license of each peer', async () => {
  const a = await startNode();
  const b = await startNode();
  cleanup.push(
    () => a.stop(),
    () => b.stop(),
  );
  const admitted = nextEvent(a.admission, 'admitted', (p: { peerId: string }) => p.peerId === b.peerId);
  await b.libp2p.dial(a.libp2p.getMultiaddrs()[0]!);
  await admitted;
  const view = (await a.peers()).find((p) => p.peerId === b.peerId);
  assert.equal(view?.license?.licenseId, b.license.license.id);
  assert.equal(view?.license?.dev, true);
  assert.equal(a.status().license.dev, true);
});

test('an unlicensed host is disconnected, denied on redial, and cannot deliver a message', async () => {
  const target = await startNode();
  const intruder = await plainHost({ licensed: false });
  cleanup.push(
    () => target.stop(),
    () => intruder.stop(),
  );
  let delivered = 0;
  target.pubsub.on('message', (m: ReceivedMessage) => {
    if (m.from === intruder.host.peerId.toString()) delivered++;
  });
  const refused = nextEvent(
    target.admission,
    'refused',
    (r: { peerId: string; reason: string }) => r.peerId === intruder.host.peerId.toString(),
  );
  intruder.host.services.pubsub.subscribe(TOPICS.coordination);
  await intruder.host.dial(target.libp2p.getMultiaddrs()[0]!);
  const { reason } = await refused;
  assert.match(reason, /no license proof/);
  await until(target.libp2p, 'peer:disconnect', () => target.libp2p.getConnections(intruder.host.peerId).length === 0);
  // a redial is stopped at the gate: the target never even opens a connection to challenge
  const refusedBefore = target.admission.refusedCount;
  let opened = 0;
  target.libp2p.addEventListener('connection:open', (e) => {
    if (e.detail.remotePeer.equals(intruder.host.peerId)) opened++;
  });
  await intruder.host.dial(target.libp2p.getMultiaddrs()[0]!).catch(() => undefined);
  assert.equal(opened, 0);
  assert.equal(target.admission.refusedCount, refusedBefore);
  assert.equal(delivered, 0);
  assert.equal(target.admission.isAdmitted(intruder.host.peerId.toString()), false);
});

/** A licensed relay R that checks nobody, an unlicensed author X behind it, and a node T. */
async function relayScene(): Promise<{ target: ChorusNode; relay: PlainHost; author: PlainHost }> {
  const target = await startNode();
  const relay = await plainHost({ licensed: true, enforce: false });
  const author = await plainHost({ licensed: false });
  cleanup.push(
    () => target.stop(),
    () => relay.stop(),
    () => author.stop(),
  );
  const admitted = nextEvent(
    target.admission,
    'admitted',
    (p: { peerId: string }) => p.peerId === relay.host.peerId.toString(),
  );
  await relay.host.dial(target.libp2p.getMultiaddrs()[0]!);
  await admitted;
  await author.host.dial(relay.host.getMultiaddrs()[0]!);
  return { target, relay, author };
}

test('a message by an unlicensed author relayed by a licensed peer is rejected', async () => {
  const { target, relay, author } = await relayScene();
  for (const h of [relay.host, author.host]) h.services.pubsub.subscribe(TOPICS.coordination);
  await until(author.host.services.pubsub, 'subscription-change', () =>
    author.host.services.pubsub.getSubscribers(TOPICS.coordination).some((p) => p.equals(relay.host.peerId)),
  );
  await until(relay.host.services.pubsub, 'subscription-change', () =>
    relay.host.services.pubsub.getSubscribers(TOPICS.coordination).some((p) => p.equals(target.libp2p.peerId)),
  );
  const authorId = author.host.peerId.toString();
  const dropped = nextEvent(target.pubsub, 'dropped', (d: { from?: string }) => d.from === authorId);
  let delivered = 0;
  target.pubsub.on('message', (m: ReceivedMessage) => {
    if (m.from === authorId) delivered++;
  });
  await author.host.services.pubsub.publish(
    TOPICS.coordination,
    encodeEnvelope({ type: 'TaskClaim', from: authorId, timestamp: new Date().toISOString(), data: { x: 1 } }),
  );
  const d = await dropped;
  assert.match((d as { reason: string }).reason, /holds no license/);
  assert.equal(delivered, 0);
});

async function putDirect(via: PlainHost, target: ChorusNode, key: Uint8Array, value: Uint8Array) {
  const stream = await via.host.dialProtocol(target.libp2p.peerId, DIRECT_PROTOCOL);
  stream.send(
    Buffer.from(
      JSON.stringify({
        op: 'put',
        key: Buffer.from(key).toString('base64'),
        value: Buffer.from(value).toString('base64'),
      }),
    ),
  );
  await stream.close();
  return JSON.parse((await readAll(stream, 1 << 20)).toString('utf8')) as { ok: boolean; error?: string };
}

test('a DHT record by an unlicensed author is refused even through a licensed peer; a licensed author’s is stored', async () => {
  const { target, relay } = await relayScene();
  const outsider = signerFor(await generateKeyPair('Ed25519'));
  const insider = signerFor(relay.privateKey);
  const record = (author: string, subject: string) => ({
    v: 1 as const,
    subject,
    version: 1,
    author,
    authorRole: 'developer',
    timestamp: new Date().toISOString(),
    contentType: 'text/plain',
    prevHash: '',
    roles: ['developer'],
    payload: Buffer.from('x').toString('base64'),
    size: 1,
  });
  const s1 = 'ucxl://a:developer@p:t/*^/outsider';
  const refused = await putDirect(
    relay,
    target,
    latestKey(s1),
    encodeRecord(signDecision(record(outsider.author, s1), outsider.sign)),
  );
  assert.equal(refused.ok, false);
  assert.match(refused.error ?? '', /not an admitted node/);
  const s2 = 'ucxl://a:developer@p:t/*^/insider';
  const stored = await putDirect(
    relay,
    target,
    latestKey(s2),
    encodeRecord(signDecision(record(insider.author, s2), insider.sign)),
  );
  assert.deepEqual(stored, { ok: true });
});

test('fuzz: a node never crashes on random admission requests, and never admits a peer whose answer is garbage', async () => {
  const target = await startNode();
  cleanup.push(() => target.stop());
  // 1. requests: a licensed peer (it stays connected) sends random and truncated requests
  const prober = await plainHost({ licensed: true, enforce: false });
  cleanup.push(() => prober.stop());
  await prober.host.dial(target.libp2p.getMultiaddrs()[0]!);
  const ask = async (payload: Uint8Array): Promise<Record<string, unknown>> => {
    const stream = await prober.host.dialProtocol(target.libp2p.peerId, ADMISSION_PROTOCOL);
    stream.send(payload);
    await stream.close();
    return JSON.parse((await readAll(stream, 1 << 16)).toString('utf8')) as Record<string, unknown>;
  };
  const realRequest = Buffer.from(JSON.stringify({ op: 'prove', challenge: randomBytes(32).toString('base64url') }));
  const realAnswer = Buffer.from(JSON.stringify(await ask(realRequest)));
  assert.ok('attestation' in JSON.parse(realAnswer.toString()), 'a proper request gets a proof');
  const requests = fc.sample(
    fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.json().map((j) => Buffer.from(j)),
      fc.nat(realRequest.length - 1).map((n) => realRequest.subarray(0, n)),
    ),
    { numRuns: 60, seed: 42 },
  );
  for (const payload of requests) {
    const answer = await ask(payload);
    assert.ok('error' in answer || 'attestation' in answer || 'attestations' in answer);
  }
  // 2. answers: hosts without a license answer the node's challenge with garbage, truncated or
  // borrowed proofs (the target's own attestation); none is admitted
  const answers = [
    ...fc.sample(fc.uint8Array({ maxLength: 200 }), { numRuns: 4, seed: 7 }),
    ...fc.sample(fc.nat(realAnswer.length - 1), { numRuns: 4, seed: 9 }).map((n) => realAnswer.subarray(0, n)),
    realAnswer,
  ];
  for (const answer of answers) {
    const liar = await plainHost({ licensed: false });
    cleanup.push(() => liar.stop());
    await liar.host.handle(ADMISSION_PROTOCOL, async (stream) => {
      await readAll(stream, 1 << 16).catch(() => undefined);
      stream.send(answer);
      await stream.close().catch(() => {});
    });
    const id = liar.host.peerId.toString();
    const refused = nextEvent(target.admission, 'refused', (r: { peerId: string }) => r.peerId === id);
    await liar.host.dial(target.libp2p.getMultiaddrs()[0]!).catch(() => {});
    await refused;
    assert.equal(target.admission.isAdmitted(id), false);
  }
  assert.ok(target.status().peerId, 'the node still answers');
});

test('fuzz: forged attestations are refused by the verifier', async () => {
  const node = await startNode();
  cleanup.push(() => node.stop());
  fc.assert(
    fc.property(fc.anything(), (raw) => {
      assert.throws(() => node.admission.verifyAttestation(raw), LicenseError);
    }),
    { numRuns: 300 },
  );
});
