// Checks a node's configuration before anything is created, so a bad value costs nothing: what the schema's
// types cannot say (multiaddrs, peer ids, hosts, URLs, timer order) and whether the data dir and the files
// the node writes beside it can be created. Each problem names where the value came from (--listen,
// CHORUS_LISTEN, the config file, the assignment — see originOf) and what to do. Reads (stat, access) but
// never creates anything: `chorus node` calls it before it touches the data dir.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { ConfigError, describeError } from '../errors.ts';
import { currentUser, describeOwner, unsearchableParent } from '../owner.ts';
import { originOf } from './load.ts';
import type { ChorusConfig } from './schema.ts';

/** One bad value: the config key path it belongs to and what is wrong with it. */
export interface ConfigProblem {
  path: string;
  message: string;
}

const HOSTNAME =
  /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
const ADDRESS_HEADS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6', 'dnsaddr']);
const EXAMPLE = '/ip4/0.0.0.0/tcp/9000';

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/** Why `text` is not a TCP multiaddr chorus can use (listen: no /p2p; bootstrap: /p2p/<peer-id> required). */
export function multiaddrProblem(text: string, kind: 'listen' | 'bootstrap'): string | undefined {
  if (!text.startsWith('/')) return `not a multiaddr: ${text} (a multiaddr looks like ${EXAMPLE})`;
  const port = /\/tcp\/(\d+)/.exec(text)?.[1];
  if (port !== undefined && Number(port) > 65535) return `port ${port} is over 65535 in ${text}`;
  let components;
  try {
    components = multiaddr(text).getComponents();
  } catch (err) {
    return `not a valid multiaddr: ${text} (${lowerFirst(describeError(err))})`;
  }
  if (!ADDRESS_HEADS.has(components[0]?.name ?? '')) {
    return `${text} does not start with an address (/ip4/, /ip6/ or /dns4/…), e.g. ${EXAMPLE}`;
  }
  const tcp = components.find((c) => c.name === 'tcp');
  if (!tcp) return `${text} has no /tcp/<port>: chorus speaks TCP, e.g. ${EXAMPLE}`;
  const p2p = components.find((c) => c.name === 'p2p');
  if (kind === 'listen') {
    if (p2p) return `${text} names a peer (/p2p/…): a listen address ends at the port, e.g. ${EXAMPLE}`;
    return undefined;
  }
  if (tcp.value === '0') return `${text} has port 0: give the port the peer listens on`;
  if (!p2p?.value) return `${text} has no /p2p/<peer-id>: append the peer's id (chorus status prints its addresses)`;
  return peerIdProblem(p2p.value, text);
}

function peerIdProblem(id: string, where: string): string | undefined {
  try {
    peerIdFromString(id);
    return undefined;
  } catch {
    return `${id} in ${where} is not a peer id (it looks like 12D3KooW…)`;
  }
}

function hostProblem(host: string): string | undefined {
  if (isIP(host) || HOSTNAME.test(host)) return undefined;
  return `not a host: ${host} (give an IP address such as 127.0.0.1, or a host name)`;
}

function urlProblem(text: string): string | undefined {
  if (text === '') return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `not a URL: ${text} (e.g. https://assign.example.com/v1/assignment)`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${text} is not an http:// or https:// URL`;
  return undefined;
}

/** Every bad value of a node's configuration that its types let through. Pure. */
export function nodeConfigProblems(config: ChorusConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (path: string, message: string | undefined): void => {
    if (message) problems.push({ path, message });
  };
  for (const a of config.p2p.listen) add('p2p.listen', multiaddrProblem(a, 'listen'));
  if (config.p2p.listen.length === 0) add('p2p.listen', `no listen address: give one, e.g. ${EXAMPLE}`);
  for (const a of config.p2p.bootstrap) add('p2p.bootstrap', multiaddrProblem(a, 'bootstrap'));
  add('api.tcpHost', hostProblem(config.api.tcpHost));
  add('ops.host', hostProblem(config.ops.host));
  add('assign.url', urlProblem(config.assign.url));
  add('license.server', urlProblem(config.license.server));
  for (const v of config.election.voters) add('election.voters', peerIdProblem(v, 'election.voters'));
  const e = config.election; // the election service's own rules, checked before anything starts
  if (e.electionTimeoutMaxMs <= e.electionTimeoutMinMs) {
    add(
      'election.electionTimeoutMaxMs',
      `${e.electionTimeoutMaxMs} must be above election.electionTimeoutMinMs (${e.electionTimeoutMinMs})`,
    );
  }
  if (e.heartbeatMs * 2 > e.electionTimeoutMinMs) {
    add(
      'election.heartbeatMs',
      `${e.heartbeatMs} must be at most half of election.electionTimeoutMinMs (${e.electionTimeoutMinMs})`,
    );
  }
  return problems;
}

