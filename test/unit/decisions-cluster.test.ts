// Decisions on real nodes in one process: role encryption across nodes, temporal navigation,
// forged/stale/unadmitted records refused by every node, a subject's first version written as a create (and
// after the newest version when the subject exists), holders lost and regained, full restart.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { NotARecipientError } from '../../src/core/crypto/envelope.ts';
import {
  encodeRecord,
  latestKey,
  signDecision,
  versionKey,
  type DecisionRecord,
} from '../../src/core/decisions/record.ts';
import { recordDatastoreKey } from '../../src/core/dht/kad.ts';
import { NotFoundError } from '../../src/core/decisions/store.ts';
import { DECISION_HINTS_TOPIC } from '../../src/core/decisions/service.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { signerFor } from '../../src/core/p2p/signer.ts';
import { DirectReplicas } from '../../src/core/dht/direct.ts';
import { parseAddress } from '../../src/core/ucxl/address.ts';
import { closestOf } from '../helpers/closest.ts';
import { connectAll, heard, startCluster, startNode, startWithConfig, stopAll } from '../helpers/cluster.ts';
import { until } from '../helpers/poll.ts';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);
const addr = (s: string) => parseAddress(s);

async function holdersOf(nodes: ChorusNode[], key: Uint8Array): Promise<ChorusNode[]> {
  const held = await Promise.all(nodes.map(async (n) => ((await n.decisions.localRecord(key)) ? n : undefined)));
  return held.filter((n): n is ChorusNode => n !== undefined);
}

