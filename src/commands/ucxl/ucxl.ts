// `chorus ucxl put|get|ls|history|resolve`: decisions through the local node's API. Bad input — a malformed
// address, a decision address without a path, content over the decision limit — fails here, before any I/O.
import { writeFile } from 'node:fs/promises';
import { ApiClient } from '../../core/api/client.ts';
import type { DecisionMeta, PutReceipt } from '../../core/decisions/store.ts';
import { checkDecisionSize } from '../../core/limits.ts';
import type { PutRequest } from '../../core/api/protocol.ts';
import { formatAddress, parseAddress, requireDecisionPath, type UcxlAddress } from '../../core/ucxl/address.ts';
import type { ClientContext } from '../context.ts';
import { readInputFile } from '../../core/input-file.ts';

const client = (ctx: ClientContext) =>
  new ApiClient({ dataDir: ctx.config.dataDir, timeoutMs: ctx.config.dht.timeoutMs + 5000 });
/** One decision's address: it must parse and name a path. */
const decision = (address: string): UcxlAddress => requireDecisionPath(parseAddress(address), address);
const q = (a: UcxlAddress) => `address=${encodeURIComponent(formatAddress(a))}`;

/** The content of a file, or of stdin for `-` (or no file). */
export async function readContent(source: string | undefined): Promise<Buffer> {
  if (source === undefined || source === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }
  return readInputFile(source);
}

export interface PutOptions {
  type?: string;
  roles?: string[];
  announce?: boolean;
}

export async function put(
  address: string,
  source: string | undefined,
  opts: PutOptions,
  ctx: ClientContext,
): Promise<PutReceipt> {
  decision(address); // a malformed address is a usage error before any I/O
  const content = await readContent(source);
  checkDecisionSize(content.byteLength);
  const body: PutRequest = {
    address,
    content: content.toString('base64'),
    contentType: opts.type,
    roles: opts.roles,
    announce: opts.announce,
  };
  return client(ctx).call<PutReceipt>('POST', '/v1/ucxl/put', body, ctx.signal);
}

export interface GetResult {
  meta: DecisionMeta;
  content: Uint8Array;
  /** Set when --out wrote the content to a file. */
  writtenTo?: string;
}

export async function get(address: string, opts: { out?: string }, ctx: ClientContext): Promise<GetResult> {
  const r = await client(ctx).call<{ meta: DecisionMeta; content: string }>(
    'GET',
    `/v1/ucxl/get?${q(decision(address))}`,
    undefined,
    ctx.signal,
  );
  const content = Buffer.from(r.content, 'base64');
  if (opts.out) {
    await writeFile(opts.out, content);
    return { meta: r.meta, content, writtenTo: opts.out };
  }
  return { meta: r.meta, content };
}

export function resolve(
  address: string,
  ctx: ClientContext,
): Promise<DecisionMeta & { readers: string[]; providers: string[] }> {
  return client(ctx).call('GET', `/v1/ucxl/resolve?${q(decision(address))}`, undefined, ctx.signal);
}

export function history(address: string, ctx: ClientContext): Promise<DecisionMeta[]> {
  return client(ctx).call('GET', `/v1/ucxl/history?${q(decision(address))}`, undefined, ctx.signal);
}

/** Decisions held by the local node that match a pattern (an address with "any" parts). */
export function ls(pattern: string, ctx: ClientContext): Promise<DecisionMeta[]> {
  return client(ctx).call('GET', `/v1/ucxl/ls?${q(parseAddress(pattern))}`, undefined, ctx.signal);
}
