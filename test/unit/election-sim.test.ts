// The election state machine on a simulated network with a virtual clock: basic elections, pre-vote,
// quorum loss, hand-over, persisted votes, log replication with snapshots, and ≥ 100 randomized
// partition/kill/restart cycles under an invariant checker (one leader per term; the same entry at the
// same index on every node; every acknowledged entry in every later leader's log; convergence).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Raft } from '../../src/core/election/raft.ts';
import { MemoryElectionStorage } from '../../src/core/election/state.ts';
import type { ListMachine } from '../helpers/election-sim.ts';
import { SIM_TIMING, SimCluster } from '../helpers/election-sim.ts';

async function settle(c: SimCluster, ms = 3000): Promise<string> {
  await c.clock.advance(ms);
  const leaders = c.leaders();
  assert.equal(leaders.length, 1, `one leader, got ${leaders.join(',') || 'none'}`);
  const leader = leaders[0] as string;
  for (const id of c.alive()) assert.equal(c.raft(id)?.leader, leader, `${id} follows ${leader}`);
  return leader;
}

describe('election state machine (simulated network)', () => {
  test('a 5-voter cluster elects one leader that every node follows; killing it elects another', async () => {
    const c = new SimCluster(5, 1);
    c.startAll();
    const first = await settle(c);
    const term = c.raft(first)?.term as number;
    c.kill(first);
    const second = await settle(c);
    assert.notEqual(second, first);
    assert.ok((c.raft(second)?.term as number) > term);
    assert.deepEqual(c.violations, []);
  });

  test('a single-voter cluster leads itself at once', async () => {
    const c = new SimCluster(1, 2);
    c.startAll();
    await c.clock.advance(1);
    assert.deepEqual(c.leaders(), ['n0']);
    assert.equal(c.raft('n0')?.canWrite(), true);
  });

  test('partition 2|3: the minority never elects, its old leader steps down; after healing one leader', async () => {
    const c = new SimCluster(5, 3);
    c.startAll();
    const leader = await settle(c);
    const minority = [leader, c.ids.find((id) => id !== leader) as string];
    const majority = c.ids.filter((id) => !minority.includes(id));
    c.partition([minority, majority]);
    let lost = false;
    c.raft(leader)?.once('quorum-lost', () => (lost = true));
    await c.clock.advance(5000);
    assert.ok(lost, 'the isolated leader noticed quorum loss');
    for (const id of minority) assert.notEqual(c.raft(id)?.state, 'leader');
    const majorityLeaders = majority.filter((id) => c.raft(id)?.state === 'leader');
    assert.equal(majorityLeaders.length, 1);
    const minorityTerm = c.raft(minority[1] as string)?.term as number;
    await c.clock.advance(10_000);
    assert.equal(c.raft(minority[1] as string)?.term, minorityTerm, 'pre-vote: the minority does not inflate terms');
    c.heal();
    const after = await settle(c);
    assert.equal(after, majorityLeaders[0], 'healing does not disturb the majority leader');
    assert.equal(c.raft(leader)?.leader, after, 'the old leader follows');
    assert.deepEqual(c.violations, []);
  });

  test('a returning node does not disrupt a healthy leader (pre-vote + lease)', async () => {
    const c = new SimCluster(3, 4);
    c.startAll();
    const leader = await settle(c);
    const term = c.raft(leader)?.term as number;
    const other = c.ids.find((id) => id !== leader) as string;
    c.partition([[other], c.ids.filter((id) => id !== other)]);
    await c.clock.advance(10_000);
    c.heal();
    await c.clock.advance(2000);
    assert.equal(c.leaders()[0], leader);
    assert.equal(c.raft(leader)?.term, term);
  });

  test('resign hands leadership to the best-scored follower', async () => {
    const c = new SimCluster(3, 5, { ...SIM_TIMING, stabilityMs: 1e9 });
    c.startAll();
    const leader = await settle(c);
    const best = c.ids.find((id) => id !== leader) as string;
    c.setScore(best, 0.9);
    await c.clock.advance(200);
    const resigned = c.raft(leader)?.resign();
    await c.clock.advance(100);
    assert.equal(await resigned, best);
    await c.clock.advance(500);
    assert.deepEqual(c.leaders(), [best]);
  });

  test('a much better voter takes over after the stability window', async () => {
    const c = new SimCluster(3, 6, { ...SIM_TIMING, stabilityMs: 5000 });
    for (const id of c.ids) c.setScore(id, 0.2);
    c.startAll();
    const leader = await settle(c);
    const best = c.ids.find((id) => id !== leader) as string;
    c.setScore(best, 0.95);
    await c.clock.advance(1000);
    assert.equal(c.leaders()[0], leader, 'no hand-over inside the stability window');
    await c.clock.advance(3000);
    assert.deepEqual(c.leaders(), [best]);
    assert.deepEqual(c.violations, []);
  });

  test('trigger on a follower asks the leader to hand over', async () => {
    const c = new SimCluster(3, 7);
    c.startAll();
    const leader = await settle(c);
    const follower = c.ids.find((id) => id !== leader) as string;
    const p = c.raft(follower)?.trigger() as Promise<{ action: string }>;
    await c.clock.advance(100);
    assert.equal((await p).action, 'asked-leader');
    await c.clock.advance(1000);
    assert.equal(c.leaders().length, 1);
    assert.notEqual(c.leaders()[0], leader);
  });

  test('a vote is persisted before it is answered and never given twice in a term', async () => {
    const storage = new MemoryElectionStorage();
    const mk = () =>
      new Raft({ id: 'v', storage, transport: { send: () => Promise.reject(new Error('x')) }, preVote: false });
    let voter = mk();
    voter.setVoters(['a', 'b', 'v'], 'config');
    voter.start();
    const voters = 'a,b,v';
    const r1 = await voter.handle('a', { type: 'vote', term: 1, candidate: 'a', voters, transfer: true });
    assert.equal(r1.ok, true);
    assert.equal(storage.load().votedFor, 'a');
    assert.equal(storage.load().currentTerm, 1);
    voter.halt();
    voter = mk(); // restart from the persisted state
    voter.start();
    const r2 = await voter.handle('b', { type: 'vote', term: 1, candidate: 'b', voters, transfer: true });
    assert.equal(r2.ok, false);
    assert.equal(r2.reason, 'already-voted');
    const r3 = await voter.handle('b', { type: 'vote', term: 1, candidate: 'a', voters, transfer: true });
    assert.equal(r3.reason, 'spoofed', 'the candidate is the authenticated sender');
    const r4 = await voter.handle('b', { type: 'vote', term: 2, candidate: 'b', voters: 'a,b', transfer: true });
    assert.equal(r4.reason, 'voter-set', 'a candidate with another voter set gets no vote');
    voter.halt();
  });

  test('log: the leader’s entries are applied on every node in order; a lagging node catches up by snapshot', async () => {
    const c = new SimCluster(3, 8, { snapshotEvery: 10 });
    c.startAll();
    const leader = await settle(c);
    const lagging = c.ids.find((id) => id !== leader) as string;
    c.partition([[lagging], c.ids.filter((id) => id !== lagging)]);
    for (let i = 0; i < 40; i++) {
      c.proposeOnLeaders();
      await c.clock.advance(20);
    }
    await c.clock.advance(500);
    assert.ok(c.acknowledged.length >= 40, `committed without the cut node (${c.acknowledged.length})`);
    const values = (id: string) => (c.machines(id)?.list as ListMachine).values;
    assert.equal(values(lagging).length, 0, 'the cut node applied nothing');
    assert.ok(c.log(leader)?.storage.snapshot(), 'the leader took a snapshot');
    c.heal();
    await c.clock.advance(2000);
    for (const id of c.ids) assert.deepEqual(values(id), values(leader), `${id} holds the leader’s entries`);
    assert.equal(values(leader).length, 40);
    // a restarted node rebuilds its state from its snapshot and log
    c.kill(lagging);
    c.start(lagging);
    assert.deepEqual(values(lagging), values(leader), 'restored at start from what it knew committed');
    assert.deepEqual(c.violations, []);
  });

  test('log: a heartbeat from a node that is not a voter, or names another leader, is refused', async () => {
    const c = new SimCluster(3, 9);
    c.startAll();
    const leader = await settle(c);
    const follower = c.ids.find((id) => id !== leader) as string;
    const raft = c.raft(follower) as Raft;
    const forged = (from: string, leaderId: string, term: number) =>
      raft.handle(from, {
        type: 'heartbeat',
        term,
        leader: leaderId,
        voters: c.ids,
        since: 0,
        append: { prev: [0, 0], entries: [{ index: 1, term, kind: 'list', data: 'forged' }], commit: 1 },
      });
    const term = raft.term;
    assert.equal((await forged('outsider', 'outsider', term + 1)).reason, 'not-a-voter');
    assert.equal(raft.term, term, 'an outsider’s heartbeat does not move the term');
    const third = c.ids.find((id) => id !== leader && id !== follower) as string;
    assert.equal((await forged(third, leader, term)).reason, 'spoofed', 'the sender must be the named leader');
    await assert.rejects(forged(third, third, term), /two leaders/);
    await c.clock.advance(500);
    assert.ok(!(c.machines(follower)?.list as ListMachine).values.includes('forged'));
    assert.deepEqual(c.violations, []);
  });
});

