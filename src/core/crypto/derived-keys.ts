// Role keys derived from a secret: every node that holds the same secret (the dev authority of a local
// dev cluster) computes the same age keypair for a role, so dev nodes read each other's decisions with
// no key distribution step and no shared file to race on. Only for --dev: a real cluster's role keys
// are random and distributed as scoped keyrings (docs/keys.md).
import { bech32 } from '@scure/base';
import { identityToRecipient } from 'age-encryption';
import { hkdfSync } from 'node:crypto';
import { assertRoleName } from './policy.ts';
import type { RoleKey } from './keyring.ts';

const SALT = 'chorus-dev-role-key/1';

/** Version 1 of `role`'s key, derived (HKDF-SHA256) from `secret` within `context`. */
export async function derivedRoleKey(secret: Uint8Array, context: string, role: string): Promise<RoleKey> {
  assertRoleName(role);
  const bytes = new Uint8Array(hkdfSync('sha256', secret, SALT, `${context}\n${role}`, 32));
  const identity = bech32.encode('age-secret-key-', bech32.toWords(bytes), 1024).toUpperCase();
  return {
    role,
    version: 1,
    identity,
    recipient: await identityToRecipient(identity),
    createdAt: new Date().toISOString(),
  };
}
