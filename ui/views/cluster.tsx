// Cluster: this node, its peers (role, capabilities, license kind, latency, last seen, listen address), the
// election (leader, term, voters with their scores), the readiness checks and the lease — kept live by the
// `peers` and `election` events and a 5-second refresh of status and health.
import { useEffect } from 'preact/hooks';
import type { ElectionStatus } from '../../src/core/election/service.ts';
import type { LicenseInfo } from '../../src/core/node/routes.ts';
import type { NodeStatus, PeerView } from '../../src/core/node/status.ts';
import type { HealthReport } from '../../src/core/ops/checks.ts';
import { get } from '../api.ts';
import { duration, Empty, ErrorLine, PeerId, Section, Tag, Time } from '../components.tsx';
import { useLive, useResource } from '../hooks.ts';

let firstViewMarked = false;

/** Marks the moment the first view showed data (the browser test reads it). */
function markFirstView(): void {
  if (firstViewMarked) return;
  firstViewMarked = true;
  performance.mark('hap-first-view');
  document.documentElement.dataset.firstView = String(Math.round(performance.now()));
}

function licenseKind(p: PeerView): string {
  if (!p.license) return 'unproven';
  return p.license.dev ? 'dev' : 'licensed';
}

function Node({ status }: { status: NodeStatus }) {
  const lic = status.license;
  return (
    <dl class="facts">
      <dt>peer</dt>
      <dd>
        <code>{status.peerId}</code>
      </dd>
      <dt>role</dt>
      <dd>{status.role}</dd>
      <dt>version</dt>
      <dd>{status.version}</dd>
      <dt>up</dt>
      <dd>{duration(status.uptimeMs)}</dd>
      <dt>addresses</dt>
      <dd>
        {status.addresses.map((a) => (
          <div key={a}>
            <code>{a}</code>
          </div>
        ))}
      </dd>
      <dt>license</dt>
      <dd>
        {lic.dev ? <Tag kind="warn">dev</Tag> : <Tag kind="ok">licensed</Tag>} {lic.licensee} · cluster{' '}
        <code>{lic.clusterId}</code> · expires <Time at={lic.expiresAt} />
      </dd>
      <dt>lease</dt>
      <dd>
        {lic.lease ? (
          <>
            <Tag kind={lic.lease.state === 'held' ? 'ok' : 'warn'}>{lic.lease.state}</Tag> from {lic.lease.server}
            {lic.lease.expiresAt ? (
              <>
                {' '}
                · expires <Time at={lic.lease.expiresAt} />
              </>
            ) : null}
            {lic.lease.lastError ? <span class="muted"> · {lic.lease.lastError}</span> : null}
          </>
        ) : (
          <span class="muted">no lease server (license.server unset)</span>
        )}
      </dd>
      <dt>event log</dt>
      <dd>{status.eventLog.entries} entries</dd>
    </dl>
  );
}

