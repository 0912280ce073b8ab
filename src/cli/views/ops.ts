// Text rendering for the ops verbs: node install/uninstall and status --watch.
import type { InstallResult } from '../../commands/node/install.ts';
import type { WatchFrame } from '../../commands/node/status.ts';
import type { TerminalFacts } from '../terminal.ts';

export function renderInstall(r: InstallResult): string {
  if (r.dryRun && r.unit)
    return `# ${r.path} (dry run: ${r.action === 'unchanged' ? 'unchanged' : 'not written'})\n${r.unit}`;
  const what = {
    created: `wrote ${r.path}`,
    replaced: `replaced ${r.path}`,
    unchanged: `${r.path} is already up to date`,
    removed: r.dryRun ? `would remove ${r.path}` : `removed ${r.path}`,
    absent: `${r.path} does not exist; nothing to remove`,
  }[r.action];
  return [what, ...(r.next.length ? ['next:', ...r.next.map((n) => `  ${n}`)] : [])].join('\n');
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${m}m` : m ? `${m}m${s % 60}s` : `${s}s`;
}

/** One frame of `status --watch`: a one-screen summary on a terminal, one plain line otherwise. */
export function renderWatch(f: WatchFrame, term: TerminalFacts): string {
  const s = f.status;
  const o = f.ops;
  const election = o?.election ? `term ${o.election.term}, ${o.election.state}` : 'unknown';
  const lease = o?.lease
    ? `${o.lease.state}${o.lease.graceRemainingSeconds !== undefined ? ` (${o.lease.graceRemainingSeconds}s grace)` : ''}`
    : 'unknown';
  const ready = !o ? 'ops off' : o.health.ready ? 'ready' : `NOT READY (${o.health.reasons.join('; ')})`;
  const records = o ? `${o.dhtRecords.latest} decisions, ${o.dhtRecords.versions} versions` : '—';
  if (!term.tty) {
    return `${f.time} peers=${s.peers} topics=${s.topics.length} dht=${o?.dhtRecords.latest ?? '?'}/${o?.dhtRecords.versions ?? '?'} election=${JSON.stringify(election)} lease=${JSON.stringify(lease)} ${ready}`;
  }
  const lines = [
    `chorus ${s.peerId}  (${s.role}, up ${duration(s.uptimeMs)})   ${f.time}`,
    '',
    `  health     ${ready}`,
    `  peers      ${s.peers}`,
    `  election   ${election}`,
    `  lease      ${lease}`,
    `  dht        ${records}`,
    `  event log  ${s.eventLog.entries} entries`,
    `  ops        ${s.ops ?? '—'}`,
    `  topics     ${s.topics.length}`,
    ...s.topics.map((t) => `    ${t.topic.padEnd(44)} ${String(t.peers).padStart(3)} peers`),
    ...(o
      ? [
          '',
          '  checks',
          ...o.health.checks.map((c) => `    ${c.name.padEnd(10)} ${c.status.padEnd(7)} ${c.error ?? c.detail ?? ''}`),
        ]
      : []),
    '',
    '  (Ctrl-C to quit)',
  ];
  // home, clear the screen, then the frame: a redraw in place
  return `\x1b[H\x1b[2J${lines.join('\n')}`;
}