describe('randomized partition/kill/restart cycles with an invariant checker', () => {
  for (const [n, seed, cycles] of [
    [3, 101, 60],
    [5, 202, 60],
  ] as const) {
    test(`${n} voters, ${cycles} cycles (seed ${seed})`, async () => {
      const c = new SimCluster(n, seed);
      c.startAll();
      let issuing = true;
      const issue = (): void => {
        if (!issuing) return;
        c.proposeOnLeaders();
        c.clock.setTimeout(issue, 100);
      };
      issue();
      for (let i = 0; i < cycles; i++) {
        const r = c.rnd();
        const pick = (from: string[]): string | undefined => from[Math.floor(c.rnd() * from.length)];
        const dead = c.ids.filter((id) => !c.alive().includes(id));
        if (r < 0.3) {
          const shuffled = [...c.ids].sort(() => c.rnd() - 0.5);
          const cut = 1 + Math.floor(c.rnd() * (n - 1));
          c.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
        } else if (r < 0.45) c.heal();
        else if (r < 0.65) {
          const victim = c.rnd() < 0.6 ? (c.leaders()[0] ?? pick(c.alive())) : pick(c.alive());
          if (victim && c.alive().length > 1) c.kill(victim);
        } else if (r < 0.85) {
          const back = pick(dead);
          if (back) c.start(back);
        } else {
          const who = pick(c.alive());
          if (who)
            void c
              .raft(who)
              ?.trigger()
              .catch(() => {});
        }
        await c.clock.advance(200 + c.rnd() * 3000);
        assert.deepEqual(c.violations, [], `cycle ${i}`);
      }
      // liveness once the network heals and everyone is back
      issuing = false;
      c.heal();
      for (const id of c.ids) if (!c.alive().includes(id)) c.start(id);
      const leader = await settle(c, 6000);
      await c.clock.advance(2000);
      assert.deepEqual(c.violations, []);
      assert.ok(c.elections >= 5, `elections happened (${c.elections})`);
      assert.ok(c.acknowledged.length > 50, `entries committed (${c.acknowledged.length})`);
      const values = (id: string) => (c.machines(id)?.list as ListMachine).values;
      for (const id of c.ids) assert.deepEqual(values(id), values(leader), `${id} converged on the leader’s state`);
    });
  }
});

