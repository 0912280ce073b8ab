// `chorus license keygen|issue|request|enroll|show|verify|status|serve`: the authority's and the
// licensee's tools, enrolling a node, offline verification, the running node's license and lease, and
// the lease server itself.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../../core/api/client.ts';
import { generateKeyFile, loadKeyFile, parseKeyString, type KeyPair } from '../../core/crypto/ed25519.ts';
import { ChorusError, UsageError } from '../../core/errors.ts';
import {
  generateAuthority,
  issueLicense,
  loadAuthority,
  writeCertificate,
  writeLicense,
} from '../../core/license/authority.ts';
import {
  assertPeerId,
  issueCertificate,
  parseCredential,
  verifyCertificate,
  type Credential,
  type NodeBinding,
} from '../../core/license/certificate.ts';
import { LicenseError, verifyLicense, type License, type LicenseReason } from '../../core/license/document.ts';
import { LeaseServer, parseListen, type LeaseView } from '../../core/license/lease-server.ts';
import { licenseFile } from '../../core/license/startup.ts';
import type { LicenseInfo } from '../../core/node/routes.ts';
import { loadOrCreateIdentity } from '../../core/p2p/identity.ts';
import type { CommandContext } from '../context.ts';

export interface KeygenResult {
  kind: 'authority' | 'licensee';
  privateKeyFile: string;
  publicKeyFile: string;
  publicKey: string;
}

export function keygen(opts: { out: string; force?: boolean; licensee?: boolean }): KeygenResult {
  const kind = opts.licensee ? 'licensee' : 'authority';
  const pair = opts.licensee
    ? generateKeyFile(opts.out, { force: opts.force, what: 'licensee key' })
    : generateAuthority(opts.out, { force: opts.force });
  return { kind, privateKeyFile: opts.out, publicKeyFile: `${opts.out}.pub`, publicKey: pair.publicKey };
}

/** `ed25519:…` as given, or read from a file holding it (a `.pub` file from keygen). */
function publicKeyArg(value: string, flag: string): string {
  if (value.startsWith('ed25519:')) {
    if (!parseKeyString(value)) throw new UsageError(`${flag}: not an Ed25519 public key: ${value}`);
    return value;
  }
  let text: string;
  try {
    text = readFileSync(value, 'utf8').trim();
  } catch (err) {
    throw new UsageError(
      `${flag}: neither ed25519:<base64url> nor a readable file: ${value} (${(err as NodeJS.ErrnoException).code ?? err})`,
    );
  }
  if (!parseKeyString(text)) {
    throw new UsageError(`${flag}: ${value} does not hold a public key (ed25519:<base64url>; the .pub file of keygen)`);
  }
  return text;
}

export interface IssueFlags {
  authorityKey: string;
  licensee: string;
  /** `ed25519:…` or a file holding it. */
  licenseeKey: string;
  cluster: string;
  maxNodes: number;
  features?: string[];
  validFor: number;
  notBefore?: string;
  id?: string;
  out: string;
}

export function issue(opts: IssueFlags): { file: string; license: License } {
  const notBefore = opts.notBefore === undefined ? new Date() : new Date(opts.notBefore);
  if (Number.isNaN(notBefore.getTime())) throw new UsageError(`--not-before is not a date: ${opts.notBefore}`);
  const licenseeKey = publicKeyArg(opts.licenseeKey, '--licensee-key');
  const doc = issueLicense(loadAuthority(opts.authorityKey), {
    id: opts.id,
    licensee: opts.licensee,
    licenseeKey,
    clusterId: opts.cluster,
    maxNodes: opts.maxNodes,
    features: opts.features,
    notBefore,
    expiresAt: new Date(notBefore.getTime() + opts.validFor),
  });
  writeLicense(opts.out, doc);
  return { file: opts.out, license: doc.license };
}

export interface RequestResult {
  peerId: string;
  identityFile: string;
  created: boolean;
  dataDir: string;
}

/** This data dir's node identity (created when missing): the peer ID the licensee enrols. */
export async function request(ctx: CommandContext): Promise<RequestResult> {
  const id = await loadOrCreateIdentity(ctx.config.dataDir);
  return { peerId: id.peerId.toString(), identityFile: id.file, created: id.created, dataDir: ctx.config.dataDir };
}

