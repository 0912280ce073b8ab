// Role key rotation: issue a new key version for a role, then re-encrypt the latest version of every
// decision that role can read (as a new version), so new readers need the new key while old versions
// stay readable to holders of the old one.
import type { RoleKeyring } from '../crypto/keyring.ts';
import { readersOf, type RolePolicy } from '../crypto/policy.ts';
import { describeError } from '../errors.ts';
import { parseAddress } from '../ucxl/address.ts';
import type { DecisionStore } from './store.ts';

export interface RotationReport {
  role: string;
  version: number;
  reencrypted: string[];
  skipped: { address: string; reason: string }[];
}

export async function rotateRoleKey(
  role: string,
  deps: { keyring: RoleKeyring; store: DecisionStore; policy: RolePolicy },
  signal?: AbortSignal,
): Promise<RotationReport> {
  const key = await deps.keyring.rotate(role);
  const report: RotationReport = { role, version: key.version, reencrypted: [], skipped: [] };
  for (const subject of await deps.store.knownSubjects()) {
    const address = parseAddress(`ucxl://${subject.replace(/^([^/]+)(\/|$)/, '$1/*^$2')}`);
    try {
      const latest = await deps.store.resolve(address, signal);
      if (latest.deleted || !readersOf(latest.roles, deps.policy).includes(role)) continue;
      const { content, meta } = await deps.store.get(address, signal);
      const receipt = await deps.store.put(address, content, {
        contentType: meta.contentType,
        roles: meta.roles,
        signal,
      });
      report.reencrypted.push(receipt.address);
    } catch (err) {
      report.skipped.push({ address: subject, reason: describeError(err) });
    }
  }
  return report;
}
