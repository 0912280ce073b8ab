// Text rendering for the election verbs (status, watch, trigger, resign) and the leader-only paths
// (context put/get, shhh policy set/show).
import type { ElectStatusResult } from '../../commands/elect/status.ts';
import type { ResignResult } from '../../commands/elect/resign.ts';
import type { TriggerResult } from '../../commands/elect/trigger.ts';
import type { ElectWatchEvent } from '../../commands/elect/watch.ts';
import type { ContextEntry, PolicyView, ProposeResult } from '../../core/election/service.ts';
import { renderPairs } from '../pairs.ts';
import { renderTable } from '../table.ts';
import type { TerminalFacts } from '../terminal.ts';

const short = (id: string | undefined | null): string => (id ? `${id.slice(0, 8)}…${id.slice(-6)}` : '—');
const pct = (x: number | undefined): string => (x === undefined ? '—' : x.toFixed(2));

function since(iso: string | undefined): string {
  if (!iso) return '—';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return `${iso} (${s < 60 ? `${s}s` : s < 3600 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`} ago)`;
}

export function renderElectStatus(s: ElectStatusResult, term: TerminalFacts): string {
  const head = renderPairs([
    ['this node', `${s.self} (${s.state}${s.voter ? '' : ', observer'})`],
    ['term', s.term],
    ['leader', s.leader ? s.leader.peerId : 'none'],
    ['leader address', s.leader?.addresses[0]],
    ['leader since', s.leader ? since(s.leader.since) : undefined],
    ['last heartbeat', s.lastHeartbeatAgoMs === undefined ? undefined : `${s.lastHeartbeatAgoMs} ms ago`],
    ['voted for', s.votedFor ?? '—'],
    ['voters', s.votersSource ? `${s.voters.length} (${s.votersSource})` : 'not formed yet'],
    ['bootstrap', s.bootstrap ? `${s.bootstrap.known.length} of ${s.bootstrap.expect} expected known` : undefined],
    ['leader-only writes', s.canWrite ? 'accepted here' : 'refused here (not the leader)'],
  ]);
  if (s.voters.length === 0) return head;
  const table = renderTable(
    ['voter', 'role', 'score', 'uptime', 'caps', 'resources', 'network', 'experience', 'reachable', 'vote'],
    s.voters.map((v) => [
      `${short(v.peerId)}${v.self ? ' (self)' : ''}`,
      v.leader ? 'leader' : 'voter',
      pct(v.score?.total),
      pct(v.score?.uptime),
      pct(v.score?.capabilities),
      pct(v.score?.resources),
      pct(v.score?.network),
      pct(v.score?.experience),
      v.reachable ? 'yes' : 'no',
      v.vote === undefined ? '?' : short(v.vote),
    ]),
    term.color,
  );
  return `${head}\n${table}`;
}

export function renderElectWatch(e: ElectWatchEvent): string {
  const leader = e.leader ? short(e.leader.peerId) : 'none';
  return `${e.at} term ${e.term}: this node ${e.state}, leader ${leader}${e.canWrite ? ' (leader-only writes here)' : ''}`;
}

export function renderTrigger(r: TriggerResult): string {
  switch (r.action) {
    case 'resigned':
      return `this leader handed over to ${r.target}`;
    case 'asked-leader':
      return `asked the leader to hand over${r.target ? ` (to ${r.target})` : ''}`;
    case 'campaigning':
      return 'no leader known: this node is campaigning';
    default:
      return 'nothing to do (no other voter reachable, or not a voter)';
  }
}

export function renderResign(r: ResignResult): string {
  return `handed leadership over to ${r.target}`;
}

export function renderPropose(r: ProposeResult): string {
  return `${r.kind} record #${r.seq} of term ${r.term} accepted by ${r.acceptedBy} of ${r.voters} voter(s)`;
}

export function renderContexts(list: ContextEntry[], term: TerminalFacts): string {
  if (list.length === 0) return 'no context records';
  return renderTable(
    ['key', 'term', 'seq', 'leader', 'issued', 'content'],
    list.map((c) => {
      const text = typeof c.content === 'string' ? c.content : JSON.stringify(c.content);
      return [c.key, c.term, c.seq, short(c.leader), c.issuedAt, text.length > 60 ? `${text.slice(0, 57)}…` : text];
    }),
    term.color,
  );
}

export function renderPolicy(p: PolicyView): string {
  const from = p.source === 'leader' ? `leader ${p.leader} (term ${p.term}, #${p.seq}, ${p.issuedAt})` : 'config';
  const rules = p.rules.map((r) => `  ${r.name}: /${r.pattern}/${r.flags} ${r.action} (${r.severity})`);
  return [`SHHH extra rules from ${from}: ${p.rules.length}`, ...rules].join('\n');
}
