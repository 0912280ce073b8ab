// Text rendering for `chorus license …`.
import type { KeygenResult, ServeResult, VerifyResult } from '../../commands/license/license.ts';
import type { License } from '../../core/license/document.ts';
import type { LicenseInfo } from '../../core/node/routes.ts';
import { renderPairs } from '../pairs.ts';

function licensePairs(l: License): [string, string | number | undefined][] {
  return [
    ['license', l.id],
    ['licensee', l.licensee],
    ['cluster', l.clusterId],
    ['max nodes', l.maxNodes],
    ['features', l.features.join(', ') || '—'],
    ['not before', l.notBefore],
    ['expires', l.expiresAt],
    ['dev', l.dev ? 'yes (development license)' : 'no'],
    ['authority', l.authority],
  ];
}

export function renderKeygen(r: KeygenResult): string {
  return [
    `authority private key: ${r.privateKeyFile} (0600; keep it offline)`,
    `authority public key:  ${r.publicKey}`,
    `nodes trust it with: license.authority / CHORUS_LICENSE_AUTHORITY=${r.publicKey}`,
  ].join('\n');
}

export function renderIssued(r: { file: string; license: License }): string {
  return `${renderPairs(licensePairs(r.license))}\nwritten to ${r.file}`;
}

export function renderShow(r: { file: string; license: License }): string {
  return renderPairs(licensePairs(r.license));
}

export function renderVerify(r: VerifyResult): string {
  if (r.valid) return `valid: ${r.license?.id} for cluster ${r.license?.clusterId}, until ${r.license?.expiresAt}`;
  return `invalid (${r.reason}): ${r.message}`;
}

export function renderLicenseStatus(r: LicenseInfo): string {
  const l = r.license;
  const lease = l.lease;
  const pairs: [string, string | number | undefined][] = [
    ['license', `${l.id}${l.dev ? ' (DEV)' : ''}`],
    ['licensee', l.licensee],
    ['cluster', l.clusterId],
    ['expires', l.expiresAt],
    ['file', l.file],
    ['lease', lease ? `${lease.state} at ${lease.server}` : 'none (no license.server configured)'],
    ['lease expires', lease?.expiresAt],
    ['last renewal', lease?.lastRenewedAt],
    [
      'grace left',
      lease?.graceRemainingMs === undefined ? undefined : `${Math.round(lease.graceRemainingMs / 1000)} s`,
    ],
    [
      'breaker',
      lease
        ? `${lease.breaker}${lease.consecutiveFailures ? `, ${lease.consecutiveFailures} failure(s)` : ''}`
        : undefined,
    ],
    ['last error', lease?.lastError],
    ['admitted peers', r.admitted.length],
    ['refused peers', r.refused],
  ];
  return renderPairs(pairs);
}

export function renderServe(r: ServeResult): string {
  return `lease server on ${r.listen} stopped; ${r.leases.length} live lease(s) persisted`;
}
