// The election's small parts: durable state (atomic file, survives a reload, rejects garbage), the
// score (components, weights, clamping), the consensus log's file and its binding to a voter set.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Libp2p } from '@libp2p/interface';
import { ElectionService } from '../../src/core/election/service.ts';
import { silentLogger } from '../../src/core/log.ts';
import type { Signer } from '../../src/core/p2p/signer.ts';
import { isElectionRequest, isElectionResponse } from '../../src/core/election/raft.ts';
import { ConsensusLog } from '../../src/core/election/consensus-log.ts';
import { MemoryLogStorage, SqliteLogStorage } from '../../src/core/election/log-store.ts';
import { DEFAULT_WEIGHTS, scoreOf } from '../../src/core/election/score.ts';
import { FileElectionStorage } from '../../src/core/election/state.ts';
import { ListMachine } from '../helpers/election-sim.ts';
import { Redactor } from '../../src/core/shhh/redactor.ts';

test('election state is replaced atomically and read back after a "restart"', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-election-'));
  const a = new FileElectionStorage(dir);
  assert.deepEqual(a.load(), { currentTerm: 0, votedFor: null, voters: null, led: 0 });
  a.save({ currentTerm: 7, votedFor: 'peer-x', voters: { members: ['a', 'b', 'c'], source: 'expect:3' }, led: 2 });
  const b = new FileElectionStorage(dir);
  assert.deepEqual(b.load(), {
    currentTerm: 7,
    votedFor: 'peer-x',
    voters: { members: ['a', 'b', 'c'], source: 'expect:3' },
    led: 2,
  });
  assert.deepEqual(readdirSync(dir), ['election.json'], 'no temporary file left behind');
  writeFileSync(join(dir, 'election.json'), '{"currentTerm":-1}');
  assert.throws(() => b.load(), /not a valid election state/);
});

test('score: five weighted components in [0, 1]', () => {
  const full = scoreOf({
    uptimeMs: 10 * 3_600_000,
    capabilities: 9,
    freeMemRatio: 1,
    loadPerCpu: 0,
    reachable: 1,
    termsLed: 50,
  });
  assert.deepEqual(full, { uptime: 1, capabilities: 1, resources: 1, network: 1, experience: 1, total: 1 });
  const fresh = scoreOf({
    uptimeMs: 0,
    capabilities: 0,
    freeMemRatio: 0.5,
    loadPerCpu: 3,
    reachable: 0.5,
    termsLed: 0,
  });
  assert.equal(fresh.uptime, 0);
  assert.equal(fresh.resources, 0.25);
  assert.equal(
    fresh.total,
    Math.round(((0.25 * DEFAULT_WEIGHTS.resources + 0.5 * DEFAULT_WEIGHTS.network) / 1) * 1000) / 1000,
  );
  const onlyNetwork = scoreOf(
    { uptimeMs: 0, capabilities: 0, freeMemRatio: 0, loadPerCpu: 1, reachable: 0.8, termsLed: 0 },
    { uptime: 0, capabilities: 0, resources: 0, network: 1, experience: 0 },
  );
  assert.equal(onlyNetwork.total, 0.8);
});

