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
function abortError(signal: AbortSignal): Error {
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
    // as node:http: a path is sent as given, so it may hold no space, control or non-ASCII character
    if (!/^\/[\x21-\x7e]*$/.test(path)) return reject(new TypeError('Request path contains unescaped characters'));
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

/** Parses a whole HTTP/1.1 answer (the connection has ended). */
export function parseAnswer(bytes: Buffer): SocketAnswer {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) throw new MalformedAnswerError(bytes.length === 0 ? 'no answer' : 'no end of headers');
  const [statusLine = '', ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine)?.[1];
  if (!status) throw new MalformedAnswerError(`status line "${statusLine.slice(0, 40)}"`);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MalformedAnswerError(`header line "${line.slice(0, 40)}"`);
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const rest = bytes.subarray(end + 4);
  let body: Buffer;
  if (/(^|,)\s*chunked\s*$/i.test(headers.get('transfer-encoding') ?? '')) body = dechunk(rest);
  else if (headers.has('content-length')) {
    const length = Number(headers.get('content-length'));
    if (!Number.isSafeInteger(length) || length < 0) throw new MalformedAnswerError('content-length');
    if (rest.length < length) throw new MalformedAnswerError(`body of ${rest.length} of ${length} bytes`);
    body = rest.subarray(0, length);
  } else body = rest;
  return { status: Number(status), body: body.toString('utf8') };
}

/** The body of a chunked transfer coding (RFC 9112 §7.1), which must end with its last chunk. */
function dechunk(bytes: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = bytes.indexOf('\r\n', at);
    if (eol < 0) throw new MalformedAnswerError('a chunk size line');
    const hex = bytes.subarray(at, eol).toString('latin1').split(';')[0]!.trim();
    if (!/^[0-9a-f]{1,8}$/i.test(hex)) throw new MalformedAnswerError(`a chunk size "${hex.slice(0, 20)}"`);
    const size = Number.parseInt(hex, 16);
    if (size === 0) return Buffer.concat(parts);
    const start = eol + 2;
    if (bytes.length < start + size + 2) throw new MalformedAnswerError('a truncated chunk');
    parts.push(bytes.subarray(start, start + size));
    at = start + size + 2;
  }
}
