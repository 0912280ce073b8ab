// The proposal state machine and the leader's check on their own, driven by log entries exactly as the
// consensus log applies them, with real node keys signing the ballots: quorum, roles, one vote per
// node, forged and misdirected signatures refused (by the vet and again by the machine), rejection,
// retries answered from memory, bounded state, snapshots.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { LogEntry } from '../../src/core/election/consensus-log.ts';
import { ChorusError } from '../../src/core/errors.ts';
import { signerFor, type Signer } from '../../src/core/p2p/signer.ts';
import { vetCommand, type ProposalCommand, type ProposalRequest } from '../../src/core/proposals/commands.ts';
import {
  MAX_OPEN,
  ProposalMachine,
  type ProposalEvent,
  type ProposalResult,
  type PruneResult,
} from '../../src/core/proposals/machine.ts';
import { ballotBytes, parseQuorum, type Ballot, type VoteChoice } from '../../src/core/proposals/model.ts';

interface Member {
  signer: Signer;
  node: string;
  role: string;
  agent: string;
}

async function member(role: string, agent: string): Promise<Member> {
  const signer = signerFor(await generateKeyPair('Ed25519'));
  return { signer, node: signer.author, role, agent };
}

const hashOf = (n: number): string => n.toString(16).padStart(64, '0');
const T0 = Date.parse('2026-11-30T12:00:00.000Z');

class Harness {
  readonly m = new ProposalMachine();
  readonly events: ProposalEvent[] = [];
  index = 0;
  now = T0;
  private rid = 0;
  constructor() {
    this.m.onEvent((e) => this.events.push(e));
  }
  apply(cmd: ProposalRequest & { rid?: string }): ProposalResult {
    const data = { rid: cmd.rid ?? `rid-${++this.rid}-xxxxxxxx`, at: this.now, ...cmd } as ProposalCommand;
    const entry: LogEntry = { index: ++this.index, term: 1, kind: 'proposals', data: structuredClone(data) };
    return this.m.apply(entry) as ProposalResult;
  }
  open(by: Member, version: number, quorum = { count: 2, roles: ['architect', 'admin'] }, subject = 'a:r@p:t/adr.md') {
    return this.apply({
      op: 'open',
      proposer: { agent: by.agent, node: by.node, role: by.role },
      subject,
      address: `ucxl://a:r@p:t/*~${version}/adr.md`,
      version,
      hash: hashOf(version),
      quorum: parseQuorum(quorum),
    });
  }
  ballot(by: Member, proposal: string, vote: VoteChoice, reason = 'because'): Ballot {
    return {
      proposal,
      vote,
      reason,
      voter: { agent: by.agent, node: by.node, role: by.role },
      at: new Date(this.now).toISOString(),
    };
  }
  sign(by: Member, b: Ballot): string {
    return Buffer.from(by.signer.sign(ballotBytes(b))).toString('base64');
  }
  vote(by: Member, id: string, vote: VoteChoice, reason?: string): ProposalResult {
    const ballot = this.ballot(by, id, vote, reason);
    return this.apply({ op: 'vote', id, ballot, signature: this.sign(by, ballot) });
  }
}

const ok = (r: ProposalResult): Extract<ProposalResult, { ok: true }> => {
  assert.ok(r.ok, !r.ok ? `${r.code}: ${r.message}` : '');
  return r;
};
const refused = (r: ProposalResult, code: string, message?: RegExp): void => {
  assert.equal(r.ok, false, `expected ${code}, the command was applied`);
  if (r.ok) return;
  assert.equal(r.code, code, r.message);
  if (message) assert.match(r.message, message);
};
const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return err instanceof ChorusError ? err.code : String(err);
  }
  return 'accepted';
};