test('the consensus log’s file: appends, conflicts, snapshots, the commit hint and the cluster survive a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-log-'));
  const file = join(dir, 'consensus.db');
  const entry = (index: number, term: number, data: unknown = index) => ({ index, term, kind: 'list', data });
  let store = new SqliteLogStorage(file);
  assert.deepEqual(store.last(), { index: 0, term: 0 });
  store.setCluster('expect:3|a,b,c');
  store.append([entry(1, 1), entry(2, 1), entry(3, 2, { big: 'x'.repeat(100) })]);
  store.truncateFrom(3); // a conflicting suffix
  store.append([entry(3, 3)]);
  await Promise.all([store.sync(), store.sync()]); // one flush of the WAL serves both
  await store.sync(); // nothing new: resolves without a flush
  store.saveCommitHint(2);
  store.close();
  store = new SqliteLogStorage(file);
  assert.deepEqual(store.last(), { index: 3, term: 3 });
  assert.deepEqual(
    store.entries(1, 3).map((e) => [e.index, e.term, e.data]),
    [
      [1, 1, 1],
      [2, 1, 2],
      [3, 3, 3],
    ],
  );
  assert.equal(store.commitHint(), 2);
  assert.equal(store.cluster(), 'expect:3|a,b,c');
  store.saveSnapshot({ index: 2, term: 1, state: '{"list":[1,2]}' }, 0);
  assert.equal(store.first(), 3);
  assert.equal(store.termAt(2), 1, 'the snapshot’s last entry keeps its term');
  assert.equal(store.termAt(1), undefined);
  store.close();
  store = new SqliteLogStorage(file);
  assert.equal(store.snapshot()?.state, '{"list":[1,2]}');
  assert.deepEqual(store.last(), { index: 3, term: 3 });
  const moved = store.archive();
  assert.ok(moved && readdirSync(dir).includes(moved.slice(dir.length + 1)), 'the old cluster’s log is kept aside');
  assert.deepEqual(store.last(), { index: 0, term: 0 });
  assert.equal(store.cluster(), undefined);
  store.append([entry(1, 4)]);
  await store.sync(); // the new file's WAL, not the one moved aside
  store.close();
  const reopened = new SqliteLogStorage(file);
  assert.deepEqual(reopened.last(), { index: 1, term: 4 });
  reopened.close();
});

/** What a lone leader's Raft does: count the votes (its own) on new entries and once they are on disk. */
function leadAlone(log: ConsensusLog, voters = ['a']): void {
  log.on('replicate', () => log.advanceCommit(voters, 'a'));
  log.on('durable', () => log.advanceCommit(voters, 'a'));
  log.becomeLeader(1, voters.slice(1), 0);
}

/** A started consensus log with a list machine, bound to `cluster`. */
function listLog(storage: MemoryLogStorage, cluster: string): { log: ConsensusLog; machine: ListMachine } {
  const machine = new ListMachine();
  const log = new ConsensusLog({ storage });
  log.register('list', machine);
  log.start();
  log.bindCluster(cluster);
  return { log, machine };
}

/** Memory storage whose flushes to disk complete only when the test says so. */
class HeldFlushes extends MemoryLogStorage {
  private held: (() => void)[] = [];
  override sync(): Promise<void> {
    return new Promise((resolve) => this.held.push(resolve));
  }
  get waiting(): number {
    return this.held.length;
  }
  release(): void {
    for (const done of this.held.splice(0)) done();
  }
}

/** Lets every callback queued so far run (in-memory work only: no time passes). */
const turns = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

test('a leader counts itself for an entry only once its own write is on disk', async () => {
  const storage = new HeldFlushes();
  const { log, machine } = listLog(storage, 'expect:1|a');
  leadAlone(log);
  let applied = false;
  const proposed = log.propose('list', 'x').then((r) => ((applied = true), r));
  await turns();
  assert.ok(storage.waiting > 0, 'the write waits for its flush');
  assert.equal(applied, false, 'not committed while the only voter’s copy is not on disk');
  assert.equal(log.heldBy(2, ['a'], 'a'), 0);
  storage.release();
  assert.equal(await proposed, 1);
  assert.deepEqual(machine.values, ['x']);
  assert.equal(log.heldBy(2, ['a'], 'a'), 1);
});

test('followers that hold an entry on disk commit it while the leader’s own flush is still running', async () => {
  const storage = new HeldFlushes();
  const { log } = listLog(storage, 'expect:3|a,b,c');
  const voters = ['a', 'b', 'c'];
  leadAlone(log, voters);
  await turns();
  const sent = log.messageFor('b');
  assert.equal(sent.append?.entries.length, 1, 'the leader entry goes out before the leader’s flush is done');
  log.onResult('b', sent, { ok: true, match: 1 }, voters, 'a');
  assert.equal(log.commit, 0, 'one follower of three is not a majority without the leader');
  log.onResult('c', log.messageFor('c'), { ok: true, match: 1 }, voters, 'a');
  assert.equal(log.commit, 1, 'two followers are');
  storage.release();
});

