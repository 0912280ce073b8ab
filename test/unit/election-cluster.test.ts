// Elections on real libp2p nodes in one process, with election links that can be cut: bootstrap of
// the voter set, leader kill → new leader, partition 2|3 (the minority never elects), heal, graceful
// hand-over on stop, and the leader-only paths (SLURP context, SHHH policy) across a leader change.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NotLeaderError } from '../../src/core/election/errors.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import type { ReceivedMessage } from '../../src/core/pubsub/pubsub.ts';
import {
  connectAll,
  cutElection,
  electionAgreed,
  FAST_ELECTION,
  healElection,
  killNode,
  startCluster,
  startWithConfig,
  stopAll,
} from '../helpers/cluster.ts';
import { nextEvent } from '../helpers/events.ts';

const electionConfig = (expect: number) => () => ({ election: { expect, ...FAST_ELECTION } });

describe('a 3-voter cluster of real nodes', () => {
  let nodes: ChorusNode[] = [];
  before(async () => {
    nodes = await startCluster(3, { config: electionConfig(3) });
  });
  after(() => stopAll(nodes));

  test('bootstrap commits the same voter set everywhere and elects one leader', async () => {
    const leader = await electionAgreed(nodes);
    const ids = nodes.map((n) => n.peerId).sort();
    for (const n of nodes) {
      assert.deepEqual(n.election.raft.voters, ids);
      assert.equal(n.election.raft.votersSource, 'expect:3');
      const s = n.election.status();
      assert.equal(s.leader?.peerId, leader);
      assert.equal(s.voters.length, 3);
      assert.equal(n.status().election?.leader, leader);
    }
  });

  test('leader-only writes: a follower refuses naming the leader; the leader’s record reaches everyone', async () => {
    const leaderId = await electionAgreed(nodes);
    const leader = nodes.find((n) => n.peerId === leaderId) as ChorusNode;
    const follower = nodes.find((n) => n.peerId !== leaderId) as ChorusNode;
    await assert.rejects(follower.election.putContext('k', { v: 1 }), (err: unknown) => {
      assert.ok(err instanceof NotLeaderError);
      assert.equal(err.leader, leaderId);
      assert.match(err.message, new RegExp(leaderId));
      return true;
    });
    const result = await leader.election.putContext('design/1', { text: 'use Raft' });
    assert.equal(result.committed, true);
    assert.ok(result.acceptedBy >= 2, `a majority held it when it committed (${result.acceptedBy})`);
    for (const n of nodes) {
      await n.election.log.waitApplied(result.seq, AbortSignal.timeout(5000));
      const [entry] = n.election.contexts('design/1');
      assert.deepEqual(entry?.content, { text: 'use Raft' });
      assert.equal(entry?.leader, leaderId);
    }
  });

  test('an accepted SHHH policy replaces the extra redaction rules on every node', async () => {
    const leaderId = await electionAgreed(nodes);
    const leader = nodes.find((n) => n.peerId === leaderId) as ChorusNode;
    const [sender, receiver] = nodes.filter((n) => n !== leader) as [ChorusNode, ChorusNode];
    const written = await leader.election.setPolicy({
      rules: [{ name: 'project-codename', pattern: 'BLUEBIRD-[0-9]+' }],
    });
    for (const n of nodes) {
      await n.election.log.waitApplied(written.seq, AbortSignal.timeout(5000));
      assert.equal(n.election.policy().rules[0]?.name, 'project-codename');
    }
    const got = nextEvent<ReceivedMessage>(receiver.pubsub, 'message', (m) => m.envelope?.data.probe === 'shhh');
    await sender.pubsub.publish('TaskAnnouncement', { probe: 'shhh', note: 'ship BLUEBIRD-7 today' });
    assert.equal((await got).envelope?.data.note, 'ship [REDACTED:project-codename] today');
  });

  test('kill the leader → the survivors elect another; the old leader’s entries are refused; it rejoins as follower', async () => {
    const oldId = await electionAgreed(nodes);
    const old = nodes.find((n) => n.peerId === oldId) as ChorusNode;
    const oldTerm = old.election.raft.term;
    const survivors = nodes.filter((n) => n !== old);
    await killNode(old);
    const newId = await electionAgreed(survivors);
    assert.notEqual(newId, oldId);
    const follower = survivors.find((n) => n.peerId !== newId) as ChorusNode;
    assert.ok(follower.election.raft.term > oldTerm);
    const newLeader = survivors.find((n) => n.peerId === newId) as ChorusNode;
    const voters = newLeader.election.raft.voters as string[];
    const [lastTerm, lastIndex] = follower.election.log.position();
    const entry = (term: number) => ({
      index: lastIndex + 1,
      term,
      kind: 'records',
      data: { kind: 'slurp-context', leader: follower.peerId, issuedAt: 'now', payload: { key: 'late', content: 1 } },
    });
    const heartbeat = (term: number, leader: string) => ({
      type: 'heartbeat' as const,
      term,
      leader,
      voters,
      since: 0,
      append: { prev: [lastIndex, lastTerm] as const, entries: [entry(term)], commit: lastIndex + 1 },
    });
    // the old leader's term is over: its entries are refused (sent here by the new leader's transport)
    const stale = await follower.election.raft.handle(oldId, heartbeat(oldTerm, oldId));
    assert.deepEqual([stale.ok, stale.reason], [false, 'stale-term']);
    // a follower naming the leader as the sender is refused: the sender is the authenticated peer
    const spoofed = await follower.election.transport.send(newId, heartbeat(newLeader.election.raft.term, newId), 2000);
    assert.deepEqual([spoofed.ok, spoofed.reason], [false, 'spoofed']);
    // a follower claiming to lead the current term is refused: the term has its leader
    await assert.rejects(
      follower.election.transport.send(newId, heartbeat(follower.election.raft.term, follower.peerId), 2000),
      'two leaders in one term are never accepted',
    );
    assert.deepEqual(follower.election.contexts('late'), []);
    assert.deepEqual(newLeader.election.contexts('late'), []);
    // restart the old leader from its data dir: it follows and catches up on the log
    const back = await startWithConfig(old.config);
    nodes = [...survivors, back];
    await connectAll(nodes);
    assert.equal(await electionAgreed(nodes), newId);
    assert.equal(back.election.raft.state, 'follower');
    const written = await newLeader.election.putContext('after', 2);
    await back.election.log.waitApplied(written.seq, AbortSignal.timeout(5000));
    assert.deepEqual(
      back.election.contexts('after').map((c) => c.content),
      [2],
    );
    assert.equal(back.election.contexts('design/1').length, 1, 'records held before the crash survive it');
  });

  test('graceful stop hands leadership over in one election', async () => {
    const leaderId = await electionAgreed(nodes);
    const leader = nodes.find((n) => n.peerId === leaderId) as ChorusNode;
    const term = leader.election.raft.term;
    const rest = nodes.filter((n) => n !== leader);
    await leader.stop();
    const next = await electionAgreed(rest);
    const successor = rest.find((n) => n.peerId === next) as ChorusNode;
    assert.equal(successor.election.raft.term, term + 1, 'the successor won the very next term (TimeoutNow)');
    nodes = rest;
  });
});

