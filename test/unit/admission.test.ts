// Admission: no unlicensed peer in the mesh. Fail-closed startup (no socket without a license), the
// per-connection proof (a node certificate for the very peer on the connection, and its signature over
// a fresh challenge), refusal of stolen or copied credentials, and refusal of messages and records
// from unlicensed authors even when a third node relays them.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import fc from 'fast-check';
import { validateConfig } from '../../src/core/config/load.ts';
import { signedBytes } from '../../src/core/canonical.ts';
import { generateKeyFile, type KeyPair } from '../../src/core/crypto/ed25519.ts';
import { encodeRecord, latestKey, signDecision } from '../../src/core/decisions/record.ts';
import { DIRECT_PROTOCOL_V1 } from '../../src/core/dht/direct.ts';
import {
  generateAuthority,
  issueLicense,
  writeCertificate,
  writeLicense,
  type Authority,
} from '../../src/core/license/authority.ts';
import { ADMISSION_PROTOCOL, proofBytes } from '../../src/core/license/admission.ts';
import { issueCertificate, type NodeCertificate } from '../../src/core/license/certificate.ts';
import { LicenseError, licenseDigest, type LicenseDocument } from '../../src/core/license/document.ts';
import { loadOrCreateIdentity } from '../../src/core/p2p/identity.ts';
import { silentLogger } from '../../src/core/log.ts';
import { ChorusNode } from '../../src/core/node/node.ts';
import { signerFor } from '../../src/core/p2p/signer.ts';
import { readAll, requestJson } from '../../src/core/p2p/streams.ts';
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

/** A licensed (non-dev) cluster: an authority, a licensee key, a license to it, and enrolled data dirs. */
interface Licensed {
  authority: Authority;
  licensee: KeyPair;
  doc: LicenseDocument;
}

function licensedCluster(over: { notBefore?: Date; expiresAt?: Date } = {}): Licensed {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-licensed-'));
  const authority = generateAuthority(join(dir, 'authority.key'));
  const licensee = generateKeyFile(join(dir, 'licensee.key'));
  const doc = issueLicense(authority, {
    licensee: 'Acme',
    licenseeKey: licensee.publicKey,
    clusterId: 'prod',
    maxNodes: 5,
    notBefore: over.notBefore,
    expiresAt: over.expiresAt ?? new Date(Date.now() + 86_400_000),
  });
  return { authority, licensee, doc };
}

/** A data dir enrolled as an operator does it: the node's identity, then its certificate as license.json. */
async function enrolledDataDir(l: Licensed): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'chorus-enrolled-'));
  const { peerId } = await loadOrCreateIdentity(dataDir);
  writeCertificate(join(dataDir, 'license.json'), issueCertificate(l.doc, l.licensee.privateKey, peerId.toString()));
  return dataDir;
}

async function startEnrolled(l: Licensed, dataDir: string): Promise<ChorusNode> {
  const config = validateConfig({
    dataDir,
    p2p: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false },
    license: { authority: [l.authority.publicKey] },
  });
  const node = await ChorusNode.start({ config, logger: silentLogger, api: false, ops: false });
  cleanup.push(() => node.stop());
  return node;
}