test('a follower answers an append only once the entries are on disk', async () => {
  const storage = new HeldFlushes();
  const { log } = listLog(storage, 'expect:3|a,b,c');
  const entries = [{ index: 1, term: 1, kind: 'leader', data: { at: 0 } }];
  let answered = false;
  const answer = log.handleAppend({ prev: [0, 0], entries, commit: 0 }).then((r) => ((answered = true), r));
  await turns();
  assert.deepEqual(storage.last(), { index: 1, term: 1 }, 'written at once');
  assert.equal(answered, false, 'no success before the flush');
  // the leader resends the same batch (its first try timed out): nothing is new, the answer still waits
  let resentAnswered = false;
  const resent = log.handleAppend({ prev: [0, 0], entries, commit: 0 }).then((r) => ((resentAnswered = true), r));
  await turns();
  assert.equal(resentAnswered, false);
  storage.release();
  assert.deepEqual(await answer, { ok: true, match: 1 });
  assert.deepEqual(await resent, { ok: true, match: 1 });
});

test('a log written under another voter set is moved aside; the state machines start empty', async () => {
  const storage = new MemoryLogStorage();
  const { log, machine } = listLog(storage, 'expect:1|a');
  leadAlone(log);
  assert.equal(await log.propose('list', 'lone'), 1);
  assert.deepEqual(machine.values, ['lone']);
  const archived: string[] = [];
  log.on('archived', ({ to }) => archived.push(to));
  log.bindCluster('expect:1|a');
  assert.deepEqual(archived, [], 'the same cluster keeps its log');
  log.stepDown();
  log.bindCluster('config|a,b');
  assert.equal(archived.length, 1);
  assert.deepEqual(machine.values, []);
  assert.deepEqual(log.position(), [0, 0]);
});

test('proposals made in separate callbacks of one event-loop turn reach the log in one write', async () => {
  const storage = new MemoryLogStorage();
  const writes: number[] = [];
  const append = storage.append.bind(storage);
  storage.append = (entries) => (writes.push(entries.length), append(entries));
  const { log, machine } = listLog(storage, 'expect:1|a');
  leadAlone(log); // its leader entry is written first, on its own
  // two callbacks of one turn's check phase, as two requests read in one poll would be
  const proposed = await new Promise<Promise<unknown>[]>((resolve) => {
    const first: Promise<unknown>[] = [];
    setImmediate(() => first.push(log.propose('list', 'a')));
    setImmediate(() => resolve([...first, log.propose('list', 'b')]));
  });
  assert.deepEqual(await Promise.all(proposed), [1, 2]);
  assert.deepEqual(writes, [1, 2], 'the leader entry, then one append of both proposals (one fsync on disk)');
  assert.deepEqual(machine.values, ['a', 'b']);
});

test('a leader’s SHHH policy replaces the configured extra rules and survives a SIGHUP reload of them', () => {
  const rule = (name: string, pattern: string) => ({
    name,
    pattern,
    flags: '',
    severity: 'high' as const,
    tags: [],
    action: 'redact' as const,
  });
  const r = new Redactor({ rules: [rule('cfg', 'CFG-[0-9]+')] });
  const scrub = (t: string) => r.redactText(t).text;
  assert.equal(scrub('CFG-1 POL-2'), '[REDACTED:cfg] POL-2');
  r.setPolicyRules([rule('pol', 'POL-[0-9]+')]);
  assert.equal(scrub('CFG-1 POL-2'), 'CFG-1 [REDACTED:pol]');
  r.setRules([rule('cfg2', 'CFG-[0-9]+')]); // a reload while the policy is in force
  assert.equal(scrub('CFG-1 POL-2'), 'CFG-1 [REDACTED:pol]');
  r.setPolicyRules(undefined);
  assert.equal(scrub('CFG-1 POL-2'), '[REDACTED:cfg2] POL-2');
  assert.match(scrub('key AKIAIOSFODNN7EXAMPLE'), /REDACTED/, 'built-in rules stay');
});