async function writableDir(dir: string): Promise<string | undefined> {
  try {
    await access(dir, constants.W_OK | constants.X_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EROFS') return `${dir} is on a read-only file system: remount it read-write`;
    return `${dir} is not writable by ${currentUser()} (${(await describeOwner(dir)) ?? 'owner unknown'}): run chorus as its owner, or change its owner or mode`;
  }
}

/**
 * Why the node could not create or write `path` (a directory when `dir`, else a file), without creating
 * anything: it or its nearest existing ancestor must be a writable directory.
 */
export async function pathProblem(path: string, dir: boolean): Promise<string | undefined> {
  try {
    const s = await stat(path);
    if (dir && !s.isDirectory()) return `${path} is a file, not a directory: move it aside`;
    if (!dir && s.isDirectory()) return `${path} is a directory, not a file: give a file path`;
    return dir ? writableDir(path) : undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES') return `${path} cannot be reached: ${await blockedBy(path)}`;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') return `${path}: ${describeError(err)}`;
  }
  // missing: the nearest existing ancestor must be a directory this user may write into
  for (let parent = dirname(path); ; parent = dirname(parent)) {
    try {
      const s = await stat(parent);
      if (!s.isDirectory()) return `${path} cannot be created: ${parent} is a file, not a directory (move it aside)`;
      const blocked = await writableDir(parent);
      return blocked ? `${path} cannot be created: ${blocked}` : undefined;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES') return `${path} cannot be reached: ${await blockedBy(parent)}`;
      if (parent === dirname(parent)) return `${path} cannot be created: no parent directory exists`;
    }
  }
}

/** The first ancestor of `path` that this user may not search. */
async function blockedBy(path: string): Promise<string> {
  const dir = await unsearchableParent(`${path}/.`);
  return dir
    ? `${dir} is not searchable by ${currentUser()}: run chorus as its owner, or change its mode`
    : 'permission denied';
}

/** Problems with the files a node creates: the data dir, and (with --dev) the license and dev authority. */
export async function storageProblems(config: ChorusConfig): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  const dataDir = await pathProblem(config.dataDir, true);
  if (dataDir) problems.push({ path: 'dataDir', message: dataDir });
  const files: [string, string][] = [];
  if (config.keys.keyring) files.push(['keys.keyring', config.keys.keyring]);
  if (config.license.dev) {
    if (config.license.file) files.push(['license.file', config.license.file]);
    if (config.license.devAuthority) files.push(['license.devAuthority', config.license.devAuthority]);
  }
  for (const [path, file] of files) {
    const problem = await pathProblem(file, false);
    if (problem) problems.push({ path, message: problem });
  }
  return problems;
}

/** The other way out of a storage problem: another path. */
const ELSEWHERE: Record<string, string> = {
  dataDir: 'choose another data dir (--data-dir, CHORUS_DATA_DIR)',
  'keys.keyring': 'choose another keyring file (keys.keyring, CHORUS_KEYRING)',
  'license.file': 'choose another license file (--license, CHORUS_LICENSE_FILE)',
  'license.devAuthority': 'choose another dev authority file (CHORUS_DEV_AUTHORITY)',
};

/**
 * Checks everything `chorus node` needs before it creates a file; throws one ConfigError (exit 2) that
 * lists every problem, each with where its value came from.
 */
export async function checkNodeConfig(config: ChorusConfig): Promise<void> {
  const problems = [...nodeConfigProblems(config), ...(await storageProblems(config))];
  if (problems.length === 0) return;
  const lines = problems.map((p) => {
    const elsewhere = ELSEWHERE[p.path];
    return `${originOf(config, p.path)}: ${p.message}${elsewhere ? `, or ${elsewhere}` : ''}`;
  });
  throw new ConfigError(lines.join('; '));
}