test('a node without a valid license is refused before it creates anything or opens a socket', async () => {
  const l = licensedCluster({
    notBefore: new Date(Date.now() - 2 * 86_400_000),
    expiresAt: new Date(Date.now() - 86_400_000),
  });
  const expired = l.doc;
  const valid = licensedCluster();
  const elsewhere = await enrolledDataDir(valid);
  const trusting = { authority: [valid.authority.publicKey] };
  const cases: { name: string; license: object; reason: string; write?: LicenseDocument; copy?: string }[] = [
    { name: 'no license file', license: {}, reason: 'missing' },
    { name: 'expired license', write: expired, license: { authority: [l.authority.publicKey] }, reason: 'expired' },
    { name: 'no trusted authority', write: expired, license: {}, reason: 'untrusted_authority' },
    // a license alone is not a credential: the node needs its certificate (or the licensee key)
    { name: 'a license but no node certificate', write: valid.doc, license: trusting, reason: 'not_enrolled' },
    // another node's certificate, copied without that node's key
    {
      name: 'a copied node certificate',
      copy: join(elsewhere, 'license.json'),
      license: trusting,
      reason: 'wrong_peer',
    },
  ];
  for (const c of cases) {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'chorus-unlicensed-node-'));
    if (c.write) writeLicense(join(dataDir, 'license.json'), c.write);
    if (c.copy) copyFileSync(c.copy, join(dataDir, 'license.json'));
    const config = validateConfig({
      dataDir,
      p2p: { listen: [`/ip4/127.0.0.1/tcp/${port}`], mdns: false },
      license: c.license,
    });
    await assert.rejects(ChorusNode.start({ config, logger: silentLogger }), (err: unknown) => {
      assert.ok(err instanceof LicenseError, `${c.name}: ${String(err)}`);
      assert.equal(err.reason, c.reason, `${c.name}: ${err.message}`);
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

test('enrolled nodes admit each other; a certificate copied from another node’s data dir starts no node', async () => {
  const l = licensedCluster();
  const aDir = await enrolledDataDir(l);
  const a = await startEnrolled(l, aDir);
  const b = await startEnrolled(l, await enrolledDataDir(l));
  // each side challenges the other: wait for both
  const admitted = Promise.all([
    nextEvent(a.admission, 'admitted', (p: { peerId: string }) => p.peerId === b.peerId),
    nextEvent(b.admission, 'admitted', (p: { peerId: string }) => p.peerId === a.peerId),
  ]);
  await b.libp2p.dial(a.libp2p.getMultiaddrs()[0]!);
  await admitted;
  assert.equal(b.admission.info(a.peerId)?.licenseId, l.doc.license.id);
  assert.equal(a.admission.info(b.peerId)?.via, 'direct');
  // A's license.json, copied to a host that has a node key of its own: refused before anything else
  const thief = mkdtempSync(join(tmpdir(), 'chorus-copied-'));
  await loadOrCreateIdentity(thief);
  copyFileSync(join(aDir, 'license.json'), join(thief, 'license.json'));
  await assert.rejects(startEnrolled(l, thief), (err: unknown) => {
    assert.ok(err instanceof LicenseError);
    assert.equal(err.reason, 'wrong_peer');
    assert.match(err.message, new RegExp(`node certificate for peer ${a.peerId}, not for this node`));
    return true;
  });
  assert.deepEqual(readdirSync(thief).sort(), ['identity.key', 'license.json'], 'no log, no store, no socket');
});

/** Asks `victim` to prove itself, as any connecting host may: its certificate and a proof for `asker`. */
async function stealProof(
  asker: PlainHost,
  victim: ChorusNode,
): Promise<{ certificate: NodeCertificate; proof: string }> {
  const stream = await asker.host.dialProtocol(victim.libp2p.peerId, ADMISSION_PROTOCOL);
  const challenge = randomBytes(32).toString('base64url');
  return (await requestJson(stream, { op: 'prove', challenge }, 1 << 16, AbortSignal.timeout(5000))) as {
    certificate: NodeCertificate;
    proof: string;
  };
}

test('a host holding a license taken from a handshake is refused by every node', async () => {
  const nodes = [await startNode(), await startNode(), await startNode()];
  cleanup.push(...nodes.map((n) => () => n.stop()));
  const [a] = nodes as [ChorusNode, ChorusNode, ChorusNode];
  const cluster = a.license.clusterId;
  // the thief connects once and takes what A answers to anyone: A's license, inside A's certificate
  const taker = await plainHost({ licensed: false });
  cleanup.push(() => taker.stop());
  await taker.host.handle(ADMISSION_PROTOCOL, () => new Promise(() => {})); // never answers A's challenge
  await taker.host.dial(a.libp2p.getMultiaddrs()[0]!);
  const stolen = await stealProof(taker, a);
  assert.equal(stolen.certificate.license.license.id, a.license.license.id, 'the license did cross the wire');

  type Answer = (challenge: string, verifier: string, self: PlainHost) => unknown;
  const reSign = (self: PlainHost, data: Uint8Array) =>
    Buffer.from(signerFor(self.privateKey).sign(data)).toString('base64url');
  const issuedToA = new RegExp(`issued to peer ${a.peerId}, not to`);
  const attacks: [string, Answer, RegExp][] = [
    // A's certificate as it is, with a proof the thief signs with its own key
    [
      'the stolen certificate',
      (ch, v, self) => ({
        certificate: stolen.certificate,
        proof: reSign(self, proofBytes(cluster, ch, v, self.host.peerId.toString())),
      }),
      issuedToA,
    ],
    // the stolen license, bound to the thief's peer ID by the thief's own key (the old attestation)
    [
      'the license re-signed for itself',
      (ch, v, self) => {
        const node = {
          peer: self.host.peerId.toString(),
          license: licenseDigest(stolen.certificate.license),
          notBefore: new Date(Date.now() - 60_000).toISOString(),
          expiresAt: stolen.certificate.license.license.expiresAt,
        };
        const signature = reSign(self, signedBytes('chorus-node-cert/1', node));
        return {
          certificate: { format: 'chorus-node-cert/1', license: stolen.certificate.license, node, signature },
          proof: reSign(self, proofBytes(cluster, ch, v, node.peer)),
        };
      },
      /not signed by the licensee key/,
    ],
    // the whole transcript A gave the thief, replayed
    ['the replayed transcript', () => stolen, issuedToA],
  ];
  for (const [name, answer, why] of attacks) {
    const liar = await plainHost({ licensed: false });
    cleanup.push(() => liar.stop());
    await liar.host.handle(ADMISSION_PROTOCOL, async (stream, conn) => {
      const req = JSON.parse((await readAll(stream, 1 << 16)).toString('utf8')) as { challenge: string };
      stream.send(Buffer.from(JSON.stringify(answer(req.challenge, conn.remotePeer.toString(), liar))));
      await stream.close().catch(() => {});
    });
    const id = liar.host.peerId.toString();
    for (const node of nodes) {
      const refused = nextEvent(node.admission, 'refused', (r: { peerId: string; reason: string }) => r.peerId === id);
      await liar.host.dial(node.libp2p.getMultiaddrs()[0]!).catch(() => {});
      const { reason } = await refused;
      assert.ok(!node.admission.isAdmitted(id), `${name}: not admitted`);
      assert.match(reason, why, `${name}: ${reason}`);
    }
  }
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

test('a peer that misses the proof deadline is disconnected but not denied; a wrong proof is still denied', async () => {
  const target = await startNode({ license: { handshakeTimeoutMs: 300 } });
  cleanup.push(() => target.stop());
  const opens = (peer: PlainHost): number => target.libp2p.getConnections(peer.host.peerId).length;
  // slow: it takes the challenge but never answers in time (a peer lagging under load looks the same)
  const slow = await plainHost({ licensed: false });
  cleanup.push(() => slow.stop());
  await slow.host.handle(ADMISSION_PROTOCOL, () => new Promise(() => {}));
  const slowId = slow.host.peerId.toString();
  const late = nextEvent(target.admission, 'late', (r: { peerId: string }) => r.peerId === slowId);
  await slow.host.dial(target.libp2p.getMultiaddrs()[0]!);
  await late;
  await until(target.libp2p, 'peer:disconnect', () => opens(slow) === 0);
  await until(slow.host, 'peer:disconnect', () => slow.host.getConnections(target.libp2p.peerId).length === 0);
  assert.equal(target.admission.isDenied(slowId), false, 'a late peer is not denied');
  assert.equal(target.admission.isAdmitted(slowId), false, 'nor admitted');
  assert.equal(target.admission.refusedCount, 0);
  // it may come back at once: the gate lets the redial through and the node challenges it again
  const challengedAgain = nextEvent(target.admission, 'late', (r: { peerId: string }) => r.peerId === slowId);
  await slow.host.dial(target.libp2p.getMultiaddrs()[0]!);
  await challengedAgain;

  // wrong: it answers in time, with garbage; denied as before, its redial stopped at the gate
  const wrong = await plainHost({ licensed: false });
  cleanup.push(() => wrong.stop());
  await wrong.host.handle(ADMISSION_PROTOCOL, async (stream) => {
    await readAll(stream, 1 << 16).catch(() => undefined);
    stream.send(Buffer.from(JSON.stringify({ certificate: {}, proof: 'AAAA' })));
    await stream.close().catch(() => {});
  });
  const wrongId = wrong.host.peerId.toString();
  const refused = nextEvent(target.admission, 'refused', (r: { peerId: string }) => r.peerId === wrongId);
  await wrong.host.dial(target.libp2p.getMultiaddrs()[0]!);
  await refused;
  await until(target.libp2p, 'peer:disconnect', () => opens(wrong) === 0);
  assert.equal(target.admission.isDenied(wrongId), true, 'a wrong proof is denied');
  let opened = 0;
  target.libp2p.addEventListener('connection:open', (e) => {
    if (e.detail.remotePeer.equals(wrong.host.peerId)) opened++;
  });
  await wrong.host.dial(target.libp2p.getMultiaddrs()[0]!).catch(() => undefined);
  assert.equal(opened, 0, 'the gate stops a denied peer');
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
  const stream = await via.host.dialProtocol(target.libp2p.peerId, DIRECT_PROTOCOL_V1);
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
  assert.ok('certificate' in JSON.parse(realAnswer.toString()), 'a proper request gets a proof');
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
    assert.ok('error' in answer || 'certificate' in answer || 'certificates' in answer);
  }
  // 2. answers: hosts without a license answer the node's challenge with garbage, truncated,
  // structurally mutated or borrowed proofs (the target's own certificate and proof); none is admitted
  const real = JSON.parse(realAnswer.toString()) as Record<string, unknown>;
  const answers = [
    ...fc.sample(fc.uint8Array({ maxLength: 200 }), { numRuns: 4, seed: 7 }),
    ...fc.sample(fc.nat(realAnswer.length - 1), { numRuns: 4, seed: 9 }).map((n) => realAnswer.subarray(0, n)),
    ...fc.sample(mutation(real), { numRuns: 6, seed: 11 }).map((m) => Buffer.from(JSON.stringify(m))),
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

/** A JSON value with one leaf replaced (by garbage or a random value) or one key dropped. */
function mutation(value: Record<string, unknown>): fc.Arbitrary<unknown> {
  const paths: string[][] = [];
  const walk = (v: unknown, path: string[]): void => {
    paths.push(path);
    if (v && typeof v === 'object') for (const [k, c] of Object.entries(v)) walk(c, [...path, k]);
  };
  walk(value, []);
  return fc
    .tuple(fc.constantFrom(...paths.filter((p) => p.length > 0)), fc.oneof(fc.jsonValue(), fc.constant(undefined)))
    .map(([path, replacement]) => {
      const copy = structuredClone(value);
      let at = copy as Record<string, unknown>;
      for (const k of path.slice(0, -1)) at = at[k] as Record<string, unknown>;
      if (replacement === undefined) delete at[path.at(-1)!];
      else at[path.at(-1)!] = replacement;
      return copy;
    });
}

test('fuzz: forged and mutated certificates are refused by the verifier', async () => {
  const node = await startNode();
  cleanup.push(() => node.stop());
  const own = node.license.credentialFor(node.peerId);
  fc.assert(
    fc.property(fc.oneof(fc.anything(), mutation(own as unknown as Record<string, unknown>)), (raw) => {
      // a mutation that changed nothing is the node's own certificate; anything else is refused
      if (JSON.stringify(raw) === JSON.stringify(own)) return;
      assert.throws(() => node.admission.verifyCredential(raw, node.peerId), LicenseError);
    }),
    { numRuns: 400 },
  );
  // and a valid certificate of this cluster, for another peer, does not pass as this one
  const other = await plainHost({ licensed: true });
  cleanup.push(() => other.stop());
  const foreign = node.license.credentialFor(other.host.peerId.toString());
  assert.throws(() => node.admission.verifyCredential(foreign, node.peerId), /issued to peer/);
});
