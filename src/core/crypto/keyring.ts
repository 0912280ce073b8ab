// Role keyring: every version of each role's age key pair, persisted as one JSON file (mode 0600,
// written atomically). The highest version is current and used for encryption; older versions stay
// so data encrypted before a rotation can still be read.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { ChorusError, UsageError, describeError } from '../errors.ts';
import { assertRoleName } from './policy.ts';

export interface RoleKey {
  role: string;
  version: number;
  /** age secret key, `AGE-SECRET-KEY-1…`; empty in a scoped keyring for roles this node may not read */
  identity: string;
  /** age public key, `age1…` */
  recipient: string;
  /** ISO 8601 */
  createdAt: string;
}

interface KeyringFile {
  format: 'chorus-keyring-v1';
  roles: Record<string, RoleKey[]>;
}

const FORMAT = 'chorus-keyring-v1';

function corrupt(file: string, why: string, cause?: unknown): ChorusError {
  return new ChorusError('KEYRING_CORRUPT', `keyring ${file} is damaged: ${why}`, { cause });
}

function copy(key: RoleKey): RoleKey {
  return { ...key };
}

async function recipientOf(identity: string): Promise<string> {
  try {
    return await identityToRecipient(identity);
  } catch (err) {
    // never echo the identity: it is a secret key
    throw new UsageError(`invalid age identity: ${describeError(err)}`, 'INVALID_IDENTITY', err);
  }
}

/** Writes `data` to `file` atomically with mode 0600: temp file in the same dir, fsync, rename, fsync dir. */
async function writeAtomic(file: string, data: string): Promise<void> {
  const dir = dirname(file);
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  // make the rename itself durable; some filesystems refuse to fsync a directory, which is harmless
  const dirHandle = await open(dir, 'r').catch(() => undefined);
  if (dirHandle) {
    await dirHandle.sync().catch(() => undefined);
    await dirHandle.close();
  }
}

function parseKeyring(file: string, text: string): Map<string, RoleKey[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw corrupt(file, `not JSON (${describeError(err)})`, err);
  }
  const doc = raw as Partial<KeyringFile> | null;
  if (typeof doc !== 'object' || doc === null || doc.format !== FORMAT) {
    throw corrupt(file, `expected format "${FORMAT}"`);
  }
  if (typeof doc.roles !== 'object' || doc.roles === null || Array.isArray(doc.roles)) {
    throw corrupt(file, '"roles" must be an object');
  }
  const roles = new Map<string, RoleKey[]>();
  for (const [role, keys] of Object.entries(doc.roles)) {
    if (!Array.isArray(keys)) throw corrupt(file, `role "${role}" must hold a list of keys`);
    const versions = new Set<number>();
    const parsed = keys.map((k: Partial<RoleKey> | null, i): RoleKey => {
      const where = `role "${role}" key #${i + 1}`;
      if (typeof k !== 'object' || k === null) throw corrupt(file, `${where} is not an object`);
      if (k.role !== role) throw corrupt(file, `${where} is filed under the wrong role`);
      if (!Number.isSafeInteger(k.version) || (k.version as number) < 1) {
        throw corrupt(file, `${where} has an invalid version`);
      }
      // a scoped keyring (keys export) holds only the public half of the roles its node may not read
      if (k.identity === undefined || k.identity === '') k = { ...k, identity: '' };
      else if (typeof k.identity !== 'string' || !k.identity.startsWith('AGE-SECRET-KEY-1')) {
        throw corrupt(file, `${where} has an invalid identity`);
      }
      if (typeof k.recipient !== 'string' || !k.recipient.startsWith('age1')) {
        throw corrupt(file, `${where} has an invalid recipient`);
      }
      if (typeof k.createdAt !== 'string') throw corrupt(file, `${where} has no createdAt`);
      if (versions.has(k.version as number)) throw corrupt(file, `role "${role}" has version ${k.version} twice`);
      versions.add(k.version as number);
      return {
        role,
        version: k.version as number,
        identity: k.identity as string,
        recipient: k.recipient,
        createdAt: k.createdAt,
      };
    });
    parsed.sort((a, b) => a.version - b.version);
    roles.set(role, parsed);
  }
  return roles;
}