describe('decisions on a 5-node cluster', () => {
  const keyring = join(mkdtempSync(join(tmpdir(), 'chorus-keys-')), 'keyring.json');
  const roles = ['architect', 'developer', 'observer', 'developer', 'admin'];
  const admitted = new Set<string>();
  let nodes: ChorusNode[] = [];

  before(async () => {
    nodes = await startCluster(5, {
      roles,
      config: () => ({ keys: { keyring } }),
      admit: (author) => admitted.size === 0 || admitted.has(author),
    });
    for (const n of nodes) admitted.add(n.peerId);
  });
  after(() => stopAll(nodes));

  test('put on one node, get from every other: permitted roles read the plaintext, observers are refused', async () => {
    const a = addr('ucxl://alice:architect@chorus:design/*^/adr/0001.md');
    const receipt = await nodes[0]!.decisions.put(a, text('use libp2p'), {
      roles: ['developer'],
      contentType: 'text/markdown',
    });
    assert.equal(receipt.version, 1);
    assert.ok(receipt.holders >= 3);
    for (const [i, n] of nodes.entries()) {
      if (i === 0) continue;
      if (roles[i] === 'observer') {
        await assert.rejects(n.decisions.get(a), (err: unknown) => err instanceof NotARecipientError);
        assert.equal((await n.decisions.resolve(a)).contentType, 'text/markdown', 'metadata stays readable');
      } else {
        const got = await n.decisions.get(a);
        assert.equal(str(got.content), 'use libp2p', `${roles[i]} reads it`);
        assert.equal(got.meta.author, nodes[0]!.peerId);
      }
    }
    // the writer announces itself as a provider of the decision (in the background, once writes pause)
    await until('the writer as a provider', async () =>
      (await nodes[3]!.decisions.providers(a)).includes(nodes[0]!.peerId),
    );
  });

  test("a subject's first version goes out as a create: no replica is read before it", async () => {
    const subject = 'frank:developer@chorus:create/first';
    const writer = nodes[3]!;
    const writes: { create: boolean; stored: boolean; version: number }[] = [];
    const onWrite = (w: { subject: string; create: boolean; stored: boolean; version: number }): void => {
      if (w.subject === subject) writes.push({ create: w.create, stored: w.stored, version: w.version });
    };
    writer.decisions.on('write', onWrite);
    const getFrom = DirectReplicas.prototype.getFrom;
    let reads = 0;
    DirectReplicas.prototype.getFrom = function (this: DirectReplicas, peer, key, signal) {
      if (Buffer.from(key).equals(latestKey(subject))) reads++;
      return getFrom.call(this, peer, key, signal);
    };
    try {
      const receipt = await writer.decisions.put(addr('ucxl://frank:developer@chorus:create/*^/first'), text('one'));
      assert.equal(receipt.version, 1);
      assert.ok(receipt.holders >= 3, `holders: ${receipt.holders}`);
    } finally {
      DirectReplicas.prototype.getFrom = getFrom;
      writer.decisions.off('write', onWrite);
    }
    assert.deepEqual(writes, [{ create: true, stored: true, version: 1 }]);
    assert.equal(reads, 0, 'no replica was asked for the subject before the write');
    assert.equal(
      str((await nodes[1]!.decisions.get(addr('ucxl://frank:developer@chorus:create/*^/first'))).content),
      'one',
    );
  });

  test('a provider announcement goes one hop to the closest peers, without a kad-dht walk', async () => {
    const writer = nodes[2]!;
    const dht = writer.libp2p.services.dht;
    const walk = dht.provide.bind(dht);
    let walks = 0;
    dht.provide = (...args: Parameters<typeof dht.provide>) => {
      walks++;
      return walk(...args);
    };
    try {
      const a = addr('ucxl://carol:developer@chorus:ops/*^/runbook.md');
      await writer.decisions.put(a, text('restart politely'));
      await until('the writer as a provider', async () =>
        (await nodes[4]!.decisions.providers(a)).includes(writer.peerId),
      );
      assert.equal(walks, 0, 'no iterative provide walk: ADD_PROVIDER went straight to the closest peers');
    } finally {
      dht.provide = walk;
    }
  });

  test('every node hears of a new version without a message on the hints topic (the write or a signed note tells it)', async () => {
    let gossiped = 0;
    const count = (m: { topic: string }): void => {
      if (m.topic === DECISION_HINTS_TOPIC) gossiped++;
    };
    for (const n of nodes) n.pubsub.on('message', count);
    try {
      const writer = nodes[1]!;
      for (const [i, path] of ['notes/a', 'notes/b', 'notes/c'].entries()) {
        const subject = `dave:developer@chorus:hints/${path}`;
        await writer.decisions.put(addr(`ucxl://dave:developer@chorus:hints/*^/${path}`), text(`note ${i}`));
        await Promise.all(nodes.map((n) => heard(n, subject, 1)));
      }
      assert.equal(gossiped, 0, 'no version hint went through GossipSub');
    } finally {
      for (const n of nodes) n.pubsub.off('message', count);
    }
  });

  test('temporal navigation across 6 versions written by different nodes', async () => {
    const base = 'ucxl://bob:developer@chorus:api';
    for (let v = 1; v <= 6; v++) {
      const r = await nodes[v % 2 === 0 ? 1 : 3]!.decisions.put(addr(`${base}/*^/spec`), text(`v${v}`));
      assert.equal(r.version, v);
    }
    const reader = nodes[4]!; // admin
    await Promise.all([
      heard(reader, 'bob:developer@chorus:api/spec', 6),
      heard(nodes[2]!, 'bob:developer@chorus:api/spec', 6),
    ]);
    const read = async (t: string) => str((await reader.decisions.get(addr(`${base}/${t}/spec`))).content);
    assert.equal(await read('*^'), 'v6');
    assert.equal(await read('*~'), 'v1');
    assert.equal(await read('*~4'), 'v4');
    assert.equal(await read('~~2'), 'v4');
    assert.equal(await read('^^2'), 'v3');
    await assert.rejects(read('*~9'), /no such version|not found/);
    const history = await nodes[2]!.decisions.history(addr(`${base}/*^/spec`));
    assert.deepEqual(
      history.map((m) => m.version),
      [6, 5, 4, 3, 2, 1],
    );
    for (let i = 0; i < history.length - 1; i++) assert.equal(history[i]!.prevHash, history[i + 1]!.hash);
  });

  test('a forged version hint changes nothing: a write after it succeeds and every reader gets it', async () => {
    const subject = 'eve:developer@chorus:hints/target';
    const a = addr('ucxl://eve:developer@chorus:hints/*^/target');
    assert.equal((await nodes[1]!.decisions.put(a, text('v1'))).version, 1);
    // an admitted node (the observer) announces a version nobody wrote
    const forger = nodes[2]!;
    const others = nodes.filter((n) => n !== forger);
    await forger.pubsub.publishRaw(DECISION_HINTS_TOPIC, { subject, version: 1e9, hash: 'f'.repeat(64) });
    await Promise.all(others.map((n) => heard(n, subject, 1e9)));
    const receipt = await nodes[3]!.decisions.put(a, text('after the forged hint'));
    assert.equal(receipt.version, 2);
    assert.ok(receipt.holders >= 3, `holders: ${receipt.holders}`);
    for (const n of others) {
      assert.equal(str((await n.decisions.get(a)).content), 'after the forged hint', `${n.config.agent.role} reads v2`);
    }
  });

  test('forged, unadmitted and stale records are refused by every node', async () => {
    const subject = 'mallory:developer@chorus:x/evil';
    const honest = nodes[1]!;
    const v1 = await honest.decisions.put(addr(`ucxl://${subject.replace('/evil', '/*^/evil')}`), text('real'));
    assert.equal(v1.version, 1);
    await honest.decisions.put(addr(`ucxl://${subject.replace('/evil', '/*^/evil')}`), text('real v2'));
    await Promise.all(nodes.map((n) => heard(n, subject, 2)));

    const outsiderKey = await generateKeyPair('Ed25519');
    const outsider = signerFor(outsiderKey);
    const base = (author: string, version: number): Omit<DecisionRecord, 'hash' | 'signature'> => ({
      v: 1,
      subject,
      version,
      author,
      authorRole: 'developer',
      timestamp: new Date().toISOString(),
      contentType: 'text/plain',
      prevHash: version === 1 ? '' : 'a'.repeat(64),
      roles: ['developer'],
      payload: '',
      size: 0,
    });
    const insider = signerFor(nodes[2]!.identity.privateKey);
    const badSignature = {
      ...signDecision(base(insider.author, 7), insider.sign),
      signature: Buffer.alloc(64).toString('base64'),
    };
    const unadmitted = signDecision(base(outsider.author, 8), outsider.sign);
    const stale = signDecision(base(insider.author, 1), insider.sign);
    const attacker = nodes[2]!;
    for (const [name, record] of [
      ['bad signature', badSignature],
      ['unadmitted author', unadmitted],
      ['stale version', stale],
    ] as const) {
      let stored = 0;
      try {
        for await (const e of attacker.libp2p.services.dht.put(latestKey(subject), encodeRecord(record), {
          signal: AbortSignal.timeout(5000),
        })) {
          if (e.name === 'PEER_RESPONSE' && e.messageName === 'PUT_VALUE' && e.record) stored++;
        }
      } catch {
        // a put that nobody accepts may end in an error
      }
      assert.equal(stored, 0, `${name}: no peer stored it`);
    }
    for (const n of nodes) {
      if (n === attacker) continue; // kad-dht stores a put locally before sending it anywhere
      const local = await n.decisions.localRecord(latestKey(subject));
      if (local) assert.match(str(local), /"version":2/, 'every holder keeps the real newest version');
      if (n.config.agent.role !== 'observer') {
        assert.equal(
          str((await n.decisions.get(addr('ucxl://mallory:developer@chorus:x/*^/evil'))).content),
          'real v2',
        );
      }
    }
  });

  test('a node that never heard of a subject writes after its newest version; its create is taken back', async () => {
    const subject = 'grace:developer@chorus:create/known';
    const a = (t: string): ReturnType<typeof addr> => addr(`ucxl://grace:developer@chorus:create/${t}/known`);
    await nodes[0]!.decisions.put(a('*^'), text('first'), { roles: ['developer'] });
    await nodes[1]!.decisions.put(a('*^'), text('second'), { roles: ['developer'] });
    // a sixth node joins after both writes: it knows every peer, and nothing of the subject
    const late = await startNode(
      { agent: { role: 'developer' }, keys: { keyring }, pubsub: { meshWaitMs: 5000 } },
      {},
      (author) => admitted.has(author),
    );
    try {
      admitted.add(late.peerId);
      for (const n of nodes) await late.libp2p.dial(n.libp2p.getMultiaddrs()[0]!);
      const table = (late.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable;
      await until('the late node knows every peer', () => table.size >= nodes.length);
      assert.equal(late.decisions.knownVersion(subject), undefined);
      // one replica of version 1 lost its copies: it takes the late node's create, and gives it back
      // (decisions-create.test.ts checks the same without the re-replication that a join sets off)
      const v1 = versionKey(subject, 1);
      const wiped = nodes.find((n) =>
        closestOf(
          v1,
          [...nodes, late].map((p) => p.peerId),
          3,
        ).includes(n.peerId),
      )!;
      for (const key of [v1, latestKey(subject)]) await wiped.datastore.delete(recordDatastoreKey(key));
      const writes: { create: boolean; stored: boolean; version: number }[] = [];
      late.decisions.on('write', (w) => writes.push({ create: w.create, stored: w.stored, version: w.version }));

      const receipt = await late.decisions.put(a('*^'), text('third'), { roles: ['developer'] });
      assert.deepEqual(writes, [
        { create: true, stored: false, version: 1 },
        { create: false, stored: true, version: 3 },
      ]);
      assert.equal(receipt.version, 3);
      await Promise.all(nodes.map((n) => heard(n, subject, 3)));
      const reader = nodes[3]!;
      assert.equal(str((await reader.decisions.get(a('*^'))).content), 'third');
      for (const n of [reader, late]) {
        assert.equal(str((await n.decisions.get(a('*~1'))).content), 'first', 'version 1 is the first write');
      }
      const history = await reader.decisions.history(a('*^'));
      assert.deepEqual(
        history.map((m) => m.version),
        [3, 2, 1],
      );
      for (let i = 0; i < history.length - 1; i++) assert.equal(history[i]!.prevHash, history[i + 1]!.hash);
      assert.equal(history[2]!.author, nodes[0]!.peerId);
      // (the replicas' re-replication after the late node joined may have brought the first writer's version back)
      const kept = await wiped.decisions.localRecord(v1);
      assert.notEqual(kept && JSON.parse(str(kept)).author, late.peerId, "the late node's version 1 was taken back");

      // the late node stops while the others still count it among the closest peers of a new subject: a write
      // of that subject passes it over, and is still the subject's version 1
      const peers = [...nodes, late].map((n) => n.peerId);
      const dead = Array.from({ length: 500 }, (_, i) => `heidi:developer@chorus:create/dead-${i}`).find((s) =>
        closestOf(latestKey(s), peers, 3).includes(late.peerId),
      )!;
      await late.stop();
      writes.length = 0;
      const writer = nodes[2]!;
      writer.decisions.on('write', (w) => writes.push({ create: w.create, stored: w.stored, version: w.version }));
      const first = await writer.decisions.put(
        addr(`ucxl://${dead.replace('/dead-', '/*^/dead-')}`),
        text('despite a dead peer'),
      );
      assert.equal(first.version, 1);
      assert.ok(first.holders >= 3, `holders: ${first.holders}`);
      assert.deepEqual(writes.at(-1), { create: true, stored: true, version: 1 });
    } finally {
      await late.stop();
    }
  });
});

describe('holders lost and regained', () => {
  test('a decision stays readable down to one holder, is re-replicated on return, and survives a full restart', async () => {
    const keyring = join(mkdtempSync(join(tmpdir(), 'chorus-keys-')), 'keyring.json');
    let nodes = await startCluster(5, { config: () => ({ keys: { keyring }, dht: { republishIntervalMs: 600_000 } }) });
    try {
      const a = addr('ucxl://carol:developer@chorus:ops/*^/runbook');
      const writer = nodes[0]!;
      await writer.decisions.put(a, text('restart the mesh'));
      const key = latestKey('carol:developer@chorus:ops/runbook');
      const holders = await holdersOf(nodes, key);
      assert.ok(holders.length >= 3);
      const reader = nodes.find((n) => !holders.includes(n)) ?? nodes[4]!;
      const stopped: ChorusNode[] = [];
      for (const h of holders.filter((n) => n !== reader).slice(0, holders.length - 1)) {
        await h.stop();
        stopped.push(h);
        assert.equal(
          str((await reader.decisions.get(a)).content),
          'restart the mesh',
          `readable with ${holders.length - stopped.length} holder(s) left`,
        );
      }
      // the holders come back (same data dirs); the survivors re-replicate when they connect
      const back = await Promise.all(stopped.map((n) => startWithConfig(n.config)));
      nodes = nodes.map((n) => back.find((b) => b.peerId === n.peerId) ?? n);
      await connectAll(nodes);
      await until('3 holders again', async () => (await holdersOf(nodes, key)).length >= 3);

      // every node restarts: decisions persist in each data dir
      const configs = nodes.map((n) => n.config);
      await stopAll(nodes);
      nodes = [];
      for (const c of configs) nodes.push(await startWithConfig(c));
      await connectAll(nodes);
      for (const n of nodes) assert.equal(str((await n.decisions.get(a)).content), 'restart the mesh');
      assert.equal(
        str((await nodes[2]!.decisions.get(addr('ucxl://carol:developer@chorus:ops/*~1/runbook'))).content),
        'restart the mesh',
      );
      await assert.rejects(
        nodes[1]!.decisions.get(addr('ucxl://carol:developer@chorus:ops/*^/missing')),
        (e: unknown) => e instanceof NotFoundError,
      );
    } finally {
      await stopAll(nodes);
    }
  });
});
