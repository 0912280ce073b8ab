// What licensing tells operators: the "license" readiness check, the license-state label of
// chorus_peers, the lease series, and chorus_license_info (with dev marked) / expiry.
import { Gauge } from 'prom-client';
import type { HealthCheck } from '../ops/checks.ts';
import type { ChorusMetrics, LeaseSnapshot } from '../ops/metrics.ts';
import type { Admission } from './admission.ts';
import type { LeaseKeeper } from './lease.ts';
import type { NodeLicense } from './startup.ts';

export interface LicensedParts {
  license: NodeLicense;
  admission: Admission;
  lease: LeaseKeeper | undefined;
}

/** critical: the license is within its validity and, with a lease server, the lease is held or in grace. */
export function licenseCheck(parts: LicensedParts): HealthCheck {
  return {
    name: 'license',
    critical: true,
    run: async () => {
      const lic = parts.license.license;
      if (Date.parse(lic.expiresAt) <= Date.now()) throw new Error(`license ${lic.id} expired at ${lic.expiresAt}`);
      const certified = parts.admission.self().expiresAt;
      if (certified <= Date.now()) {
        throw new Error(
          `this node's certificate for license ${lic.id} expired at ${new Date(certified).toISOString()}`,
        );
      }
      const lease = parts.lease?.status();
      if (lease && (lease.state === 'expired' || lease.state === 'released')) {
        throw new Error(`lease ${lease.state} (${lease.lastError ?? lease.server})`);
      }
      const kind = lic.dev ? 'dev license' : 'license';
      return `${kind} ${lic.id}, cluster ${parts.license.clusterId}${lease ? `, lease ${lease.state}` : ''}`;
    },
  };
}

/** The license state of a peer, as the chorus_peers label. */
export function peerLicenseState(admission: Admission, peer: string): string {
  const proven = admission.info(peer);
  if (proven) return proven.dev ? 'dev' : 'licensed';
  return admission.isDenied(peer) ? 'refused' : 'unproven';
}

export function leaseSnapshot(lease: LeaseKeeper | undefined): LeaseSnapshot {
  if (!lease) return { state: 'none' };
  const s = lease.status();
  return {
    state: s.state,
    ...(s.graceRemainingMs !== undefined ? { graceRemainingSeconds: Math.round(s.graceRemainingMs / 1000) } : {}),
  };
}

/** Points the peer-license label and the lease series at this node's licensing. */
export function wireLicenseMetricSources(metrics: ChorusMetrics, parts: LicensedParts): void {
  metrics.setPeerLicenseSource((peer) => peerLicenseState(parts.admission, peer));
  metrics.setLeaseSource(() => leaseSnapshot(parts.lease));
}

/** Feeds the metric sources and registers chorus_license_info / chorus_license_expiry_timestamp_seconds. */
export function wireLicenseMetrics(metrics: ChorusMetrics, parts: LicensedParts): void {
  wireLicenseMetricSources(metrics, parts);
  const lic = parts.license.license;
  const info = new Gauge({
    name: 'chorus_license_info',
    help: 'This node’s license (1): id, cluster, and whether it is a development license.',
    labelNames: ['license_id', 'cluster', 'dev'],
    registers: [metrics.registry],
  });
  info.set({ license_id: lic.id, cluster: parts.license.clusterId, dev: String(lic.dev) }, 1);
  const expiry = new Gauge({
    name: 'chorus_license_expiry_timestamp_seconds',
    help: 'When this node’s license, or its node certificate if that ends first, expires (Unix time).',
    registers: [metrics.registry],
  });
  expiry.set(parts.admission.self().expiresAt / 1000);
  new Gauge({
    name: 'chorus_admission_refused_peers',
    help: 'Peers refused since start because they proved no license for this cluster.',
    registers: [metrics.registry],
    collect() {
      this.set(parts.admission.refusedCount);
    },
  });
}
