// The node's control API: HTTP over a Unix socket in the data dir (mode 0600: the file permission is
// the authentication) and, optionally, a TCP listener on which every request needs the bearer token — or,
// through a gate (the portal, src/core/hap), a session of its own; the gate also serves its pages there.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, readFile, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ChorusError, describeError, UsageError } from '../errors.ts';
import { close, isLoopbackHost, listen, readBody, readJsonBody, sendJson, type BodyLimits } from '../http.ts';
import { MAX_REQUEST_BYTES, requestTooLarge } from '../limits.ts';
import type { Logger } from '../log.ts';
import { refuseIfRunning } from '../data-dir-lock.ts';
import { writePrivateFile } from '../p2p/identity.ts';
import { socketPath, tokenPath, type ApiErrorBody } from './protocol.ts';

/** Who made a request: over the Unix socket (its file mode), with the bearer token, or in a portal session. */
export type Caller = { via: 'socket' } | { via: 'bearer' } | { via: 'session'; session: string };

export interface RouteContext {
  url: URL;
  /** How the request was authenticated. */
  caller: Caller;
  req: IncomingMessage;
  /** The request body parsed as JSON ({} when empty). */
  body: () => Promise<unknown>;
  /** The request body as bytes. */
  raw: () => Promise<Buffer>;
  /** Aborted when the client goes away (or the server stops) before the answer was written; made on first use. */
  signal: AbortSignal;
  res: ServerResponse;
}

/** A route returns a JSON value, or `undefined` when it streamed its own response. */
export type Route = (ctx: RouteContext) => Promise<unknown>;

/** A refusal from a gate: 401 (no credential it accepts) or 403 (e.g. a cross-site request). */
export interface GateRefusal {
  status: 401 | 403;
  error: ChorusError;
}

/**
 * What a web front adds to the TCP listener (the portal: src/core/hap/gate.ts). The Unix socket never sees it.
 */
export interface TcpGate {
  /** Headers set on every TCP response (the Content-Security-Policy and friends). */
  readonly headers: Readonly<Record<string, string>>;
  /** Answers the requests it owns (pages, assets, the login link) without the API's auth; true when it did. */
  serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  /** Authenticates a request that carries no valid bearer token: its caller, or the refusal to answer. */
  authenticate(req: IncomingMessage): Caller | GateRefusal;
}

export interface ApiServerOptions {
  dataDir: string;
  routes: Record<string, Route>; // key: "GET /v1/status"
  logger: Logger;
  tcp?: { host: string; port: number; allowRemote: boolean };
  /** The portal's gate on the TCP listener (absent: bearer token only). */
  gate?: TcpGate;
}

const MAX_BODY = MAX_REQUEST_BYTES;
/** Request bodies: bad input is a usage error (HTTP 400, exit 2 in the client) naming both limits. */
const BODY: BodyLimits = {
  limit: MAX_BODY,
  tooLarge: (_limit, size) => requestTooLarge(size),
  notJson: () => new UsageError('request body is not JSON'),
};

/** Reads the API token, creating it (0600) on first use. */
export async function ensureToken(dataDir: string): Promise<string> {
  const file = tokenPath(dataDir);
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(32).toString('base64url');
  await writePrivateFile(file, `${token}\n`);
  return token;
}

function errorStatus(err: unknown): number {
  if (err instanceof ChorusError) {
    if (err.status) return err.status;
    if (err.kind === 'usage') return 400;
    if (err.code === 'NOT_FOUND' || err.code.startsWith('UCXL-404')) return 404;
    if (err.code === 'NOT_A_RECIPIENT' || err.code === 'SOCKET_ONLY') return 403;
    if (err.code === 'NO_SUBSCRIBERS' || err.code === 'NOT_CONFIRMED') return 409;
    if (err.code === 'NOT_LEADER' || err.code === 'NOT_COMMITTED') return 409;
    if (err.code === 'SHHH_DENIED') return 422;
  }
  return 500;
}

export function errorBody(err: unknown): ApiErrorBody {
  const code = err instanceof ChorusError ? err.code : 'INTERNAL';
  const kind = err instanceof ChorusError ? err.kind : 'error';
  return { error: { code, message: describeError(err), kind } };
}

/** The reason a request's signal aborts with: one shared object (made once, not per request). */
const CLIENT_GONE = new DOMException('the client went away before the answer was written', 'AbortError');

