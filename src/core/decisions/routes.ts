// The decisions route group of the control API (/v1/ucxl/*, /v1/keys/rotate) and the UCXI HTTP API (/ucxi/v1/*)
// with its success/error envelopes and request ids.
import { randomUUID } from 'node:crypto';
import { parsePutRequest, type PutRequest } from '../api/protocol.ts';
import type { Route, RouteContext } from '../api/server.ts';
import { readersOf } from '../crypto/policy.ts';
import type { RoleKeyring } from '../crypto/keyring.ts';
import type { RolePolicy } from '../crypto/policy.ts';
import { ChorusError, describeError, UsageError } from '../errors.ts';
import { NoSubscribersError } from '../pubsub/errors.ts';
import type { ChorusPubSub } from '../pubsub/pubsub.ts';
import { TOPICS } from '../pubsub/topics.ts';
import { formatAddress, parseAddress, requireDecisionPath, UcxlError, type UcxlAddress } from '../ucxl/address.ts';
import { rotateRoleKey } from './rotate.ts';
import type { DecisionMeta, DecisionStore, PutReceipt } from './store.ts';

/** The parts of a node the decision routes use. */
export interface DecisionRouteComponents {
  decisions: DecisionStore;
  pubsub: Pick<ChorusPubSub, 'publish'>;
  keyring: RoleKeyring;
  /** The running configuration (read per request: SIGHUP may replace it). */
  config: { keys: { policy: RolePolicy } };
}

function addressParam(ctx: RouteContext): UcxlAddress {
  const raw = ctx.url.searchParams.get('address');
  if (!raw) throw new UsageError('the "address" query parameter is required', 'UCXL-400-INVALID_ADDRESS');
  return parseAddress(raw);
}

/** One decision's address (every route but ls/query, which take patterns): it must name a path. */
function decisionParam(ctx: RouteContext): UcxlAddress {
  return requireDecisionPath(addressParam(ctx));
}

/**
 * Writes a decision; with `announce`, also tells the coordination topic (chorus publish decision). The decision
 * is stored before the announcement goes out, so the outcome of both is reported: a topic nobody subscribes to
 * (a lone node) is noted in the receipt — there is nobody to tell, and a retry would only write another
 * version — and any other failure names the stored version in its message.
 */
export async function putDecision(
  node: Pick<DecisionRouteComponents, 'decisions' | 'pubsub'>,
  req: PutRequest,
  signal?: AbortSignal,
): Promise<PutReceipt> {
  const receipt = await node.decisions.put(
    requireDecisionPath(parseAddress(req.address), req.address),
    Buffer.from(req.content, 'base64'),
    {
      contentType: req.contentType,
      roles: req.roles,
      signal,
    },
  );
  if (!req.announce) return receipt;
  const topic = TOPICS.coordination;
  const decision = {
    address: receipt.address,
    version: receipt.version,
    hash: receipt.hash,
    roles: receipt.roles,
    content_type: receipt.contentType,
  };
  try {
    const sent = await node.pubsub.publish('DeliverableReady', { decision }, { topic, signal });
    return { ...receipt, announcement: { topic, sent: true, recipients: sent.recipients } };
  } catch (err) {
    if (err instanceof NoSubscribersError)
      return { ...receipt, announcement: { topic, sent: false, note: err.message } };
    if (signal?.aborted) throw err; // the caller gave up: its abort answers as before
    const { code, kind, status } =
      err instanceof ChorusError ? err : { code: 'ANNOUNCE_FAILED', kind: undefined, status: undefined };
    throw new ChorusError(
      code,
      `stored ${receipt.address} (version ${receipt.version}), but its announcement failed: ${describeError(err)}`,
      { cause: err, kind, status },
    );
  }
}

export function decisionRoutes(node: DecisionRouteComponents): Record<string, Route> {
  return {
    'POST /v1/ucxl/put': async ({ body, signal }) => putDecision(node, parsePutRequest(await body()), signal),
    'GET /v1/ucxl/get': async (ctx) => {
      const { meta, content } = await node.decisions.get(decisionParam(ctx), ctx.signal);
      return { meta, content: Buffer.from(content).toString('base64') };
    },
    'GET /v1/ucxl/resolve': async (ctx) => {
      const address = decisionParam(ctx);
      const [meta, providers] = await Promise.all([
        node.decisions.resolve(address, ctx.signal),
        node.decisions.providers(address, AbortSignal.any([ctx.signal, AbortSignal.timeout(2000)])),
      ]);
      return { ...meta, readers: readersOf(meta.roles, node.config.keys.policy), providers };
    },
    'GET /v1/ucxl/history': async (ctx) => node.decisions.history(decisionParam(ctx), ctx.signal),
    'GET /v1/ucxl/ls': async (ctx) => node.decisions.list(addressParam(ctx)),
    'POST /v1/keys/rotate': async ({ body, signal }) => {
      const role: unknown = ((await body()) as { role?: unknown } | null)?.role;
      if (typeof role !== 'string') throw new UsageError('rotate needs {role}');
      return rotateRoleKey(
        role,
        { keyring: node.keyring, store: node.decisions, policy: node.config.keys.policy },
        signal,
      );
    },
    ...ucxiRoutes(node),
  };
}

