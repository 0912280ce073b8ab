// Decision voting on real libp2p nodes in one process (3 voters: an architect, an admin, a developer):
// a version proposed on one node is not what `*^` returns on any node until the quorum approves it —
// votes cast from the two other nodes, each signed by its node — and is afterwards; history carries the
// votes; a write over an open proposal is refused; a rejected version never becomes current; a forged
// vote (a genuine signature replayed by another node, or a signature by the wrong key) is refused.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChorusError } from '../../src/core/errors.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { signerFor, verifyByAuthor } from '../../src/core/p2p/signer.ts';
import { ballotBytes, type Ballot, type Proposal, type ProposalState } from '../../src/core/proposals/model.ts';
import type { ProposalChange } from '../../src/core/proposals/service.ts';
import { parseAddress } from '../../src/core/ucxl/address.ts';
import { electionAgreed, FAST_ELECTION, startCluster, stopAll } from '../helpers/cluster.ts';
import { nextEvent } from '../helpers/events.ts';

const ROLES = ['architect', 'admin', 'developer'];
const QUORUM = { count: 2, roles: ['architect', 'admin'] };
const text = (s: string): Buffer => Buffer.from(s);
const str = (b: Uint8Array): string => Buffer.from(b).toString();

/** Resolves when a node holds a proposal in a state (by its committed events, or already there). */
async function reaches(node: ChorusNode, id: string, state: ProposalState): Promise<void> {
  if (node.proposals.machine.get(id)?.state === state) return;
  await nextEvent<Proposal>(node.proposals, 'proposal', (p) => p.id === id && p.state === state, 15_000);
}

async function refusal(p: Promise<unknown>): Promise<ChorusError> {
  const err = await p.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ChorusError, String(err));
  return err;
}