test('requests and answers from the network are shape-checked', () => {
  assert.equal(isElectionRequest({ type: 'vote', term: 3, candidate: 'a', voters: 'a,b,c', last: [2, 1] }), true);
  assert.equal(isElectionRequest({ type: 'vote', term: '3', candidate: 'a', voters: 'a,b,c' }), false);
  assert.equal(isElectionRequest({ type: 'vote', term: -1, candidate: 'a', voters: 'a' }), false);
  assert.equal(isElectionRequest({ type: 'heartbeat', term: 1, leader: 'a', voters: ['a', 7], since: 0 }), false);
  assert.equal(isElectionRequest({ type: 'heartbeat', term: 1, leader: 'a', voters: ['a'], since: 0 }), true);
  assert.equal(isElectionRequest({ type: 'prevote', term: 1, candidate: 'a', voters: 'a', last: [1] }), false);
  assert.equal(isElectionRequest({ type: 'bogus' }), false);
  assert.equal(isElectionRequest(null), false);
  const hb = { type: 'heartbeat', term: 2, leader: 'a', voters: ['a'], since: 0 };
  const append = (entries: unknown[]) => ({ ...hb, append: { prev: [4, 1], entries, commit: 4 } });
  assert.equal(isElectionRequest(append([{ index: 5, term: 2, kind: 'list', data: 1 }])), true);
  assert.equal(isElectionRequest(append([{ index: 6, term: 2, kind: 'list', data: 1 }])), false, 'not after prev');
  assert.equal(isElectionRequest(append([{ index: 5, term: 'x', kind: 'list' }])), false);
  assert.equal(isElectionRequest({ ...hb, snapshot: { index: 9, term: 2, offset: 0, total: 3, chunk: 'abc' } }), true);
  assert.equal(
    isElectionRequest({ ...hb, snapshot: { index: 9, term: 2, offset: -1, total: 3, chunk: 'abc' } }),
    false,
  );
  assert.equal(isElectionRequest({ type: 'propose', kind: 'tasks', data: {} }), true);
  assert.equal(isElectionResponse({ term: 1, ok: true, log: { ok: false, conflict: 3 } }), true);
  assert.equal(isElectionResponse({ term: 1, ok: true, log: { ok: 'no' } }), false);
  assert.equal(isElectionResponse({ term: 1, ok: true }), true);
  assert.equal(isElectionResponse({ term: 1, ok: 'yes' }), false);
});

test('score: a node that is the only voter does not list its connected peers; with other voters it does', () => {
  const self = 'peer-self';
  const other = 'peer-other';
  let listed = 0;
  const libp2p = {
    peerId: { toString: () => self },
    getPeers: () => {
      listed++;
      return [{ toString: () => other }, { toString: () => 'peer-bystander' }];
    },
    addEventListener: () => {},
    removeEventListener: () => {},
    peerStore: { all: async () => [] },
  } as unknown as Libp2p;
  const service = (voters: string[]): ElectionService =>
    new ElectionService({
      libp2p,
      config: {
        voters,
        expect: 1,
        heartbeatMs: 100,
        electionTimeoutMinMs: 600,
        electionTimeoutMaxMs: 1200,
        stabilityWindowMs: 1000,
        handoverMargin: 0.1,
        preVote: true,
        weights: DEFAULT_WEIGHTS,
      },
      dataDir: mkdtempSync(join(tmpdir(), 'chorus-election-')),
      logger: silentLogger,
      signer: undefined as unknown as Signer,
      logStorage: new MemoryLogStorage(),
    });
  const alone = service([self]);
  alone.raft.setVoters([self], 'config');
  assert.equal(alone.score().network, 1);
  assert.equal(listed, 0, 'a sole voter never asks for its peers (its score ignores them)');
  const two = service([self, other]);
  two.raft.setVoters([self, other], 'config');
  assert.equal(two.score().network, 1, 'the other voter is connected');
  assert.equal(listed, 1);
});
