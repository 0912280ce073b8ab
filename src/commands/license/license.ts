// `chorus license keygen|issue|show|verify|status|serve`: the license authority's tools, offline
// verification, the running node's license and lease, and the lease server itself.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../../core/api/client.ts';
import { ChorusError, UsageError } from '../../core/errors.ts';
import { generateAuthority, issueLicense, loadAuthority, writeLicense } from '../../core/license/authority.ts';
import {
  LicenseError,
  parseLicense,
  verifyLicense,
  type License,
  type LicenseReason,
} from '../../core/license/document.ts';
import { LeaseServer, parseListen, type LeaseView } from '../../core/license/lease-server.ts';
import type { LicenseInfo } from '../../core/node/routes.ts';
import type { CommandContext } from '../context.ts';

export interface KeygenResult {
  privateKeyFile: string;
  publicKeyFile: string;
  publicKey: string;
}

export function keygen(opts: { out: string; force?: boolean }): KeygenResult {
  const authority = generateAuthority(opts.out, { force: opts.force });
  return { privateKeyFile: opts.out, publicKeyFile: `${opts.out}.pub`, publicKey: authority.publicKey };
}

export interface IssueFlags {
  authorityKey: string;
  licensee: string;
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
  const doc = issueLicense(loadAuthority(opts.authorityKey), {
    id: opts.id,
    licensee: opts.licensee,
    clusterId: opts.cluster,
    maxNodes: opts.maxNodes,
    features: opts.features,
    notBefore,
    expiresAt: new Date(notBefore.getTime() + opts.validFor),
  });
  writeLicense(opts.out, doc);
  return { file: opts.out, license: doc.license };
}

function readBytes(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export interface VerifyResult {
  file: string;
  valid: boolean;
  reason?: LicenseReason;
  message?: string;
  license?: License;
  failedCheck?: string;
}

/** Offline verification against the configured (or given) authorities; invalid → exit 3 with the reason. */
export function verify(
  file: string,
  opts: { authority?: string[]; cluster?: string },
  ctx: CommandContext,
): VerifyResult {
  const bytes = readBytes(file);
  const authorities = opts.authority?.length ? opts.authority : ctx.config.license.authority;
  let license: License | undefined;
  try {
    const doc = parseLicense(bytes);
    license = doc.license;
    if (authorities.length === 0) {
      throw new UsageError('no authority to verify against: pass --authority or set license.authority');
    }
    verifyLicense(doc, { authorities, clusterId: opts.cluster ?? (ctx.config.license.clusterId || undefined) });
    return { file, valid: true, license };
  } catch (err) {
    if (!(err instanceof LicenseError)) throw err;
    return { file, valid: false, reason: err.reason, message: err.message, license, failedCheck: err.message };
  }
}

/** The fields of a license file, as written (no verification). */
export function show(file: string): { file: string; license: License; signature: string } {
  const doc = parseLicense(readBytes(file));
  return { file, license: doc.license, signature: doc.signature };
}

export function status(ctx: CommandContext): Promise<LicenseInfo> {
  return new ApiClient({ dataDir: ctx.config.dataDir }).call<LicenseInfo>('GET', '/v1/license', undefined, ctx.signal);
}

export interface ServeResult {
  listen: string;
  leases: LeaseView[];
}

/** Runs the lease server until SIGINT/SIGTERM. */
export async function serve(
  opts: { listen: string; db?: string; authority?: string[]; ttl: number },
  ctx: CommandContext,
): Promise<ServeResult> {
  const authorities = opts.authority?.length ? opts.authority : ctx.config.license.authority;
  if (authorities.length === 0) {
    throw new UsageError('the lease server needs the authority it trusts: pass --authority or set license.authority');
  }
  const { host, port } = parseListen(opts.listen);
  const server = new LeaseServer({
    dbFile: opts.db ?? join(ctx.config.dataDir, 'leases.db'),
    host,
    port,
    authorities,
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
  ctx.logger.info('chorus lease server running', { listen, authorities: authorities.length });
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) return resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  const leases = server.leases();
  await server.stop();
  return { listen, leases };
}