describe('the consensus log under churn: the leader is cut off with a minority again and again while it writes', () => {
  for (const seed of [1, 3]) {
    test(`5 voters, 150 cycles, an entry every 15 ms (seed ${seed})`, async () => {
      const c = new SimCluster(5, seed, { snapshotEvery: 15 });
      c.startAll();
      let issuing = true;
      const issue = (): void => {
        if (!issuing) return;
        c.proposeOnLeaders();
        c.clock.setTimeout(issue, 15);
      };
      issue();
      const pick = (from: string[]): string | undefined => from[Math.floor(c.rnd() * from.length)];
      for (let i = 0; i < 150; i++) {
        const r = c.rnd();
        if (r < 0.4) {
          // the leader (or two nodes) end up in a minority that keeps accepting writes it cannot commit
          const leader = c.leaders()[0];
          const others = c.ids.filter((id) => id !== leader).sort(() => c.rnd() - 0.5);
          const minority = leader ? [leader, ...others.slice(0, Math.floor(c.rnd() * 2))] : others.slice(0, 2);
          c.partition([minority, c.ids.filter((id) => !minority.includes(id))]);
        } else if (r < 0.6) c.heal();
        else if (r < 0.75) {
          const victim = pick(c.alive());
          if (victim && c.alive().length > 1) c.kill(victim);
        } else {
          const back = pick(c.ids.filter((id) => !c.alive().includes(id)));
          if (back) c.start(back);
        }
        await c.clock.advance(100 + c.rnd() * 1200);
        assert.deepEqual(c.violations, [], `cycle ${i}`);
      }
      issuing = false;
      c.heal();
      for (const id of c.ids) if (!c.alive().includes(id)) c.start(id);
      const leader = await settle(c, 5000);
      assert.deepEqual(c.violations, []);
      assert.ok(c.acknowledged.length > 1000, `entries committed (${c.acknowledged.length})`);
      const values = (id: string) => (c.machines(id)?.list as ListMachine).values;
      for (const id of c.ids) assert.deepEqual(values(id), values(leader), `${id} converged on the leader’s state`);
    });
  }
});