function readBytes(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

function readCredential(file: string): Credential {
  try {
    return parseCredential(readBytes(file));
  } catch (err) {
    if (err instanceof LicenseError) throw new UsageError(`${file}: ${err.message}`, err.code);
    throw err;
  }
}

export interface EnrollFlags {
  /** The license (or a node certificate of it). */
  license: string;
  /** The licensee's private key file. */
  licenseeKey: string;
  /** The node to enrol; default: the node of this data dir. */
  peer?: string;
  /** Certificate lifetime; default: until the license expires. */
  validFor?: number;
  out?: string;
}

export interface EnrollResult {
  file: string;
  peer: string;
  license: License;
  node: NodeBinding;
}

/** Signs a node certificate for one peer with the licensee key and writes it (0600). */
export async function enroll(opts: EnrollFlags, ctx: CommandContext): Promise<EnrollResult> {
  if (opts.peer !== undefined) assertPeerId(opts.peer, '--peer');
  if (opts.peer !== undefined && !opts.out) {
    throw new UsageError('--out is required with --peer (where to write that node’s certificate)');
  }
  const credential = readCredential(opts.license);
  const doc = credential.kind === 'license' ? credential.doc : credential.cert.license;
  let licensee: KeyPair;
  try {
    licensee = loadKeyFile(opts.licenseeKey, 'licensee key');
  } catch (err) {
    if (err instanceof ChorusError && err.kind !== 'usage') throw new UsageError(`--licensee-key: ${err.message}`);
    throw err;
  }
  const peer = opts.peer ?? (await request(ctx)).peerId;
  const out = opts.out ?? licenseFile(ctx.config);
  const cert = issueCertificate(doc, licensee.privateKey, peer, {
    expiresAt: opts.validFor === undefined ? undefined : new Date(Date.now() + opts.validFor),
  });
  writeCertificate(out, cert);
  return { file: out, peer, license: doc.license, node: cert.node };
}

export interface ShowResult {
  file: string;
  kind: Credential['kind'];
  license: License;
  signature: string;
  node?: NodeBinding;
}

/** The fields of a license or node certificate file, as written (no verification). */
export function show(file: string): ShowResult {
  const c = readCredential(file);
  if (c.kind === 'license') return { file, kind: c.kind, license: c.doc.license, signature: c.doc.signature };
  return { file, kind: c.kind, license: c.cert.license.license, signature: c.cert.signature, node: c.cert.node };
}

export interface VerifyResult {
  file: string;
  kind?: Credential['kind'];
  valid: boolean;
  reason?: LicenseReason;
  license?: License;
  node?: NodeBinding;
  /** Set when invalid: the reason, printed once (on stderr) and exit 3. */
  failedCheck?: string;
}

/** Offline verification against the configured (or given) authorities; invalid → exit 3 with the reason. */
export function verify(
  file: string,
  opts: { authority?: string[]; cluster?: string; peer?: string },
  ctx: CommandContext,
): VerifyResult {
  const bytes = readBytes(file);
  const authorities = opts.authority?.length ? opts.authority : ctx.config.license.authority;
  if (opts.peer !== undefined) assertPeerId(opts.peer, '--peer');
  let found: Credential | undefined;
  try {
    found = parseCredential(bytes);
    if (authorities.length === 0) {
      throw new UsageError('no authority to verify against: pass --authority or set license.authority');
    }
    const check = {
      authorities,
      clusterId: opts.cluster ?? (ctx.config.license.clusterId || undefined),
      peer: opts.peer,
    };
    if (found.kind === 'license') {
      if (opts.peer !== undefined) throw new UsageError(`--peer: ${file} is a license, not a node certificate`);
      return { file, kind: found.kind, valid: true, license: verifyLicense(found.doc, check) };
    }
    const verified = verifyCertificate(found.cert, check);
    return { file, kind: found.kind, valid: true, license: verified.license, node: verified.node };
  } catch (err) {
    if (!(err instanceof LicenseError)) throw err;
    const license = found?.kind === 'license' ? found.doc.license : found?.cert.license.license;
    return {
      file,
      kind: found?.kind,
      valid: false,
      reason: err.reason,
      license,
      node: found?.kind === 'certificate' ? found.cert.node : undefined,
      failedCheck: `${err.message} (${err.reason})`,
    };
  }
}

export function status(ctx: CommandContext): Promise<LicenseInfo> {
  return new ApiClient({ dataDir: ctx.config.dataDir }).call<LicenseInfo>('GET', '/v1/license', undefined, ctx.signal);
}

export interface ServeResult {
  listen: string;
  /** The server's public key: nodes pin it in license.serverKey. */
  key: string;
  leases: LeaseView[];
}

/** The lease server's signing key: loaded, or created on first start. */
function serverKey(file: string): { pair: KeyPair; created: boolean } {
  if (existsSync(file)) return { pair: loadKeyFile(file, 'lease server key'), created: false };
  return { pair: generateKeyFile(file, { what: 'lease server key' }), created: true };
}

/** Runs the lease server until SIGINT/SIGTERM. */
export async function serve(
  opts: { listen: string; db?: string; authority?: string[]; ttl: number; key?: string },
  ctx: CommandContext,
): Promise<ServeResult> {
  const authorities = opts.authority?.length ? opts.authority : ctx.config.license.authority;
  if (authorities.length === 0) {
    throw new UsageError('the lease server needs the authority it trusts: pass --authority or set license.authority');
  }
  const { host, port } = parseListen(opts.listen);
  const keyFile = opts.key ?? join(ctx.config.dataDir, 'lease-server.key');
  const { pair, created } = serverKey(keyFile);
  if (created) ctx.logger.info('created the lease server key', { file: keyFile, key: pair.publicKey });
  const server = new LeaseServer({
    dbFile: opts.db ?? join(ctx.config.dataDir, 'leases.db'),
    host,
    port,
    authorities,
    key: pair.privateKey,
    defaultTtlMs: opts.ttl,
    logger: ctx.logger.child('lease-server'),
  });
  let bound;
  try {
    bound = await server.start();
  } catch (err) {
    throw new ChorusError('LISTEN', `cannot listen on ${opts.listen}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  const listen = `${bound.host}:${bound.port}`;
  ctx.logger.info('chorus lease server running', {
    listen,
    authorities: authorities.length,
    key: pair.publicKey,
  });
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) return resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  const leases = server.leases();
  await server.stop();
  return { listen, key: pair.publicKey, leases };
}
