// Text rendering for the node verbs: status, peers, publish receipts, streamed messages, log entries.
import type { NodeRunResult } from '../../commands/node/run.ts';
import type { CompactReport } from '../../commands/node/log.ts';
import type { PublishResult } from '../../commands/node/publish.ts';
import type { LogEntry, VerifyReport } from '../../core/eventlog/types.ts';
import type { NodeStatus, PeerView } from '../../core/node/node.ts';
import type { ReceivedMessage } from '../../core/pubsub/pubsub.ts';
import { renderPairs } from '../pairs.ts';
import { renderTable } from '../table.ts';
import type { TerminalFacts } from '../terminal.ts';

function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${m}m` : m ? `${m}m${s % 60}s` : `${s}s`;
}

export function renderStatus(s: NodeStatus): string {
  return [
    renderPairs([
      ['peer id', s.peerId],
      ['version', s.version],
      ['role', s.role],
      ['expertise', s.expertise.join(', ') || '—'],
      ['peers', s.peers],
      ['uptime', duration(s.uptimeMs)],
      ['data dir', s.dataDir],
      ['event log', `${s.eventLog.entries} entries, head ${s.eventLog.headHash.slice(0, 16)}`],
      ['api', s.api.tcp ? `${s.api.socket}, tcp ${s.api.tcp}` : s.api.socket],
      ['license', `${s.license.id} (${s.license.dev ? 'DEV, ' : ''}cluster ${s.license.clusterId})`],
      ['lease', s.license.lease ? `${s.license.lease.state} (${s.license.lease.server})` : undefined],
      ['ops', s.ops ?? 'off'],
      [
        'election',
        s.election ? `${s.election.state}, term ${s.election.term}, leader ${s.election.leader ?? 'none'}` : undefined,
      ],
    ]),
    'addresses:',
    ...s.addresses.map((a) => `  ${a}`),
    'topics:',
    ...s.topics.map((t) => `  ${t.topic} (${t.family}${t.raw ? ', raw' : ''}, ${t.peers} peers)`),
  ].join('\n');
}

export function renderPeers(peers: PeerView[], term: TerminalFacts): string {
  if (peers.length === 0) return 'no peers';
  return renderTable(
    ['peer', 'role', 'capabilities', 'status', 'last seen', 'address', 'latency', 'license'],
    peers.map((p) => [
      `${p.peerId.slice(0, 8)}…${p.peerId.slice(-6)}`,
      p.role ?? '—',
      p.capabilities?.join(', ') || '—',
      `${p.status ?? (p.connected ? 'connected' : 'gone')}${p.passedOver ? ', not answering' : ''}`,
      ago(p.lastSeen),
      p.addresses[0]?.replace(/\/p2p\/.*$/, '') ?? '—',
      p.latencyMs === undefined ? '—' : `${p.latencyMs} ms`,
      p.license ? `${p.license.licenseId}${p.license.dev ? ' (dev)' : ''}` : 'unproven',
    ]),
    term.color,
  );
}

export function renderPublish(r: PublishResult): string {
  const what = r.type ? `${r.type} to ${r.topic}` : `raw payload to ${r.topic}`;
  const lines = [`published ${what} (id ${r.msgId}, sent to ${r.recipients} peer(s))`];
  if (r.redactions) lines.push(`SHHH redacted ${r.redactions} secret(s) before sending`);
  if (r.confirmedBy) lines.push(`confirmed by ${r.confirmedBy.length} peer(s) in ${r.elapsedMs} ms`);
  return lines.join('\n');
}

export function renderMessage(m: ReceivedMessage): string {
  const from = `${m.from.slice(0, 8)}…${m.from.slice(-6)}`;
  if (m.raw) return `${m.receivedAt} ${m.topic} raw from ${from}: ${JSON.stringify(m.payload)}`;
  const e = m.envelope;
  const role = e?.from_role ? ` (${e.from_role})` : '';
  const to = e?.to_roles?.length ? ` → ${e.to_roles.join(',')}` : '';
  return `${m.receivedAt} ${m.topic} ${e?.type} from ${from}${role}${to}: ${JSON.stringify(e?.data)}`;
}

export function renderLogEntry(e: LogEntry): string {
  return `#${e.seq} ${e.time} ${e.type} ${JSON.stringify(e.data)}`;
}

export function renderVerify(r: VerifyReport): string {
  const from = r.checkpoint ? ` from entry ${r.from} (signed checkpoint of ${r.checkpoint.time})` : '';
  return `event log verified: ${r.entries} entries, chain intact${from}, head #${r.headSeq} ${r.headHash.slice(0, 16)}`;
}

const mib = (bytes: number): string => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

export function renderCompact(r: CompactReport): string {
  const limits =
    [
      r.policy.maxAgeMs > 0 ? `${+(r.policy.maxAgeMs / 86_400_000).toFixed(3)} days` : '',
      r.policy.maxBytes > 0 ? mib(r.policy.maxBytes) : '',
    ]
      .filter(Boolean)
      .join(', ') || 'no limits set';
  const disk = `${mib(r.fileBytesBefore)} → ${mib(r.fileBytesAfter)} on disk`;
  const by = r.via === 'node' ? 'by the running node' : 'on the file';
  if (r.removed === 0) return `nothing to remove (retention: ${limits}); ${disk}, ${by}`;
  return `removed ${r.removed} entries (retention: ${limits}); the log now verifies from entry ${r.from} (signed checkpoint); ${disk}, ${by}`;
}

export function renderNodeRun(r: NodeRunResult): string {
  return `node ${r.peerId} stopped after ${duration(r.uptimeMs)}${r.stoppedCleanly ? '' : ' (forced)'}`;
}