// ---- UCXI: the predecessor's HTTP interface, with its envelopes -------------------------------

const STATUS_OF_CODE: Record<string, number> = {
  'UCXL-400-INVALID_ADDRESS': 400,
  'UCXL-400-TEMPORAL_INVALID': 400,
  'UCXL-400-BAD_REQUEST': 400,
  'UCXL-403-FORBIDDEN': 403,
  'UCXL-404-NOT_FOUND': 404,
  'UCXL-404-RESOLUTION_FAILED': 404,
  'UCXL-500-INTERNAL': 500,
  'UCXL-503-REPLICATION_FAILED': 503,
};

function ucxiCode(err: unknown): string {
  if (err instanceof UcxlError) return err.ucxlCode;
  if (err instanceof ChorusError) {
    if (err.code.startsWith('UCXL-')) return err.code;
    if (err.code === 'NOT_A_RECIPIENT') return 'UCXL-403-FORBIDDEN';
    if (err.code === 'REPLICATION_FAILED') return 'UCXL-503-REPLICATION_FAILED';
    if (err.code === 'TIMEOUT') return 'UCXL-404-RESOLUTION_FAILED';
    if (err.kind === 'usage') return 'UCXL-400-BAD_REQUEST';
  }
  return 'UCXL-500-INTERNAL';
}

function ucxi(
  handler: (ctx: RouteContext, requestId: string) => Promise<{ code: string; message: string; data: unknown }>,
): Route {
  return async (ctx) => {
    const requestId = randomUUID();
    const timestamp = () => new Date().toISOString();
    try {
      const { code, message, data } = await handler(ctx, requestId);
      const body = JSON.stringify({
        response: { code, message, data, details: {}, request_id: requestId, timestamp: timestamp() },
      });
      ctx.res.writeHead(code === 'UCXL-201-CREATED' ? 201 : 200, { 'content-type': 'application/json' });
      ctx.res.end(body);
    } catch (err) {
      const code = ucxiCode(err);
      const body = JSON.stringify({
        error: {
          code,
          message: describeError(err),
          details: {},
          source: 'chorus-ucxi',
          path: ctx.url.pathname,
          request_id: requestId,
          timestamp: timestamp(),
          cause: err instanceof ChorusError ? err.code : undefined,
        },
      });
      ctx.res.writeHead(STATUS_OF_CODE[code] ?? 500, { 'content-type': 'application/json' });
      ctx.res.end(body);
    }
    return undefined;
  };
}

function ucxiRoutes(node: DecisionRouteComponents): Record<string, Route> {
  const put = ucxi(async (ctx) => {
    const address = decisionParam(ctx);
    const content = await ctx.raw();
    const roles = ctx.url.searchParams.get('roles')?.split(',').filter(Boolean);
    const contentType = ctx.req.headers['content-type'] ?? 'application/octet-stream';
    const receipt = await node.decisions.put(address, content, { contentType, roles, signal: ctx.signal });
    return { code: 'UCXL-201-CREATED', message: `stored ${receipt.address}`, data: receipt };
  });
  return {
    'GET /ucxi/v1/get': ucxi(async (ctx) => {
      const { meta, content } = await node.decisions.get(decisionParam(ctx), ctx.signal);
      return {
        code: 'UCXL-200-SUCCESS',
        message: 'ok',
        data: { meta, content: Buffer.from(content).toString('base64') },
      };
    }),
    'PUT /ucxi/v1/put': put,
    'POST /ucxi/v1/post': put,
    'DELETE /ucxi/v1/delete': ucxi(async (ctx) => {
      const receipt = await node.decisions.put(decisionParam(ctx), new Uint8Array(), {
        deleted: true,
        signal: ctx.signal,
      });
      return { code: 'UCXL-200-SUCCESS', message: `deleted (tombstone ${receipt.address})`, data: receipt };
    }),
    'POST /ucxi/v1/announce': ucxi(async (ctx) => {
      const meta = await node.decisions.resolve(decisionParam(ctx), ctx.signal);
      await node.pubsub.publish(
        'DeliverableReady',
        { decision: meta },
        { topic: TOPICS.coordination, signal: ctx.signal },
      );
      return { code: 'UCXL-200-SUCCESS', message: `announced ${meta.address}`, data: meta };
    }),
    'GET /ucxi/v1/navigate': ucxi(async (ctx) => {
      const address = decisionParam(ctx);
      const meta: DecisionMeta = await node.decisions.resolve(address, ctx.signal);
      const latest = await node.decisions.resolve({ ...address, temporal: { kind: 'latest' } }, ctx.signal);
      const at = (v: number) => formatAddress({ ...address, temporal: { kind: 'version', version: v } });
      return {
        code: 'UCXL-200-SUCCESS',
        message: 'ok',
        data: {
          current: meta,
          previous: meta.version > 1 ? at(meta.version - 1) : null,
          next: meta.version < latest.version ? at(meta.version + 1) : null,
          latest: at(latest.version),
        },
      };
    }),
    'GET /ucxi/v1/query': ucxi(async (ctx) => {
      const found = await node.decisions.list(addressParam(ctx));
      return { code: 'UCXL-200-SUCCESS', message: `${found.length} match(es)`, data: found };
    }),
  };
}
