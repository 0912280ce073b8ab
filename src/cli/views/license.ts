// Text rendering for `chorus license …`.
import type {
  EnrollResult,
  KeygenResult,
  RequestResult,
  ServeResult,
  ShowResult,
  VerifyResult,
} from '../../commands/license/license.ts';
import type { NodeBinding } from '../../core/license/certificate.ts';
import type { License } from '../../core/license/document.ts';
import type { LicenseInfo } from '../../core/node/routes.ts';
import { renderPairs } from '../pairs.ts';

function licensePairs(l: License): [string, string | number | undefined][] {
  return [
    ['license', l.id],
    ['licensee', l.licensee],
    ['licensee key', l.licenseeKey],
    ['cluster', l.clusterId],
    ['max nodes', l.maxNodes],
    ['features', l.features.join(', ') || '—'],
    ['not before', l.notBefore],
    ['expires', l.expiresAt],
    ['dev', l.dev ? 'yes (development license)' : 'no'],
    ['authority', l.authority],
  ];
}

function nodePairs(n: NodeBinding | undefined): [string, string | number | undefined][] {
  if (!n) return [];
  return [
    ['node peer', n.peer],
    ['certified from', n.notBefore],
    ['certified until', n.expiresAt],
  ];
}

export function renderKeygen(r: KeygenResult): string {
  if (r.kind === 'licensee') {
    return [
      `licensee private key: ${r.privateKeyFile} (0600; it enrols nodes: keep it off them)`,
      `licensee public key:  ${r.publicKey}`,
      `the authority issues the license to it: chorus license issue … --licensee-key ${r.publicKey}`,
    ].join('\n');
  }
  return [
    `authority private key: ${r.privateKeyFile} (0600; keep it offline)`,
    `authority public key:  ${r.publicKey}`,
    `nodes trust it with: license.authority / CHORUS_LICENSE_AUTHORITY=${r.publicKey}`,
  ].join('\n');
}

export function renderIssued(r: { file: string; license: License }): string {
  return `${renderPairs(licensePairs(r.license))}\nwritten to ${r.file}`;
}

export function renderRequest(r: RequestResult): string {
  return [
    `peer ID: ${r.peerId}${r.created ? ` (new identity: ${r.identityFile})` : ''}`,
    `enrol it where the licensee key is: chorus license enroll --license <license> --licensee-key <key> --peer ${r.peerId} --out node.license.json`,
    `then copy node.license.json to ${r.dataDir}/license.json (or license.file)`,
  ].join('\n');
}

export function renderEnrolled(r: EnrollResult): string {
  return `enrolled peer ${r.peer} under license ${r.license.id} until ${r.node.expiresAt}\nwritten to ${r.file} (0600)`;
}

export function renderShow(r: ShowResult): string {
  const kind: [string, string][] = [['kind', r.kind === 'certificate' ? 'node certificate' : 'license']];
  return renderPairs([...kind, ...licensePairs(r.license), ...nodePairs(r.node)]);
}

export function renderVerify(r: VerifyResult): string {
  // an invalid file: the reason goes to stderr, once, with exit 3
  if (!r.valid) return `invalid: ${r.file}`;
  const what = r.node ? `node certificate for ${r.node.peer}, license ${r.license?.id}` : r.license?.id;
  const until = r.node ? r.node.expiresAt : r.license?.expiresAt;
  return `valid: ${what} for cluster ${r.license?.clusterId}, until ${until}`;
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
  return `lease server on ${r.listen} (key ${r.key}) stopped; ${r.leases.length} live lease(s) persisted`;
}
