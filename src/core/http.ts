// The small shared kit of chorus' node:http servers (the control API, the ops listener, the lease
// server): body reading under a size limit, JSON replies, listening with one clear error, closing, and
// an HttpError that carries its status. Each server keeps its own routes and error body shape.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** An error a server answers with its own status and code. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export interface BodyLimits {
  /** Bytes a body may have. */
  limit: number;
  /** The error for a body over the limit (default: HttpError 413); `size` when the request declared it. */
  tooLarge?: (limit: number, size?: number) => Error;
  /** The error for a body that is not JSON (default: HttpError 400). */
  notJson?: () => Error;
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** Reads a request body, refusing it when its declared length, or as soon as what arrived, passes the limit. */
export async function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limits.limit) {
    throw (
      limits.tooLarge?.(limits.limit, declared) ??
      new HttpError(413, 'TOO_LARGE', `request body of ${declared} bytes is over ${limits.limit} bytes`)
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limits.limit) {
      throw (
        limits.tooLarge?.(limits.limit) ?? new HttpError(413, 'TOO_LARGE', `request body over ${limits.limit} bytes`)
      );
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Reads a JSON request body ({} when empty). */
export async function readJsonBody(req: IncomingMessage, limits: BodyLimits): Promise<unknown> {
  const raw = await readBody(req, limits);
  if (raw.length === 0) return {};
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw limits.notJson?.() ?? new HttpError(400, 'BAD_REQUEST', 'request body is not JSON');
  }
}

/** Replies with a body of a given type (content-length set; extra headers, e.g. cache-control). */
export function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** Replies with a JSON value. */
export function sendJson(res: ServerResponse, status: number, value: unknown, headers?: Record<string, string>): void {
  send(res, status, 'application/json', JSON.stringify(value), headers);
}

/**
 * Starts listening (`start` calls server.listen); resolves once it does, with the bound TCP address
 * when there is one. A port in use becomes `inUse()` when given.
 */
export function listen(
  server: Server,
  start: () => void,
  inUse?: () => Error,
): Promise<{ host: string; port: number } | undefined> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => reject(err.code === 'EADDRINUSE' && inUse ? inUse() : err);
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(addr && typeof addr === 'object' ? { host: addr.address, port: addr.port } : undefined);
    });
    start();
  });
}

/** Stops accepting and closes every connection (in-flight requests end). */
export function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
