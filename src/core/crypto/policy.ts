// Role policy: which roles may read decisions meant for which roles. A decision is encrypted to every
// role that can read any of its authorized roles, so the policy alone decides the recipient list.
import { UsageError } from '../errors.ts';

/** role → the roles whose decisions it can decrypt; '*' means every role. */
export interface RolePolicy {
  [role: string]: string[];
}

export const WILDCARD = '*';

export const DEFAULT_ROLE_POLICY: Readonly<RolePolicy> = Object.freeze({
  admin: Object.freeze([WILDCARD]) as string[],
  architect: Object.freeze(['architect', 'developer', 'observer']) as string[],
  developer: Object.freeze(['developer']) as string[],
  observer: Object.freeze(['observer']) as string[],
});

const ROLE_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

/** Throws a UsageError unless `role` is a valid role name (lowercase, starts with a letter, ≤ 64 chars). */
export function assertRoleName(role: string): void {
  if (typeof role !== 'string' || !ROLE_NAME.test(role)) {
    throw new UsageError(
      `invalid role name ${JSON.stringify(role)}: use lowercase letters, digits, '-' or '_', starting with a letter`,
      'INVALID_ROLE',
    );
  }
}

/** Checks that every role name is valid and every target is '*' or a role the policy defines. */
export function validatePolicy(policy: RolePolicy): void {
  for (const [role, targets] of Object.entries(policy)) {
    assertRoleName(role);
    if (!Array.isArray(targets)) {
      throw new UsageError(`role policy for "${role}" must be a list of roles`, 'INVALID_POLICY');
    }
    for (const target of targets) {
      if (target !== WILDCARD && !Object.hasOwn(policy, target)) {
        throw new UsageError(`role policy for "${role}" names unknown role "${target}"`, 'INVALID_POLICY');
      }
    }
  }
}

/** True if `role` may decrypt decisions meant for `targetRole`. Unknown roles read nothing. */
export function canRead(role: string, targetRole: string, policy: RolePolicy = DEFAULT_ROLE_POLICY): boolean {
  if (!Object.hasOwn(policy, role)) return false;
  const targets = policy[role] ?? [];
  return targets.includes(WILDCARD) || targets.includes(targetRole);
}

/**
 * Every role that must be a recipient of a decision meant for `authorizedRoles`: the roles that can
 * read any of them (for ['developer'] under the default policy: admin, architect, developer).
 * Sorted and unique. Throws a UsageError for an empty list or a role the policy does not define,
 * so a typo never silently narrows or widens the audience.
 */
export function readersOf(authorizedRoles: string[], policy: RolePolicy = DEFAULT_ROLE_POLICY): string[] {
  if (authorizedRoles.length === 0) {
    throw new UsageError('a decision must be meant for at least one role', 'NO_ROLES');
  }
  for (const target of authorizedRoles) {
    if (!Object.hasOwn(policy, target)) {
      const known = Object.keys(policy).sort().join(', ');
      throw new UsageError(`unknown role "${target}" (the role policy defines: ${known})`, 'UNKNOWN_ROLE');
    }
  }
  const readers = Object.keys(policy).filter((role) => authorizedRoles.some((t) => canRead(role, t, policy)));
  return [...new Set(readers)].sort();
}
