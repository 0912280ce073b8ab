// One request without a body and its answer over the control socket, on a raw connection: HTTP/1.1 with
// `connection: close`, written and read here. For one-shot callers: the client verbs (`chorus status`, `elect
// status`, `ucxl get`) make one request per process, and loading node:http and running its request machinery cost
// each of them ~15–18 ms of CPU, a fifth of its run. The answer is read as the node writes it (a status line,
// headers, then a body of `content-length` bytes, chunked, or up to the end); anything else is an error, never a
// partial body.
import { connect } from 'node:net';

export interface SocketAnswer {
  status: number;
  body: string;
}

/** An answer that is not HTTP as the node writes it. */
export class MalformedAnswerError extends Error {
  constructor(why: string) {
    super(`the control socket answered something that is not HTTP: ${why}`);
    this.name = 'MalformedAnswerError';
  }
}

/** What node:http rejects with when a request's signal aborts (kept the same for callers and messages). */
export function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), {
    name: 'AbortError',
    code: 'ABORT_ERR',
  });
}

/**
 * Sends `method path` (no body) to the socket at `sock` and resolves with the answer's status and body. Rejects
 * with the connection's error (its errno code: ENOENT, ECONNREFUSED, EACCES …), an AbortError when `signal`
 * aborts first, a TypeError for a path node:http would refuse, or MalformedAnswerError.
 */
export function socketCall(sock: string, method: string, path: string, signal: AbortSignal): Promise<SocketAnswer> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(signal));
    if (!sendablePath(path)) return reject(new TypeError('Request path contains unescaped characters'));
    const socket = connect(sock);
    const chunks: Buffer[] = [];
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      fn();
    };
    const onAbort = (): void => settle(() => reject(abortError(signal)));
    signal.addEventListener('abort', onAbort, { once: true });
    // the node closes the connection after its answer (connection: close)
    socket.on('connect', () =>
      socket.write(`${method} ${path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n`),
    );
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (err) => settle(() => reject(err)));
    socket.on('end', () =>
      settle(() => {
        try {
          resolve(parseAnswer(Buffer.concat(chunks)));
        } catch (err) {
          reject(err);
        }
      }),
    );
  });
}

/** As node:http: a path is sent as given, so it may hold no space, control or non-ASCII character. */
export function sendablePath(path: string): boolean {
  return /^\/[\x21-\x7e]*$/.test(path);
}

/** An answer's status line and headers (names in lower case). */
export interface AnswerHead {
  status: number;
  headers: Map<string, string>;
}

/** Parses the head of an answer: the bytes before its blank line (`\r\n\r\n`). */
export function parseHead(head: Buffer): AnswerHead {
  const [statusLine = '', ...lines] = head.toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine)?.[1];
  if (!status) throw new MalformedAnswerError(`status line "${statusLine.slice(0, 40)}"`);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MalformedAnswerError(`header line "${line.slice(0, 40)}"`);
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(status), headers };
}

/** How an answer's body ends: after a length, with its last chunk, or with the connection. */
export type BodyFraming = { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

export function bodyFraming(headers: Map<string, string>): BodyFraming {
  if (/(^|,)\s*chunked\s*$/i.test(headers.get('transfer-encoding') ?? '')) return { kind: 'chunked' };
  if (!headers.has('content-length')) return { kind: 'close' };
  const length = Number(headers.get('content-length'));
  if (!Number.isSafeInteger(length) || length < 0) throw new MalformedAnswerError('content-length');
  return { kind: 'length', length };
}

/** Parses a whole HTTP/1.1 answer (the connection has ended). */
export function parseAnswer(bytes: Buffer): SocketAnswer {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) throw new MalformedAnswerError(bytes.length === 0 ? 'no answer' : 'no end of headers');
  const { status, headers } = parseHead(bytes.subarray(0, end));
  const rest = bytes.subarray(end + 4);
  const framing = bodyFraming(headers);
  let body: Buffer;
  if (framing.kind === 'chunked') {
    const read = readChunked(rest);
    if ('missing' in read) throw new MalformedAnswerError(read.missing);
    body = read.body;
  } else if (framing.kind === 'length') {
    if (rest.length < framing.length)
      throw new MalformedAnswerError(`body of ${rest.length} of ${framing.length} bytes`);
    body = rest.subarray(0, framing.length);
  } else body = rest;
  return { status, body: body.toString('utf8') };
}

/**
 * A chunked transfer coding (RFC 9112 §7.1) at the start of `bytes`: its body, and where it ends (after its last
 * chunk and its trailer section; undefined while that section is not all there), or what is still missing when the
 * bytes stop before the last chunk. Throws MalformedAnswerError for a chunk size that is not one.
 */
export function readChunked(bytes: Buffer): { body: Buffer; end: number | undefined } | { missing: string } {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = bytes.indexOf('\r\n', at);
    if (eol < 0) return { missing: 'a chunk size line' };
    const hex = bytes.subarray(at, eol).toString('latin1').split(';')[0]!.trim();
    if (!/^[0-9a-f]{1,8}$/i.test(hex)) throw new MalformedAnswerError(`a chunk size "${hex.slice(0, 20)}"`);
    const size = Number.parseInt(hex, 16);
    const start = eol + 2;
    if (size === 0) return { body: Buffer.concat(parts), end: trailerEnd(bytes, start) };
    if (bytes.length < start + size + 2) return { missing: 'a truncated chunk' };
    parts.push(bytes.subarray(start, start + size));
    at = start + size + 2;
  }
}

/** Where a trailer section that starts at `from` ends (after its blank line); undefined while incomplete. */
function trailerEnd(bytes: Buffer, from: number): number | undefined {
  if (bytes.length >= from + 2 && bytes[from] === 13 && bytes[from + 1] === 10) return from + 2;
  const blank = bytes.indexOf('\r\n\r\n', from);
  return blank < 0 ? undefined : blank + 4;
}