/**
 * A request's signal, made on first use (many routes never look at it): aborted only when the connection
 * closes before the answer was written — the client went away, or stop() closed every connection. A
 * request answered normally never aborts it (so nothing hooked to it runs after the answer). No
 * AbortSignal.any with the server's lifetime: that keeps each request's signal alive as long as the server.
 */
function requestSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  const gone = (): void => {
    if (!res.writableFinished) controller.abort(CLIENT_GONE);
  };
  if (res.closed) gone();
  else res.once('close', gone);
  return controller.signal;
}

export class ApiServer {
  private readonly opts: ApiServerOptions;
  private readonly servers: Server[] = [];
  private token = '';
  tcpAddress: { host: string; port: number } | undefined;

  constructor(opts: ApiServerOptions) {
    this.opts = opts;
  }

  async start(): Promise<void> {
    const sock = socketPath(this.opts.dataDir);
    await this.claimSocket(sock);
    const unix = createServer((req, res) => void this.dispatch(req, res, false));
    await listen(unix, () => unix.listen(sock));
    await chmod(sock, 0o600);
    this.servers.push(unix);
    const tcp = this.opts.tcp;
    if (tcp && tcp.port > 0) {
      if (!isLoopbackHost(tcp.host) && !tcp.allowRemote) {
        throw new UsageError(`api.tcpHost ${tcp.host} is not a loopback address; set api.allowRemote to bind it`);
      }
      this.token = await ensureToken(this.opts.dataDir);
      const server = createServer((req, res) => void this.dispatch(req, res, true));
      this.tcpAddress = await listen(server, () => server.listen(tcp.port, tcp.host));
      this.servers.push(server);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map(close));
    await unlink(socketPath(this.opts.dataDir)).catch(() => {});
  }

  /** Refuses to start when another node answers on the socket; removes a stale socket file. */
  private async claimSocket(sock: string): Promise<void> {
    await refuseIfRunning(this.opts.dataDir);
    await unlink(sock).catch(() => {});
  }

  private authorized(req: IncomingMessage): boolean {
    // RFC 9110 §11.1: the auth scheme is case-insensitive ("Bearer", "bearer", "BEARER")
    const bearer = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
    const given = Buffer.from(bearer?.[1] ?? '');
    const want = Buffer.from(this.token);
    return this.token !== '' && given.length === want.length && timingSafeEqual(given, want);
  }

  /** The caller of a TCP request, or undefined once the request was answered (a page, or a refusal). */
  private async tcpCaller(req: IncomingMessage, res: ServerResponse, url: URL): Promise<Caller | undefined> {
    const gate = this.opts.gate;
    for (const [name, value] of Object.entries(gate?.headers ?? {})) res.setHeader(name, value);
    if (gate && (await gate.serve(req, res, url))) return undefined;
    if (this.authorized(req)) return { via: 'bearer' };
    const verdict: Caller | GateRefusal = gate?.authenticate(req) ?? {
      status: 401,
      error: new ChorusError('UNAUTHORIZED', 'a valid bearer token is required'),
    };
    if ('via' in verdict) return verdict;
    if (verdict.status === 401) res.setHeader('www-authenticate', 'Bearer');
    sendJson(res, verdict.status, errorBody(verdict.error));
    return undefined;
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, tcp: boolean): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://chorus');
    let caller: Caller = { via: 'socket' };
    if (tcp) {
      try {
        const known = await this.tcpCaller(req, res, url);
        if (!known) return;
        caller = known;
      } catch (err) {
        this.opts.logger.debug('api request failed', { path: url.pathname, error: describeError(err) });
        if (!res.headersSent) sendJson(res, 500, errorBody(err));
        else res.end();
        return;
      }
    }
    const route = this.opts.routes[`${req.method} ${url.pathname}`];
    if (!route)
      return sendJson(res, 404, errorBody(new ChorusError('NOT_FOUND', `no route ${req.method} ${url.pathname}`)));
    let signal: AbortSignal | undefined;
    try {
      const result = await route({
        url,
        caller,
        req,
        body: () => readJsonBody(req, BODY),
        raw: () => readBody(req, BODY),
        get signal() {
          return (signal ??= requestSignal(res));
        },
        res,
      });
      if (result !== undefined && !res.headersSent) sendJson(res, 200, result);
    } catch (err) {
      this.opts.logger.debug('api request failed', {
        route: `${req.method} ${url.pathname}`,
        error: describeError(err),
      });
      if (!res.headersSent) sendJson(res, errorStatus(err), errorBody(err));
      else res.end();
    }
  }
}