function Peers({ peers }: { peers: PeerView[] }) {
  if (!peers.length) return <Empty>No peers yet.</Empty>;
  return (
    <table class="peers">
      <thead>
        <tr>
          <th>peer</th>
          <th>role</th>
          <th>capabilities</th>
          <th>license</th>
          <th>latency</th>
          <th>last seen</th>
          <th>status</th>
          <th>listen address</th>
        </tr>
      </thead>
      <tbody>
        {peers.map((p) => (
          <tr key={p.peerId} class={p.connected ? '' : 'muted'}>
            <td>
              <PeerId id={p.peerId} />
            </td>
            <td>{p.role ?? '—'}</td>
            <td>{p.capabilities?.join(', ') || '—'}</td>
            <td>
              <Tag kind={p.license ? (p.license.dev ? 'warn' : 'ok') : 'bad'}>{licenseKind(p)}</Tag>
            </td>
            <td>{p.latencyMs === undefined ? '—' : `${p.latencyMs} ms`}</td>
            <td>
              <Time at={p.lastSeen} />
            </td>
            <td>{p.connected ? (p.status ?? 'connected') : 'disconnected'}</td>
            <td>
              <code>{p.addresses[0] ?? '—'}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Election({ e }: { e: ElectionStatus }) {
  return (
    <>
      <p>
        <Tag kind={e.leader ? 'ok' : 'warn'}>{e.state}</Tag> term {e.term} · leader{' '}
        {e.leader ? <PeerId id={e.leader.peerId} /> : <strong>none</strong>}
        {e.leader?.since ? (
          <>
            {' '}
            since <Time at={e.leader.since} />
          </>
        ) : null}
        {e.canWrite ? ' · this node can write' : ''}
      </p>
      <table class="voters">
        <thead>
          <tr>
            <th>voter</th>
            <th>reachable</th>
            <th>score</th>
            <th>uptime</th>
            <th>capabilities</th>
            <th>resources</th>
            <th>network</th>
            <th>experience</th>
            <th>voted for</th>
          </tr>
        </thead>
        <tbody>
          {e.voters.map((v) => (
            <tr key={v.peerId} class={v.leader ? 'leader' : ''}>
              <td>
                <PeerId id={v.peerId} /> {v.self ? <Tag>this node</Tag> : null}{' '}
                {v.leader ? <Tag kind="ok">leader</Tag> : null}
              </td>
              <td>{v.reachable ? 'yes' : 'no'}</td>
              <td>{v.score ? v.score.total.toFixed(3) : '—'}</td>
              <td>{v.score?.uptime.toFixed(2) ?? '—'}</td>
              <td>{v.score?.capabilities.toFixed(2) ?? '—'}</td>
              <td>{v.score?.resources.toFixed(2) ?? '—'}</td>
              <td>{v.score?.network.toFixed(2) ?? '—'}</td>
              <td>{v.score?.experience.toFixed(2) ?? '—'}</td>
              <td>{v.vote ? <PeerId id={v.vote} /> : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {e.bootstrap ? (
        <p class="muted">
          forming the voter set: {e.bootstrap.known.length} of {e.bootstrap.expect} known
        </p>
      ) : null}
    </>
  );
}

function Health({ h }: { h: HealthReport }) {
  return (
    <>
      <p>
        {h.ready ? <Tag kind="ok">ready</Tag> : <Tag kind="bad">not ready</Tag>} {h.reasons.join('; ')}
      </p>
      <table>
        <thead>
          <tr>
            <th>check</th>
            <th>status</th>
            <th>critical</th>
            <th>last run</th>
            <th>detail</th>
          </tr>
        </thead>
        <tbody>
          {h.checks.map((c) => (
            <tr key={c.name}>
              <td>{c.name}</td>
              <td>
                <Tag kind={c.status === 'pass' ? 'ok' : c.status === 'fail' ? 'bad' : 'warn'}>{c.status}</Tag>
              </td>
              <td>{c.critical ? 'yes' : 'no'}</td>
              <td>
                <Time at={c.lastRun} />
              </td>
              <td>{c.error ?? c.detail ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

export function ClusterView() {
  const status = useResource(() => get<NodeStatus>('/v1/status'), [], { every: 5000 });
  const peers = useResource(() => get<PeerView[]>('/v1/peers'), [], { every: 15_000 });
  const election = useResource(() => get<ElectionStatus>('/v1/election/status'), []);
  const health = useResource(() => get<HealthReport>('/v1/health'), [], { every: 5000 });
  const license = useResource(() => get<LicenseInfo>('/v1/license'), [], { every: 15_000 });
  useLive<PeerView[]>('peers', (list) => peers.set(() => list));
  useLive<ElectionStatus>('election', (e) => election.set(() => e));
  useEffect(() => {
    if (status.data) markFirstView();
  }, [status.data]);
  return (
    <div class="grid" data-ready={status.data ? 'cluster' : undefined}>
      <Section title="This node">
        <ErrorLine error={status.error} />
        {status.data ? <Node status={status.data} /> : null}
      </Section>
      <Section title="Readiness">
        <ErrorLine error={health.error} />
        {health.data ? <Health h={health.data} /> : null}
      </Section>
      <Section title="Election">
        <ErrorLine error={election.error} />
        {election.data ? <Election e={election.data} /> : null}
      </Section>
      <Section title={`Peers (${peers.data?.length ?? 0})`}>
        <ErrorLine error={peers.error} />
        {peers.data ? <Peers peers={peers.data} /> : null}
        {license.data ? (
          <p class="muted">
            {license.data.admitted.length} peer(s) proved a license; {license.data.refused} refused
          </p>
        ) : null}
      </Section>
    </div>
  );
}
