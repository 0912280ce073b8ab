// Text rendering for the task verbs: one line per change, a table for ls, fields and history for show.
import type { TaskChange, WatchLine } from '../../commands/task/task.ts';
import type { Task } from '../../core/tasks/model.ts';
import { renderPairs } from '../pairs.ts';
import { renderTable } from '../table.ts';
import type { TerminalFacts } from '../terminal.ts';

function age(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 86400) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

const live = (t: Task): boolean => t.state === 'claimed' || t.state === 'in_progress';
const owner = (t: Task): string => (live(t) && t.claim ? t.claim.owner.agent : '—');

export function renderChange(r: TaskChange): string {
  const t = r.task;
  switch (t.state) {
    case 'claimed':
      return `claimed ${t.id} (attempt ${t.attempt}, token ${r.token ?? t.claim?.token}); ${
        t.claim?.hold === 'node'
          ? 'this node renews the claim until you complete, fail or cancel it'
          : 'renew it while you work'
      }`;
    case 'completed':
      return `completed ${t.id}${t.result ? `: ${t.result}` : ''}`;
    case 'blocked':
      return `${t.id} is blocked: ${t.blockedBy.map((b) => `${b.task} (${b.rule}${b.via ? `: ${b.via}` : ''})`).join(', ')}`;
    case 'escalated':
      return `${t.id} is escalated: ${t.escalation?.reason ?? ''}`;
    default:
      return `${t.id} is ${t.state}${t.progress?.percent !== undefined ? ` (${t.progress.percent}%)` : ''}: ${t.title}`;
  }
}

export function renderList(tasks: Task[], term: TerminalFacts): string {
  if (tasks.length === 0) return 'no tasks';
  return renderTable(
    ['id', 'state', 'priority', 'owner', 'age', 'title'],
    tasks.map((t) => [t.id, t.state, t.priority, owner(t), age(t.createdAt), t.title]),
    term.color,
  );
}

export function renderTask(t: Task, term: TerminalFacts): string {
  const head = renderPairs([
    ['id', t.id],
    ['title', t.title],
    ['state', t.state],
    ['project', t.project],
    ['priority', t.priority],
    ['reference', t.ref],
    ['role', t.role],
    ['expertise', t.expertise.join(', ') || undefined],
    ['capabilities', t.capabilities.join(', ') || undefined],
    [
      'owner',
      live(t) && t.claim ? `${t.claim.owner.agent} on ${t.claim.owner.node} (token ${t.claim.token})` : undefined,
    ],
    ['claim expires', live(t) && t.claim ? new Date(t.claim.expiresAt).toISOString() : undefined],
    ['assigned to', t.assignee],
    ['attempts', `${t.attempt} (failures ${t.failures} of ${t.maxAttempts})`],
    ['progress', t.progress ? `${t.progress.percent ?? '?'}% ${t.progress.note ?? ''}`.trim() : undefined],
    ['result', t.result],
    ['last failure', t.lastFailure],
    ['escalated', t.escalation?.reason],
    ['deadline', t.deadline],
    ['depends on', t.dependsOn.join(', ') || undefined],
    ['touches', t.touches.join(', ') || undefined],
    ['provides', t.provides.join(', ') || undefined],
    ['consumes', t.consumes.join(', ') || undefined],
    ['context', t.context.join(', ') || undefined],
    ['blocked by', t.blockedBy.map((b) => `${b.task} (${b.rule}${b.via ? `: ${b.via}` : ''})`).join(', ') || undefined],
    ['created', `${t.createdAt} by ${t.createdBy.agent} on ${t.createdBy.node}`],
  ]);
  const parts = [head];
  if (t.description) parts.push(`\n${t.description}`);
  if (t.alerts.length) parts.push(`\nalerts:\n${t.alerts.map((a) => `  ${a.at} ${a.rule}: ${a.detail}`).join('\n')}`);
  parts.push(
    `\nhistory${t.historyDropped ? ` (${t.historyDropped} older transitions not kept)` : ''}:\n${renderTable(
      ['at', 'state', 'term', 'by', 'note'],
      t.history.map((h) => [h.at, h.state, h.term, h.actor, h.note ?? '']),
      term.color,
    )}`,
  );
  return parts.join('\n');
}

export function renderWatch(l: WatchLine): string {
  const at = new Date().toISOString();
  if (l.kind === 'alert') return `${at} ${l.id} ${l.alert?.rule}: ${l.alert?.detail}`;
  if (l.kind === 'progress')
    return `${at} ${l.id} progress ${l.task.progress?.percent ?? '?'}% ${l.task.progress?.note ?? ''}`.trimEnd();
  return `${at} ${l.id} ${l.from ?? 'new'} → ${l.to} by ${l.actor}${l.note ? ` (${l.note})` : ''}: ${l.task.title}`;
}