describe('a 5-voter cluster of real nodes', () => {
  let nodes: ChorusNode[] = [];
  before(async () => {
    nodes = await startCluster(5, { config: electionConfig(5) });
  });
  after(() => stopAll(nodes));

  test('partition 2|3: the minority never elects, the majority does; heal → one leader, the old one follows', async () => {
    const oldId = await electionAgreed(nodes);
    const old = nodes.find((n) => n.peerId === oldId) as ChorusNode;
    const minority = [old, nodes.find((n) => n !== old) as ChorusNode];
    const majority = nodes.filter((n) => !minority.includes(n));
    const minorityLeaders: string[] = [];
    const watchers = minority.map((n) => {
      const on = (role: string): void => {
        if (role === 'leader') minorityLeaders.push(n.peerId);
      };
      n.election.raft.on('state', on);
      return () => n.election.raft.off('state', on);
    });
    const stepDown = nextEvent(old.election.raft, 'quorum-lost', () => true, 15_000);
    cutElection([minority, majority]);
    const newId = await electionAgreed(majority);
    assert.ok(majority.some((n) => n.peerId === newId));
    await stepDown;
    assert.equal(old.election.raft.state, 'follower');
    await assert.rejects(old.election.putContext('x', 1), NotLeaderError);
    // the minority keeps trying: two failed pre-vote rounds each, and still nobody leads there
    const termsBefore = minority.map((n) => n.election.raft.term);
    for (const n of minority) {
      let failures = 0;
      await nextEvent(n.election.raft, 'prevote-failed', () => ++failures >= 2, 15_000);
    }
    assert.deepEqual(minorityLeaders, []);
    assert.deepEqual(
      minority.map((n) => n.election.raft.term),
      termsBefore,
      'pre-vote: no term inflation in the minority',
    );
    for (const w of watchers) w();
    const current = await electionAgreed(majority);
    assert.ok(majority.some((n) => n.peerId === current) && current !== oldId && newId !== oldId);
    healElection(nodes);
    assert.equal(await electionAgreed(nodes), current, 'healing keeps the majority’s leader');
    assert.equal(old.election.raft.leader, current);
  });
});

describe('configured voters and observers', () => {
  let nodes: ChorusNode[] = [];
  after(() => stopAll(nodes));

  test('lone nodes lead themselves; restarted with election.voters they form one set, the third observes', async () => {
    const lone = await startCluster(3, { config: () => ({ election: FAST_ELECTION }) });
    nodes = lone;
    for (const n of lone) {
      if (n.election.raft.state !== 'leader') await nextEvent(n.election.raft, 'state', (r) => r === 'leader');
      assert.deepEqual(n.election.raft.voters, [n.peerId], 'a lone node leads its own single-voter set');
    }
    const voters = [lone[0]?.peerId, lone[1]?.peerId] as string[];
    await stopAll(lone);
    nodes = [];
    for (const n of lone) {
      nodes.push(await startWithConfig({ ...n.config, election: { ...n.config.election, voters } }));
    }
    await connectAll(nodes);
    const leader = await electionAgreed(nodes);
    assert.ok(voters.includes(leader));
    const observer = nodes[2] as ChorusNode;
    assert.equal(observer.election.raft.isVoter, false);
    assert.equal(observer.election.raft.votersSource, 'config');
    const writer = nodes.find((n) => n.peerId === leader) as ChorusNode;
    const result = await writer.election.putContext('observed', true);
    assert.equal(result.voters, 2);
    await observer.election.log.waitApplied(result.seq, AbortSignal.timeout(5000));
    assert.deepEqual(
      observer.election.contexts('observed').map((c) => c.content),
      [true],
    );
    await assert.rejects(observer.election.putContext('x', 1), NotLeaderError);
  });
});
