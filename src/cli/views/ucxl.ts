// Text rendering for decisions and keys.
import type { GetResult } from '../../commands/ucxl/ucxl.ts';
import type { SplitResult } from '../../commands/keys/keys.ts';
import type { RotationReport } from '../../core/decisions/rotate.ts';
import type { DecisionMeta, PutReceipt } from '../../core/decisions/store.ts';
import { renderPairs } from '../pairs.ts';
import { renderTable } from '../table.ts';
import type { TerminalFacts } from '../terminal.ts';

const short = (id: string) => `${id.slice(0, 8)}…${id.slice(-6)}`;

export function renderPut(r: PutReceipt): string {
  const stored = `stored ${r.address} (version ${r.version}, ${r.size} bytes, on ${r.holders} of ${r.replication} required peers)`;
  const a = r.announcement;
  if (!a) return stored;
  return a.sent
    ? `${stored}\nannounced on ${a.topic} (sent to ${a.recipients ?? 0} peers)`
    : `${stored}\nnot announced: ${a.note ?? `nobody is subscribed to ${a.topic}`}`;
}

export function renderGet(r: GetResult): string | Uint8Array {
  return r.writtenTo ? `wrote ${r.content.byteLength} bytes of ${r.meta.address} to ${r.writtenTo}` : r.content;
}

export function renderMeta(m: DecisionMeta & { readers?: string[]; providers?: string[] }): string {
  return renderPairs([
    ['address', m.address],
    ['version', m.version],
    ['author', `${m.author} (${m.authorRole})`],
    ['written', m.timestamp],
    ['content type', m.contentType],
    ['size', `${m.size} bytes`],
    ['for roles', m.roles.join(', ')],
    ['readable by', m.readers?.join(', ')],
    ['hash', m.hash],
    ['previous', m.prevHash || '—'],
    ['deleted', m.deleted ? 'yes' : undefined],
    ['proposal', m.proposal ? `${m.proposal.id} ${m.proposal.state}` : m.proposalState],
    ['providers', m.providers ? String(m.providers.length) : undefined],
  ]);
}

/** The columns of a list of decision versions (`ls`, and `history` with one more). */
export const DECISION_COLUMNS = ['address', 'version', 'author', 'role', 'written', 'size'];

export function decisionRow(m: DecisionMeta): (string | number)[] {
  return [m.address, m.version, short(m.author), m.authorRole, m.timestamp, m.deleted ? 'deleted' : m.size];
}

export function renderList(items: DecisionMeta[], term: TerminalFacts): string {
  if (items.length === 0) return 'no decisions';
  return renderTable(DECISION_COLUMNS, items.map(decisionRow), term.color);
}

export function renderSplit(r: SplitResult): string {
  return [
    `${r.role} key v${r.version} split into ${r.shares.length} shares; any ${r.threshold} recover it, fewer reveal nothing.`,
    'Give each share to a different custodian:',
    ...r.shares,
  ].join('\n');
}

export function renderRotation(r: RotationReport): string {
  const lines = [`${r.role} key rotated to version ${r.version}; re-encrypted ${r.reencrypted.length} decision(s)`];
  for (const a of r.reencrypted) lines.push(`  ${a}`);
  if (r.skipped.length)
    lines.push(`skipped ${r.skipped.length}:`, ...r.skipped.map((s) => `  ${s.address}: ${s.reason}`));
  return lines.join('\n');
}