export class RoleKeyring {
  readonly file: string;
  /** role → keys, oldest first */
  private readonly roles: Map<string, RoleKey[]>;
  /** serializes mutations so concurrent calls never interleave their writes */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(file: string, roles: Map<string, RoleKey[]>) {
    this.file = file;
    this.roles = roles;
  }

  /** Opens the keyring at `file`, creating an empty one (and its directory, mode 0700) if missing. */
  static async open(file: string): Promise<RoleKeyring> {
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ChorusError('KEYRING_UNREADABLE', `cannot read keyring ${file}: ${describeError(err)}`, {
          cause: err,
        });
      }
    }
    if (text !== undefined) {
      const keyring = new RoleKeyring(file, parseKeyring(file, text));
      // tighten permissions on a file that was copied in with a looser mode
      await chmod(file, 0o600).catch(() => undefined);
      return keyring;
    }
    const keyring = new RoleKeyring(file, new Map());
    try {
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      await keyring.persist();
    } catch (err) {
      throw new ChorusError('KEYRING_UNWRITABLE', `cannot create keyring ${file}: ${describeError(err)}`, {
        cause: err,
      });
    }
    return keyring;
  }

  /** Roles that have at least one key, sorted. */
  roleNames(): string[] {
    return [...this.roles.keys()].sort();
  }

  /** The current (highest) version of `role`'s key, or undefined if the role has none. */
  current(role: string): RoleKey | undefined {
    const keys = this.roles.get(role);
    const last = keys?.[keys.length - 1];
    return last ? copy(last) : undefined;
  }

  /** Every version of `role`'s key, oldest first (empty if the role has none). */
  all(role: string): RoleKey[] {
    return (this.roles.get(role) ?? []).map(copy);
  }

  /** The current recipient of each role, in the order given. Throws a UsageError naming a role without a key. */
  recipients(roles: string[]): string[] {
    return roles.map((role) => {
      const key = this.current(role);
      if (!key) throw new UsageError(`no key for role "${role}" in keyring ${this.file}`, 'NO_ROLE_KEY');
      return key.recipient;
    });
  }

  /** Every identity of `role` this keyring holds, newest first, for decrypting data written under any version. */
  identitiesFor(role: string): string[] {
    return (this.roles.get(role) ?? [])
      .map((k) => k.identity)
      .filter((i) => i !== '')
      .reverse();
  }

  /** True when this keyring holds `role`'s current secret key (a scoped keyring may hold only its public key). */
  holdsSecret(role: string): boolean {
    return (this.current(role)?.identity ?? '') !== '';
  }

  /**
   * A keyring for one node: every role's public keys (so it can write to any role), and the secret
   * keys of `readable` roles only (so it reads what its role may read, and nothing else).
   */
  scopedTo(readable: string[]): string {
    const keep = new Set(readable);
    const roles: Record<string, RoleKey[]> = {};
    for (const role of this.roleNames()) {
      roles[role] = (this.roles.get(role) ?? []).map((k) => ({ ...k, identity: keep.has(role) ? k.identity : '' }));
    }
    const missing = readable.filter((r) => !this.roles.has(r) || !this.holdsSecret(r));
    if (missing.length) {
      throw new UsageError(
        `keyring ${this.file} does not hold the secret key of: ${missing.join(', ')}`,
        'NO_ROLE_KEY',
      );
    }
    const doc: KeyringFile = { format: FORMAT, roles };
    return `${JSON.stringify(doc, null, 2)}\n`;
  }

  /** role → current recipient, safe to share: no secret keys. */
  exportPublic(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const role of this.roleNames()) {
      const key = this.current(role);
      if (key) out[role] = key.recipient;
    }
    return out;
  }

  /** Returns `role`'s current key, generating version 1 if it has none. */
  async ensureRole(role: string): Promise<RoleKey> {
    assertRoleName(role);
    return this.mutate(async () => {
      const existing = this.current(role);
      if (existing) return existing;
      return this.addGenerated(role, 1);
    });
  }

  /**
   * Gives each of `roles` that has no key yet a version 1: from `derive` when given (a dev cluster's
   * shared keys), freshly generated otherwise. Says which roles got a key, and how.
   */
  async ensureRoles(
    roles: string[],
    derive?: (role: string) => Promise<RoleKey>,
  ): Promise<{ generated: string[]; derived: string[] }> {
    const generated: string[] = [];
    const derived: string[] = [];
    for (const role of roles) {
      if (this.current(role)) continue;
      if (derive) {
        await this.importRole(await derive(role));
        derived.push(role);
      } else {
        await this.ensureRole(role);
        generated.push(role);
      }
    }
    return { generated, derived };
  }

  /** Generates and stores a new current version of `role`'s key; older versions are kept. */
  async rotate(role: string): Promise<RoleKey> {
    assertRoleName(role);
    return this.mutate(async () => {
      const existing = this.current(role);
      if (!existing) {
        throw new UsageError(`cannot rotate role "${role}": it has no key yet`, 'NO_ROLE_KEY');
      }
      return this.addGenerated(role, existing.version + 1);
    });
  }

  /**
   * Adds a key received from an admin. Idempotent: importing a key already held is a no-op. A
   * different key under an existing version, or an identity that does not match its recipient, is refused.
   */
  async importRole(key: RoleKey): Promise<RoleKey> {
    assertRoleName(key.role);
    if (!Number.isSafeInteger(key.version) || key.version < 1) {
      throw new UsageError(`invalid key version ${String(key.version)} for role "${key.role}"`, 'INVALID_KEY');
    }
    const recipient = await recipientOf(key.identity);
    if (recipient !== key.recipient) {
      throw new UsageError(
        `key for role "${key.role}" v${key.version}: identity does not match recipient ${key.recipient}`,
        'INVALID_KEY',
      );
    }
    const createdAt = typeof key.createdAt === 'string' ? key.createdAt : new Date().toISOString();
    const clean: RoleKey = { role: key.role, version: key.version, identity: key.identity, recipient, createdAt };
    return this.mutate(async () => {
      const keys = this.roles.get(clean.role) ?? [];
      const same = keys.find((k) => k.version === clean.version);
      if (same) {
        if (same.identity !== clean.identity) {
          throw new ChorusError(
            'KEY_CONFLICT',
            `keyring already holds a different key for role "${clean.role}" v${clean.version}`,
          );
        }
        return copy(same);
      }
      const next = [...keys, clean].sort((a, b) => a.version - b.version);
      await this.commit(clean.role, next);
      return copy(clean);
    });
  }

  private async addGenerated(role: string, version: number): Promise<RoleKey> {
    const identity = await generateIdentity();
    const key: RoleKey = {
      role,
      version,
      identity,
      recipient: await recipientOf(identity),
      createdAt: new Date().toISOString(),
    };
    await this.commit(role, [...(this.roles.get(role) ?? []), key]);
    return copy(key);
  }

  /** Persists `role` → `keys`; memory is updated only once the file is safely written. */
  private async commit(role: string, keys: RoleKey[]): Promise<void> {
    const next = new Map(this.roles);
    next.set(role, keys);
    try {
      await this.persist(next);
    } catch (err) {
      throw new ChorusError('KEYRING_UNWRITABLE', `cannot write keyring ${this.file}: ${describeError(err)}`, {
        cause: err,
      });
    }
    this.roles.set(role, keys);
  }

  private async persist(state: Map<string, RoleKey[]> = this.roles): Promise<void> {
    const roles: Record<string, RoleKey[]> = {};
    for (const role of [...state.keys()].sort()) roles[role] = state.get(role) ?? [];
    const doc: KeyringFile = { format: FORMAT, roles };
    await writeAtomic(this.file, `${JSON.stringify(doc, null, 2)}\n`);
  }

  private mutate<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
