// A lone node (the only voter of its cluster, no peer known) keeps decisions on itself: the README's first
// `chorus node --dev` can write and read them, and an agent next to it can complete tasks with results.
// A node that belongs to a larger cluster but knows no peer right now still refuses the write loudly —
// without first waiting out a kad-dht walk that has nobody to ask.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { renderPut } from '../../src/cli/views/ucxl.ts';
import { latestKey, versionKey } from '../../src/core/decisions/record.ts';
import { putDecision } from '../../src/core/decisions/routes.ts';
import { ChorusError } from '../../src/core/errors.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { parseAddress } from '../../src/core/ucxl/address.ts';
import { startNode, stopAll } from '../helpers/cluster.ts';
import { until } from '../helpers/poll.ts';

const text = (s: string) => new TextEncoder().encode(s);

describe('decisions on a node without peers', () => {
  const nodes: ChorusNode[] = [];
  after(() => stopAll(nodes));

  test('a lone node (sole voter) stores a decision on itself and reads it back', async () => {
    const lone = await startNode({ dht: { timeoutMs: 3000 } });
    nodes.push(lone);
    await until('the lone node leads its cluster of one', async () => lone.election.soleVoter());
    const address = parseAddress('ucxl://alice:developer@solo:t1/*^/adr.md');
    const receipt = await lone.decisions.put(address, text('kept here'));
    assert.deepEqual([receipt.version, receipt.holders, receipt.replication], [1, 1, 1]);
    const second = await lone.decisions.put(address, text('and again'));
    assert.equal(second.version, 2);
    const latest = new TextDecoder().decode(latestKey('alice:developer@solo:t1/adr.md'));
    assert.equal(lone.decisions.fellShort()(latest), false, 'a lone node needs only itself: nothing fell short');
    const read = await lone.decisions.get(parseAddress('ucxl://alice:developer@solo:t1/*^/adr.md'));
    assert.equal(new TextDecoder().decode(read.content), 'and again');
  });

  test('held records carry when they were stored; a pass takes only those it asks for', async () => {
    const lone = await startNode({ dht: { timeoutMs: 3000 } });
    nodes.push(lone);
    await until('the lone node leads its cluster of one', async () => lone.election.soleVoter());
    const before = Date.now();
    await lone.decisions.put(parseAddress('ucxl://alice:developer@solo:t2/*^/a.md'), text('one'));
    await lone.decisions.put(parseAddress('ucxl://alice:developer@solo:t2/*^/b.md'), text('two'));
    const stored = Date.now();
    const all = [];
    for await (const r of lone.decisions.heldRecords()) all.push(r);
    assert.equal(all.length, 4, 'a latest-version and a version record per decision');
    for (const r of all) assert.ok(r.storedAt >= before && r.storedAt <= stored, `${r.dhtKey} stored at ${r.storedAt}`);
    const asked: string[] = [];
    const latest = [];
    for await (const r of lone.decisions.heldRecords({
      wanted: (dhtKey) => (asked.push(dhtKey), dhtKey.startsWith('/ucxl/')),
    }))
      latest.push(r);
    assert.equal(asked.length, 4, 'every held record is offered');
    assert.deepEqual(latest.map((r) => r.record.subject).sort(), [
      'alice:developer@solo:t2/a.md',
      'alice:developer@solo:t2/b.md',
    ]);
  });

  test('publish decision on a lone node: stored, and the receipt says nobody was there to tell', async () => {
    const lone = await startNode({ dht: { timeoutMs: 3000 }, pubsub: { meshWaitMs: 100 } });
    nodes.push(lone);
    await until('the lone node leads its cluster of one', async () => lone.election.soleVoter());
    await until('the lone node expects no peer', () => !lone.pubsub.mayMeetPeers());
    lone.pubsub.setMeshWait(600_000); // past its start-up grace a lone node does not wait for the mesh
    const content = Buffer.from('release notes').toString('base64');
    const address = 'ucxl://alice:developer@solo:t3/*^/notes.md';
    const receipt = await putDecision(lone, { address, content, announce: true });
    assert.equal(receipt.version, 1);
    assert.deepEqual(receipt.announcement, {
      topic: 'CHORUS/coordination/v1',
      sent: false,
      note: 'no peer is subscribed to CHORUS/coordination/v1: this node is connected to no peer and is not dialling one',
    });
    assert.match(renderPut(receipt), /^stored .+\nnot announced: no peer is subscribed to CHORUS\/coordination\/v1/);
    // any other failure of the announcement names the version that was stored
    const failing = {
      decisions: lone.decisions,
      pubsub: { publish: () => Promise.reject(new ChorusError('SHHH_DENIED', 'refused by a deny rule')) },
    } as unknown as Parameters<typeof putDecision>[0];
    await assert.rejects(putDecision(failing, { address, content, announce: true }), {
      code: 'SHHH_DENIED',
      message: /^stored ucxl:\/\/alice:developer@solo:t3\/\*~2\/notes\.md \(version 2\), but its announcement failed: /,
    });
  });

  test('a member of a 3-voter cluster with no peer known refuses the write as under-replicated', async () => {
    const cut = await startNode({ dht: { timeoutMs: 3000 }, election: { expect: 3 } });
    nodes.push(cut);
    assert.equal(cut.election.soleVoter(), false);
    await assert.rejects(
      cut.decisions.put(parseAddress('ucxl://alice:developer@solo:t2/*^/adr.md'), text('not enough')),
      /stored on 1 of 3 required peers \(version 1 is kept locally/,
    );
    // the schedule re-puts what fell short although it was stored within its interval
    const subject = 'alice:developer@solo:t2/adr.md';
    const keys = [latestKey(subject), versionKey(subject, 1)].map((k) => new TextDecoder().decode(k));
    const asOfNow = cut.decisions.fellShort();
    assert.deepEqual(
      keys.map((k) => asOfNow(k)),
      [true, true],
    );
    assert.equal(asOfNow(new TextDecoder().decode(latestKey('alice:developer@solo:t2/other.md'))), false);
    cut.decisions.replicated(subject, 3, 3); // a re-put of its latest record that reached its holders
    assert.deepEqual(
      keys.map((k) => asOfNow(k)),
      [true, true],
      'a pass that asked before still re-puts the version record',
    );
    assert.deepEqual(
      keys.map((k) => cut.decisions.fellShort()(k)),
      [false, false],
    );
    // bounded: 10,000 subjects; beyond that the oldest flag goes (the schedule re-puts it when it is due)
    const many = Array.from({ length: 10_001 }, (_, i) => `alice:developer@solo:t2/many-${i}.md`);
    for (const m of many) cut.decisions.replicated(m, 1, 3);
    const flagged = cut.decisions.fellShort();
    const latestOf = (m: string) => new TextDecoder().decode(latestKey(m));
    assert.deepEqual(
      [flagged(latestOf(many[0]!)), flagged(latestOf(many[1]!)), flagged(latestOf(many[10_000]!))],
      [false, true, true],
    );
  });
});