describe('the proposal machine', async () => {
  const [arch, admin, admin2, dev] = await Promise.all([
    member('architect', 'ana'),
    member('admin', 'root'),
    member('admin', 'root2'),
    member('developer', 'dave'),
  ]);

  test('a proposal is accepted when approvals of the quorum roles reach its count', () => {
    const h = new Harness();
    const p = ok(h.open(dev, 2)).proposal;
    assert.equal(p.id, 'p-1');
    assert.equal(p.state, 'open');
    assert.deepEqual(h.m.recordState(hashOf(2), dev.node)?.state, 'open');
    const first = ok(h.vote(arch, p.id, 'approve'));
    assert.equal(first.proposal.state, 'open', 'one approval of two');
    h.now += 5000;
    const second = ok(h.vote(admin, p.id, 'approve'));
    assert.equal(second.proposal.state, 'accepted');
    assert.equal(second.proposal.decidedAt, new Date(T0 + 5000).toISOString(), 'at the leader-stamped time');
    assert.deepEqual(
      second.proposal.votes.map((v) => [v.voter.agent, v.vote]),
      [
        ['ana', 'approve'],
        ['root', 'approve'],
      ],
    );
    assert.deepEqual(
      h.events.map((e) => e.kind),
      ['opened', 'voted', 'accepted'],
    );
    assert.equal(h.m.recordState(hashOf(2), dev.node)?.state, 'accepted');
  });

  test('a proposal applies to its record only when the record was written by the proposer', () => {
    const h = new Harness();
    ok(h.open(dev, 2));
    assert.equal(h.m.recordState(hashOf(2), dev.node)?.state, 'open');
    assert.equal(h.m.recordState(hashOf(2), arch.node), undefined, 'the same hash by another author is not proposed');
    // another node proposing the same record is its own proposal, which never applies to dev's record
    const other = ok(h.open(arch, 2));
    assert.equal(other.proposal.id, 'p-2');
    refused(h.open(dev, 2), 'DUPLICATE', /proposed already \(p-1\)/);
  });

  test('only the quorum roles count: a developer is not eligible, and nothing changes', () => {
    const h = new Harness();
    const p = ok(h.open(arch, 2)).proposal;
    refused(h.vote(dev, p.id, 'approve'), 'NOT_ELIGIBLE', /architect, admin only \(this node is developer\)/);
    assert.equal(h.m.get(p.id)?.votes.length, 0);
  });

  test('one vote per voter node: a later vote replaces the earlier one while open', () => {
    const h = new Harness();
    const p = ok(h.open(dev, 2)).proposal;
    ok(h.vote(arch, p.id, 'approve', 'first thought'));
    ok(h.vote(arch, p.id, 'approve', 'same node again'));
    assert.equal(h.m.get(p.id)?.state, 'open', 'the same node approving twice is one approval');
    assert.equal(h.m.get(p.id)?.votes.length, 1);
    ok(h.vote(arch, p.id, 'reject', 'changed my mind'));
    ok(h.vote(admin, p.id, 'approve'));
    assert.equal(h.m.get(p.id)?.state, 'open', 'one approval, one rejection');
    assert.deepEqual(
      h.m.get(p.id)?.votes.map((v) => [v.voter.agent, v.vote, v.reason]),
      [
        ['ana', 'reject', 'changed my mind'],
        ['root', 'approve', 'because'],
      ],
    );
    ok(h.vote(admin2, p.id, 'approve'));
    assert.equal(h.m.get(p.id)?.state, 'accepted', 'two distinct admin nodes');
  });

  test('rejected when rejections reach the count; a closed proposal takes no votes', () => {
    const h = new Harness();
    const p = ok(h.open(dev, 3, { count: 2, roles: ['admin'] })).proposal;
    ok(h.vote(admin, p.id, 'reject', 'no'));
    assert.equal(ok(h.vote(admin2, p.id, 'reject', 'no')).proposal.state, 'rejected');
    assert.equal(h.m.recordState(hashOf(3), dev.node)?.state, 'rejected');
    refused(h.vote(admin, p.id, 'approve'), 'PROPOSAL_CLOSED', /p-1 is rejected already/);
    assert.equal(h.events.at(-1)?.kind, 'rejected');
  });

  test('a forged vote is refused: wrong key, altered ballot, another proposal, unknown proposal', () => {
    const h = new Harness();
    const p1 = ok(h.open(dev, 2)).proposal;
    const p2 = ok(h.open(dev, 3)).proposal;
    // signed by another node's key
    const b = h.ballot(arch, p1.id, 'approve');
    refused(h.apply({ op: 'vote', id: p1.id, ballot: b, signature: h.sign(dev, b) }), 'BAD_SIGNATURE');
    // the reason changed after signing
    const sig = h.sign(arch, b);
    refused(h.apply({ op: 'vote', id: p1.id, ballot: { ...b, reason: 'edited' }, signature: sig }), 'BAD_SIGNATURE');
    // a vote signed for p-1 presented for p-2, as is and relabelled
    refused(h.apply({ op: 'vote', id: p2.id, ballot: b, signature: sig }), 'BAD_SIGNATURE', /on p-2/);
    refused(h.apply({ op: 'vote', id: p2.id, ballot: { ...b, proposal: p2.id }, signature: sig }), 'BAD_SIGNATURE');
    refused(h.vote(arch, 'p-99', 'approve'), 'NO_PROPOSAL', /no proposal p-99/);
    assert.equal(h.m.get(p1.id)?.votes.length, 0);
    assert.equal(h.m.get(p2.id)?.votes.length, 0);
    // the genuine vote counts
    ok(h.apply({ op: 'vote', id: p1.id, ballot: b, signature: sig }));
    assert.equal(h.m.get(p1.id)?.votes.length, 1);
  });

  test('the leader’s vet binds the voter and the proposer to the forwarding peer and checks the signature', () => {
    const h = new Harness();
    const leader = admin.node;
    const b = h.ballot(arch, 'p-1', 'approve');
    const vote = { op: 'vote', rid: 'rid-vet-000001', at: 1, id: 'p-1', ballot: b, signature: h.sign(arch, b) };
    assert.equal(
      codeOf(() => vetCommand(vote, arch.node, leader)),
      'accepted',
    );
    assert.equal(
      codeOf(() => vetCommand(vote, dev.node, leader)),
      'FORGED',
      'dev forwards a vote naming arch',
    );
    assert.equal(
      codeOf(() => vetCommand({ ...vote, id: 'p-2' }, arch.node, leader)),
      'BAD_SIGNATURE',
    );
    const forged = { ...vote, ballot: { ...b, vote: 'reject' } };
    assert.equal(
      codeOf(() => vetCommand(forged, arch.node, leader)),
      'BAD_SIGNATURE',
    );
    const open = {
      op: 'open',
      rid: 'rid-vet-000002',
      at: 1,
      proposer: { agent: 'dave', node: dev.node, role: 'developer' },
      subject: 'a:r@p:t/adr.md',
      address: 'ucxl://a:r@p:t/*~2/adr.md',
      version: 2,
      hash: hashOf(2),
      quorum: { count: 1, roles: ['admin'] },
    };
    assert.equal(
      codeOf(() => vetCommand(open, dev.node, leader)),
      'accepted',
    );
    assert.equal(
      codeOf(() => vetCommand(open, arch.node, leader)),
      'FORGED',
    );
    assert.equal(
      codeOf(() => vetCommand({ ...open, quorum: { count: 0, roles: [] } }, dev.node, leader)),
      'USAGE',
    );
    const prune = { op: 'prune', rid: 'rid-vet-000003', at: 1, before: 5 };
    assert.equal(
      codeOf(() => vetCommand(prune, leader, leader)),
      'accepted',
    );
    assert.equal(
      codeOf(() => vetCommand(prune, dev.node, leader)),
      'FORBIDDEN',
      'only the leader prunes',
    );
  });

  test('a retried command is answered from memory and never applied twice', () => {
    const h = new Harness();
    const opened = ok(h.apply({ ...openOf(dev, 2), rid: 'rid-open-0000001' }));
    const again = ok(h.apply({ ...openOf(dev, 2), rid: 'rid-open-0000001' }));
    assert.equal(again.proposal.id, opened.proposal.id);
    assert.equal(h.m.size, 1, 'no second proposal');
    assert.equal(again.index, opened.index, 'answered with the index it committed at');
    const ballot = h.ballot(arch, 'p-1', 'approve');
    const cmd = { op: 'vote' as const, id: 'p-1', ballot, signature: h.sign(arch, ballot), rid: 'rid-vote-0000001' };
    ok(h.apply(cmd));
    ok(h.vote(admin, 'p-1', 'reject'));
    const replay = ok(h.apply(cmd));
    assert.deepEqual(
      replay.proposal.votes.map((v) => v.voter.agent),
      ['ana', 'root'],
      'the retried vote does not move to the end (not applied again)',
    );
    const devBallot = h.ballot(dev, 'p-1', 'approve');
    const ineligible = { ...cmd, ballot: devBallot, signature: h.sign(dev, devBallot), rid: 'rid-vote-0000002' };
    refused(h.apply(ineligible), 'NOT_ELIGIBLE');
    const events = h.events.length;
    refused(h.apply(ineligible), 'NOT_ELIGIBLE');
    assert.equal(h.events.length, events, 'a retried refusal changes nothing');
  });

  test('closed proposals are forgotten after the retention; a rejected version stays rejected', () => {
    const h = new Harness();
    const a = ok(h.open(dev, 2)).proposal;
    ok(h.vote(arch, a.id, 'approve'));
    ok(h.vote(admin, a.id, 'approve'));
    const r = ok(h.open(dev, 3)).proposal;
    ok(h.vote(arch, r.id, 'reject'));
    ok(h.vote(admin, r.id, 'reject'));
    const open = ok(h.open(dev, 4)).proposal;
    h.now += 60_000;
    const pruned = h.m.apply({
      index: ++h.index,
      term: 1,
      kind: 'proposals',
      data: { op: 'prune', rid: 'rid-prune-00001', at: h.now, before: h.now - 1 },
    }) as PruneResult;
    assert.equal(pruned.pruned, 2);
    assert.equal(h.m.get(a.id), undefined);
    assert.equal(h.m.get(r.id), undefined);
    assert.equal(h.m.get(open.id)?.state, 'open', 'open proposals are kept');
    assert.equal(h.m.recordState(hashOf(2), dev.node), undefined, 'an accepted version is simply current');
    assert.deepEqual(h.m.recordState(hashOf(3), dev.node), { state: 'rejected' }, 'a rejection is remembered');
    refused(h.open(dev, 3), 'DUPLICATE', /since forgotten/);
  });

  test('at most MAX_OPEN proposals are open: one more is recorded as rejected at once', () => {
    const h = new Harness();
    for (let v = 1; v <= MAX_OPEN; v++) ok(h.open(dev, v, { count: 1, roles: ['admin'] }, `s:r@p:t/${v}`));
    const extra = h.open(dev, MAX_OPEN + 1, { count: 1, roles: ['admin'] }, 's:r@p:t/extra');
    refused(extra, 'TOO_MANY_OPEN');
    assert.equal(h.m.recordState(hashOf(MAX_OPEN + 1), dev.node)?.state, 'rejected', 'never current');
    ok(h.vote(admin, 'p-1', 'approve'));
    ok(h.open(dev, MAX_OPEN + 2, { count: 1, roles: ['admin'] }, 's:r@p:t/later'));
  });

  test('a snapshot restores the same proposals, indexes and remembered requests', () => {
    const h = new Harness();
    const p = ok(h.apply({ ...openOf(dev, 2), rid: 'rid-open-0000002' })).proposal;
    ok(h.vote(arch, p.id, 'approve'));
    const copy = new ProposalMachine();
    copy.restore(JSON.parse(JSON.stringify(h.m.snapshot())));
    assert.deepEqual(copy.all(), h.m.all());
    assert.equal(copy.recordState(hashOf(2), dev.node)?.state, 'open');
    const replay = copy.apply({
      index: 99,
      term: 2,
      kind: 'proposals',
      data: { ...openOf(dev, 2), rid: 'rid-open-0000002', at: h.now },
    }) as ProposalResult;
    assert.equal(ok(replay).proposal.id, p.id, 'a retry after a restart is still answered from memory');
    const next = copy.apply({
      index: 100,
      term: 2,
      kind: 'proposals',
      data: { ...openOf(dev, 5), rid: 'rid-open-0000003', at: h.now },
    }) as ProposalResult;
    assert.equal(ok(next).proposal.id, 'p-2', 'ids continue');
  });
});

function openOf(by: Member, version: number): Extract<ProposalRequest, { op: 'open' }> {
  return {
    op: 'open',
    proposer: { agent: by.agent, node: by.node, role: by.role },
    subject: 'a:r@p:t/adr.md',
    address: `ucxl://a:r@p:t/*~${version}/adr.md`,
    version,
    hash: hashOf(version),
    quorum: { count: 2, roles: ['architect', 'admin'] },
  };
}
