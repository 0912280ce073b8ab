// Who owns a file and who is asking, for messages about permissions: "owner root (uid 0), mode 0600".
// User names come from /etc/passwd when it can be read; otherwise only the numeric ids are shown.
import { readFileSync } from 'node:fs';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

function userName(uid: number): string | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name && Number(id) === uid && id !== '') return name;
    }
  } catch {
    // no passwd file (containers, other systems): numeric ids only
  }
  return undefined;
}

/** "root (uid 0)" or "uid 1234". */
export function describeUser(uid: number): string {
  const name = userName(uid);
  return name ? `${name} (uid ${uid})` : `uid ${uid}`;
}

/** The user this process runs as, e.g. "nobody (uid 65534)", or "this user" where there are no uids. */
export function currentUser(): string {
  return typeof process.getuid === 'function' ? describeUser(process.getuid()) : 'this user';
}

/** "owner root (uid 0), mode 0600", or undefined when the path cannot be inspected. */
export async function describeOwner(path: string): Promise<string | undefined> {
  try {
    const s = await stat(path);
    return `owner ${describeUser(s.uid)}, mode ${(s.mode & 0o7777).toString(8).padStart(4, '0')}`;
  } catch {
    return undefined;
  }
}

/** The first directory above `path` this user may not enter ("/srv/chorus (owner …)"), if any. */
export async function unsearchableParent(path: string): Promise<string | undefined> {
  const chain: string[] = [];
  for (let p = dirname(path); ; p = dirname(p)) {
    chain.unshift(p);
    if (p === dirname(p)) break;
  }
  for (const dir of chain) {
    try {
      await access(dir, constants.X_OK);
    } catch {
      return `${dir} (${(await describeOwner(dir)) ?? 'owner unknown'})`;
    }
  }
  return undefined;
}
