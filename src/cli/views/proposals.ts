// Text rendering for decision voting: a proposal (fields and votes), the list of proposals, the answer
// to propose and vote, and `ucxl history` with each version's proposal state and votes.
import type { DecisionMeta } from '../../core/decisions/meta.ts';
import { tally, type Proposal } from '../../core/proposals/model.ts';
import type { ProposeResponse } from '../../core/proposals/routes.ts';
import { renderPairs } from '../pairs.ts';
import { renderTable } from '../table.ts';
import type { TerminalFacts } from '../terminal.ts';
import { DECISION_COLUMNS, decisionRow } from './ucxl.ts';

const short = (id: string): string => `…${id.slice(-6)}`;
const who = (p: { agent: string; node: string; role: string }): string =>
  `${p.agent} (${p.role}, node ${short(p.node)})`;

/** "1 of 2 approvals, 0 rejections (architect, admin)". */
function standing(p: Proposal): string {
  const t = tally(p);
  return `${t.approve} of ${p.quorum.count} approvals, ${t.reject} of ${p.quorum.count} rejections (${p.quorum.roles.join(', ')} vote)`;
}

function voteLines(p: Proposal, indent = ''): string[] {
  return p.votes.map(
    (v) =>
      `${indent}${v.vote === 'approve' ? 'approve' : 'reject '} ${who(v.voter)} at ${v.at}: ${v.reason}${v.verified ? '' : '  [SIGNATURE DOES NOT VERIFY]'}`,
  );
}

export function renderProposed(r: ProposeResponse): string {
  const p = r.proposal;
  return `proposed ${p.address} as ${p.id}: it becomes current (*^) once ${p.quorum.count} of ${p.quorum.roles.join(', ')} approve`;
}

export function renderVoted(p: Proposal): string {
  if (p.state === 'accepted') return `${p.id} accepted: ${p.address} is the current version`;
  if (p.state === 'rejected') return `${p.id} rejected: ${p.address} will not become current`;
  return `vote recorded on ${p.id}: ${standing(p)}`;
}

export function renderProposal(p: Proposal): string {
  const head = renderPairs([
    ['proposal', p.id],
    ['state', p.state],
    ['version', p.address],
    ['proposed by', who(p.proposer)],
    ['reason', p.reason],
    ['quorum', `${p.quorum.count} of ${p.quorum.roles.join(', ')}`],
    ['standing', standing(p)],
    ['created', p.createdAt],
    ['decided', p.decidedAt],
    ['note', p.note],
  ]);
  return p.votes.length ? `${head}\n\nvotes:\n${voteLines(p, '  ').join('\n')}` : `${head}\n\nno votes yet`;
}

export function renderProposals(list: Proposal[], term: TerminalFacts): string {
  if (list.length === 0) return 'no proposals';
  return renderTable(
    ['id', 'state', 'version', 'approve', 'reject', 'needs', 'proposed by', 'created'],
    list.map((p) => {
      const t = tally(p);
      return [
        p.id,
        p.state,
        p.address,
        t.approve,
        t.reject,
        `${p.quorum.count} of ${p.quorum.roles.join(', ')}`,
        p.proposer.agent,
        p.createdAt,
      ];
    }),
    term.color,
  );
}

/** `ucxl history`: every version, with its proposal state, then the votes of each proposed version. */
export function renderHistory(items: DecisionMeta[], term: TerminalFacts): string {
  if (items.length === 0) return 'no decisions';
  const table = renderTable(
    [...DECISION_COLUMNS, 'proposal'],
    items.map((m) => [
      ...decisionRow(m),
      m.proposal ? `${m.proposal.id} ${m.proposal.state}` : (m.proposalState ?? '—'),
    ]),
    term.color,
  );
  const votes = items
    .filter((m) => m.proposal)
    .map((m) => {
      const p = m.proposal as Proposal;
      const lines = p.votes.length ? voteLines(p, '  ') : ['  no votes yet'];
      return `version ${m.version} (${p.id}, ${p.state}; ${standing(p)}):\n${lines.join('\n')}`;
    });
  return [table, ...votes].join('\n\n');
}