describe('decision voting on a 3-voter cluster of real nodes', () => {
  let nodes: ChorusNode[] = [];
  let arch: ChorusNode, admin: ChorusNode, dev: ChorusNode;
  before(async () => {
    nodes = await startCluster(3, {
      roles: ROLES,
      config: (i) => ({ election: { expect: 3, ...FAST_ELECTION }, agent: { name: `agent-${ROLES[i]}` } }),
    });
    [arch, admin, dev] = nodes as [ChorusNode, ChorusNode, ChorusNode];
    await electionAgreed(nodes);
  });
  after(() => stopAll(nodes));

  const latest = async (n: ChorusNode, a: string): Promise<string> =>
    str((await n.decisions.get(parseAddress(a))).content);

  test('proposed on one node, voted from two others: *^ is the old version until accepted, the new one after', async () => {
    const a = 'ucxl://dave:developer@chorus:vote/*^/adr/1.md';
    await dev.decisions.put(parseAddress(a), text('v1: REST'), { roles: ['developer'] });
    const changes: [Proposal, ProposalChange][] = [];
    const onChange = (p: Proposal, c: ProposalChange): void => void changes.push([p, c]);
    arch.proposals.on('proposal', onChange);
    const { proposal, receipt } = await dev.proposals.propose({
      address: a,
      content: text('v2: gRPC'),
      roles: ['developer'],
      quorum: QUORUM,
      reason: 'latency',
    });
    assert.equal(proposal.state, 'open');
    assert.equal(proposal.version, 2);
    assert.equal(receipt.version, 2);
    assert.equal(proposal.hash, receipt.hash);
    assert.deepEqual(proposal.proposer, { agent: 'agent-developer', node: dev.peerId, role: 'developer' });
    await Promise.all(nodes.map((n) => reaches(n, proposal.id, 'open')));
    for (const n of nodes) {
      assert.equal(await latest(n, a), 'v1: REST', `${n.config.agent.role}: *^ is still version 1`);
      const v2 = await n.decisions.get(parseAddress('ucxl://dave:developer@chorus:vote/*~2/adr/1.md'));
      assert.equal(str(v2.content), 'v2: gRPC', 'an explicit version is still readable');
      assert.equal(v2.meta.proposalState, 'open');
      assert.equal(v2.meta.proposal?.id, proposal.id);
    }

    const ineligible = await refusal(dev.proposals.vote(proposal.id, { vote: 'approve', reason: 'mine' }));
    assert.equal(ineligible.code, 'NOT_ELIGIBLE');
    assert.equal(ineligible.status, 403);
    assert.match(ineligible.message, /architect, admin only \(this node is developer\)/);

    const afterOne = await arch.proposals.vote(proposal.id, { vote: 'approve', reason: 'measured it' });
    assert.equal(afterOne.state, 'open');
    assert.equal(await latest(arch, a), 'v1: REST', 'one approval of two changes nothing');
    const accepted = await admin.proposals.vote(proposal.id, { vote: 'approve', reason: 'agreed' });
    assert.equal(accepted.state, 'accepted');
    assert.deepEqual(
      accepted.votes.map((v) => [v.voter.node, v.voter.role, v.vote, v.reason, v.verified]),
      [
        [arch.peerId, 'architect', 'approve', 'measured it', true],
        [admin.peerId, 'admin', 'approve', 'agreed', true],
      ],
    );
    const answered = performance.now();
    await Promise.all(nodes.map((n) => reaches(n, proposal.id, 'accepted')));
    const everywhere = performance.now() - answered;
    for (const n of nodes) assert.equal(await latest(n, a), 'v2: gRPC', `${n.config.agent.role}: *^ is version 2`);
    console.log(`the deciding vote answered → accepted on every node: ${everywhere.toFixed(1)} ms`);

    const history = await arch.decisions.history(parseAddress(a));
    assert.deepEqual(
      history.map((m) => [m.version, m.proposalState, m.proposal?.votes.length]),
      [
        [2, 'accepted', 2],
        [1, undefined, undefined],
      ],
    );
    // each vote's signature checks out against its node's key, by anyone holding the history
    for (const v of history[0]?.proposal?.votes ?? []) {
      const ballot: Ballot = { proposal: proposal.id, vote: v.vote, reason: v.reason, voter: v.voter, at: v.at };
      assert.ok(verifyByAuthor(v.voter.node, ballotBytes(ballot), Buffer.from(v.signature, 'base64')));
    }
    arch.proposals.off('proposal', onChange);
    assert.deepEqual(
      changes.map(([p, c]) => [p.id, c.kind, p.state]),
      [
        [proposal.id, 'opened', 'open'],
        [proposal.id, 'voted', 'open'],
        [proposal.id, 'accepted', 'accepted'],
      ],
    );
    for (const n of nodes) {
      n.recorder.flush();
      const logged = n.eventLog
        .tail(100)
        .filter((e) => e.type === 'decision' && (e.data as { proposal?: string }).proposal === proposal.id)
        .map((e) => (e.data as { event: string }).event);
      assert.deepEqual(logged, ['proposal_opened', 'vote', 'proposal_accepted'], `${n.config.agent.role}’s event log`);
    }
  });

  test('no version is written over an open proposal; a rejected version never becomes current', async () => {
    const a = 'ucxl://dave:developer@chorus:vote/*^/adr/2.md';
    await arch.decisions.put(parseAddress(a), text('v1'), { roles: ['developer'] });
    const { proposal } = await arch.proposals.propose({
      address: a,
      content: text('v2'),
      roles: ['developer'],
      quorum: QUORUM,
    });
    await Promise.all(nodes.map((n) => reaches(n, proposal.id, 'open')));
    const blocked = await refusal(dev.decisions.put(parseAddress(a), text('v3'), { roles: ['developer'] }));
    assert.equal(blocked.code, 'PROPOSAL_OPEN');
    assert.equal(blocked.status, 409);
    const second = await refusal(
      admin.proposals.propose({ address: a, content: text('v3'), roles: ['developer'], quorum: QUORUM }),
    );
    assert.equal(second.code, 'PROPOSAL_OPEN', 'refused before anything is written');
    assert.equal((await dev.decisions.history(parseAddress(a))).length, 2, 'nothing was written');

    await arch.proposals.vote(proposal.id, { vote: 'reject', reason: 'no' });
    // the architect changes its mind: its vote is replaced, still one vote per node
    await arch.proposals.vote(proposal.id, { vote: 'approve', reason: 'on second thought' });
    await admin.proposals.vote(proposal.id, { vote: 'reject', reason: 'not yet' });
    const rejected = await arch.proposals.vote(proposal.id, { vote: 'reject', reason: 'fine, no' });
    assert.equal(rejected.state, 'rejected');
    assert.equal(rejected.votes.length, 2);
    await Promise.all(nodes.map((n) => reaches(n, proposal.id, 'rejected')));
    for (const n of nodes) assert.equal(await latest(n, a), 'v1', 'a rejected version is passed over');
    const closed = await refusal(dev.proposals.vote(proposal.id, { vote: 'approve', reason: 'late' }));
    assert.equal(closed.code, 'PROPOSAL_CLOSED');
    // after a rejection the subject takes writes again; a plain write is current at once
    await dev.decisions.put(parseAddress(a), text('v3'), { roles: ['developer'] });
    assert.equal(await latest(dev, a), 'v3');
  });

  test('a forged vote is refused: a genuine ballot replayed by another node, a signature by the wrong key', async () => {
    const a = 'ucxl://dave:developer@chorus:vote/*^/adr/3.md';
    await dev.decisions.put(parseAddress(a), text('v1'), { roles: ['developer'] });
    const { proposal } = await dev.proposals.propose({
      address: a,
      content: text('v2'),
      roles: ['developer'],
      quorum: QUORUM,
    });
    const voted = await arch.proposals.vote(proposal.id, { vote: 'approve', reason: 'ok' });
    const genuine = voted.votes[0]!;
    const ballot: Ballot = {
      proposal: proposal.id,
      vote: 'approve',
      reason: 'ok',
      voter: genuine.voter,
      at: genuine.at,
    };
    const submit = (data: unknown) =>
      dev.election.submit(
        'proposals',
        { rid: `forged-${Math.random()}`, at: Date.now(), ...(data as object) },
        AbortSignal.timeout(10_000),
      );
    // the developer node replays the architect's signed vote as if the architect sent it again
    const replayed = await refusal(submit({ op: 'vote', id: proposal.id, ballot, signature: genuine.signature }));
    assert.equal(replayed.code, 'FORGED');
    // …and claims the admin's vote, signing it itself
    const asAdmin: Ballot = { ...ballot, reason: 'sure', voter: { agent: 'root', node: admin.peerId, role: 'admin' } };
    const signedByDev = Buffer.from(signerFor(dev.identity.privateKey).sign(ballotBytes(asAdmin))).toString('base64');
    assert.equal(
      (await refusal(submit({ op: 'vote', id: proposal.id, ballot: asAdmin, signature: signedByDev }))).code,
      'FORGED',
    );
    // a ballot naming the developer itself, but not signed by its key
    const own: Ballot = { ...ballot, voter: { agent: 'dave', node: dev.peerId, role: 'architect' } };
    const wrongKey = Buffer.from(signerFor(arch.identity.privateKey).sign(ballotBytes(own))).toString('base64');
    assert.equal(
      (await refusal(submit({ op: 'vote', id: proposal.id, ballot: own, signature: wrongKey }))).code,
      'BAD_SIGNATURE',
    );
    for (const n of nodes) {
      const p = n.proposals.get(proposal.id);
      assert.equal(p.state, 'open');
      assert.deepEqual(
        p.votes.map((v) => v.voter.node),
        [arch.peerId],
        'only the genuine vote counts',
      );
    }
    assert.equal(await latest(admin, a), 'v1');
  });
});
