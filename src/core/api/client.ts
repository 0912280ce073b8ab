// The client side of the control API, used by the client verbs (publish, subscribe, peers, status),
// benchmarks and agents: requests over the data dir's Unix socket, or over TCP with the bearer token;
// optionally over kept-alive connections for callers that send many requests (over the socket without node:http,
// socket-pool.ts). A one-off request without a body over the socket skips node:http too (socket-call.ts). A node
// that is not running and a socket this user may not open are told apart, and the latter names the socket's owner.
import { Agent, request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { isTimeoutReason, withDeadline } from '../deadline.ts';
import { ChorusError, TimeoutError, type ErrorKind } from '../errors.ts';
import { currentUser, describeOwner, unsearchableParent } from '../owner.ts';
import { socketPath, type ApiErrorBody } from './protocol.ts';
import { socketCall } from './socket-call.ts';
import { SocketPool } from './socket-pool.ts';
import { parseStreamLine } from './stream.ts';

export class DaemonUnreachableError extends ChorusError {
  constructor(where: string, cause: unknown) {
    super('DAEMON_UNREACHABLE', `no chorus node is answering at ${where}: start one with \`chorus node\``, { cause });
    this.name = 'DaemonUnreachable';
  }
}

/** The control socket exists but this user may not open it (EACCES): say so, and whose it is. */
export class ApiPermissionError extends ChorusError {
  constructor(message: string, cause: unknown) {
    super('PERMISSION_DENIED', message, { cause });
    this.name = 'ApiPermissionError';
  }
}

async function permissionDenied(sock: string, cause: unknown): Promise<ApiPermissionError> {
  const me = currentUser();
  const blocked = await unsearchableParent(sock);
  if (blocked) {
    return new ApiPermissionError(
      `permission denied: ${me} may not open the control socket ${sock}, because ${blocked} is not searchable — run the command as the node's user (sudo -u <user> chorus …)`,
      cause,
    );
  }
  const owner = (await describeOwner(sock)) ?? 'owner unknown';
  return new ApiPermissionError(
    `permission denied: ${me} may not open the control socket ${sock} (${owner}) — run the command as its owner (sudo -u <owner> chorus …); the socket's mode is the API's authentication`,
    cause,
  );
}

export interface ApiClientOptions {
  dataDir: string;
  /** Use TCP instead of the socket. */
  tcp?: { host: string; port: number; token: string };
  timeoutMs?: number;
  /** Keep connections open between requests (at most `maxSockets` at once); close() ends them. */
  keepAlive?: { maxSockets: number };
}

/** True for a request that its signal aborted with a TimeoutError (node:http and socket-call give it as the cause). */
function deadlinePassed(err: unknown): boolean {
  return isTimeoutReason((err as { cause?: unknown } | null)?.cause);
}

/** The error an answer with an error status stands for: the node's error body, or the status when it has none. */
function failWith(status: number, text: string): never {
  let body: ApiErrorBody | undefined;
  try {
    body = JSON.parse(text) as ApiErrorBody;
  } catch {
    // not our error shape
  }
  const e = body?.error;
  throw new ChorusError(e?.code ?? 'API_ERROR', e?.message ?? `control API answered HTTP ${status}`, {
    kind: (e?.kind as ErrorKind | undefined) ?? 'error',
  });
}

export class ApiClient {
  private readonly opts: ApiClientOptions;
  /** Kept-alive connections over TCP (node:http). */
  private readonly agent: Agent | undefined;
  /** Kept-alive connections over the socket. */
  private readonly pool: SocketPool | undefined;

  constructor(opts: ApiClientOptions) {
    this.opts = opts;
    const keep = opts.keepAlive;
    this.agent = keep && opts.tcp ? new Agent({ keepAlive: true, maxSockets: keep.maxSockets }) : undefined;
    this.pool = keep && !opts.tcp ? new SocketPool(socketPath(opts.dataDir), keep.maxSockets) : undefined;
  }

  /** Ends kept-alive connections (a no-op without keepAlive). */
  close(): void {
    this.agent?.destroy();
    this.pool?.close();
  }

  private where(): string {
    return this.opts.tcp ? `${this.opts.tcp.host}:${this.opts.tcp.port}` : socketPath(this.opts.dataDir);
  }

  private open(method: string, path: string, signal?: AbortSignal, body?: unknown): Promise<IncomingMessage> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const tcp = this.opts.tcp;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          method,
          path,
          ...(tcp
            ? { host: tcp.host, port: tcp.port }
            : // one request, one connection: no agent, whose TLS-servername step compiles node's IPv6
              // regex (~8 ms of a client verb's start-up) for a Unix socket that needs none
              { createConnection: () => connect(socketPath(this.opts.dataDir)) }),
          headers: {
            ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
            ...(tcp ? { authorization: `Bearer ${tcp.token}` } : {}),
          },
          signal,
          ...(this.agent ? { agent: this.agent } : {}),
        },
        resolve,
      );
      req.on('error', (err: NodeJS.ErrnoException) => void this.connectionError(err).then(reject));
      req.end(payload);
    });
  }

  private async fail(res: IncomingMessage): Promise<never> {
    let text = '';
    for await (const chunk of res) text += chunk;
    return failWith(res.statusCode ?? 500, text);
  }

  /** A connection's error as callers see it: a node that is not running, a socket this user may not open. */
  private async connectionError(err: NodeJS.ErrnoException): Promise<Error> {
    if (err.code === 'EACCES' && !this.opts.tcp) return permissionDenied(socketPath(this.opts.dataDir), err);
    if (['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EACCES'].includes(err.code ?? '')) {
      return new DaemonUnreachableError(this.where(), err);
    }
    return err;
  }

  /** A JSON request/response call. */
  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const ms = this.opts.timeoutMs ?? 30_000;
    try {
      // the deadline ends with the call: a client that makes many calls (an agent, a benchmark) keeps no timer, and
      // no composite of its own long-lived signal, for each call it made in the last timeoutMs
      return await withDeadline(ms, (both) => this.callNow<T>(method, path, body, both), signal);
    } catch (err) {
      // the deadline ran out, not the caller's signal: say so, and where (a node that accepts and never answers)
      if (!signal?.aborted && deadlinePassed(err)) {
        throw new TimeoutError(`the chorus node at ${this.where()} did not answer within ${ms / 1000} s`, err);
      }
      throw err;
    }
  }

  private async callNow<T>(method: 'GET' | 'POST', path: string, body: unknown, both: AbortSignal): Promise<T> {
    if (this.pool || (!this.opts.tcp && body === undefined)) {
      // over the socket without node:http: kept-alive connections (socket-pool.ts), or a request without a body on a
      // connection of its own (socket-call.ts); a one-off body goes through node:http, which reads an early answer
      // (a body over the limit) while it still writes
      const answer = await (
        this.pool
          ? this.pool.request(method, path, body === undefined ? undefined : JSON.stringify(body), both)
          : socketCall(socketPath(this.opts.dataDir), method, path, both)
      ).catch(async (err: NodeJS.ErrnoException) => {
        throw await this.connectionError(err);
      });
      if (answer.status >= 400) return failWith(answer.status, answer.body);
      return JSON.parse(answer.body) as T;
    }
    const res = await this.open(method, path, both, body);
    if ((res.statusCode ?? 500) >= 400) return this.fail(res);
    let text = '';
    for await (const chunk of res) text += chunk;
    return JSON.parse(text) as T;
  }

  /** A streaming call: yields each NDJSON line until the server ends or the signal aborts. */
  async *stream<T>(path: string, signal: AbortSignal): AsyncGenerator<T> {
    let res: IncomingMessage;
    try {
      res = await this.open('GET', path, signal);
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
    if ((res.statusCode ?? 500) >= 400) await this.fail(res);
    let buffer = '';
    try {
      for await (const chunk of res) {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line) yield parseStreamLine<T>(line); // a close frame throws the node's reason
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }
}
