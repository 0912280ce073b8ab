// Kept-alive connections to the control socket without node:http, for a client that makes many calls (a
// benchmark's driver, a script holding one ApiClient): HTTP/1.1 requests, with or without a JSON body, one at a time
// on each connection, and the connection kept for the next request once its answer has been read whole. At most
// `maxSockets` connections at once; further requests wait their turn in order. With ApiClient against a node's API
// server in another process, a call costs the caller ~65–70 µs of CPU here against ~130–140 µs through node:http's
// Agent. Answers are read as socket-call.ts reads them (content-length, chunked, or up to the end, which ends the
// connection; interim 1xx answers are skipped; 204, 304 and a HEAD's answer have no body); anything else is a
// MalformedAnswerError, never a partial body.
//
// A kept connection the node closed while it was idle (its keep-alive timeout) is not reused: one idle for longer
// than the node's `keep-alive: timeout` less a second is closed here first. Should a reused connection still end
// before any byte of its answer, a GET is sent again once on a new connection; any other request fails with
// ECONNRESET, as it does with node:http, since the node may have acted on it. close() ends every connection.
import { connect, type Socket } from 'node:net';
import {
  abortError,
  bodyFraming,
  MalformedAnswerError,
  parseHead,
  readChunked,
  sendablePath,
  type AnswerHead,
  type BodyFraming,
  type SocketAnswer,
} from './socket-call.ts';

/** How long a connection may idle before it is not reused, unless the node's answers say otherwise. */
const DEFAULT_IDLE_MS = 4000;

/** A request in flight on a connection. */
interface Exchange {
  /** A HEAD request: its answer has no body, whatever its head says. */
  headRequest: boolean;
  resolve: (answer: SocketAnswer) => void;
  reject: (err: Error) => void;
}

/** What has arrived of the answer being read. */
interface Reading {
  chunks: Buffer[];
  length: number;
  parsed: (AnswerHead & { framing: BodyFraming; bodyAt: number }) | undefined;
}

/** Errors of connections that ended before any byte of their answer (a GET on a reused one may go again). */
const NO_ANSWER = new WeakSet<Error>();

/** The connection's own error, or node:http's "socket hang up" (ECONNRESET) when it just ended. */
function noAnswer(cause?: Error): Error {
  const err =
    cause ??
    Object.assign(new Error('socket hang up: the chorus node closed the connection before it answered'), {
      code: 'ECONNRESET',
    });
  NO_ANSWER.add(err);
  return err;
}

/** Answers that never have a body (RFC 9110 §6.4.1). */
const BODILESS = new Set([204, 304]);

class Connection {
  readonly socket: Socket;
  /** Answers read on it: a connection that has answered before is a reused one. */
  answered = 0;
  idleSince = 0;
  /** The node's keep-alive timeout less a second, from its last answer. */
  maxIdleMs = DEFAULT_IDLE_MS;
  reusable = true;
  private exchange: Exchange | undefined;
  private reading: Reading = { chunks: [], length: 0, parsed: undefined };

  constructor(sock: string, onGone: (c: Connection) => void) {
    this.socket = connect(sock);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('error', (err) => this.fail(this.reading.length > 0 ? err : noAnswer(err)));
    this.socket.on('close', () => {
      this.reusable = false;
      this.fail(this.reading.length > 0 ? new MalformedAnswerError('the connection closed mid-answer') : noAnswer());
      onGone(this);
    });
  }

  send(request: string, exchange: Exchange): void {
    this.exchange = exchange;
    this.reading = { chunks: [], length: 0, parsed: undefined };
    this.socket.ref();
    this.socket.write(request);
  }

  /** The connection goes idle: it keeps no process alive while nothing runs on it. */
  rest(): void {
    this.idleSince = performance.now();
    this.socket.unref();
  }

  destroy(): void {
    this.reusable = false;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    const x = this.exchange;
    if (!x) return this.destroy(); // bytes nobody asked for: not HTTP as the node writes it
    const r = this.reading;
    r.chunks.push(chunk);
    r.length += chunk.length;
    try {
      this.tryFinish(x, r, false, chunk);
    } catch (err) {
      this.destroy();
      this.settle(x, () => x.reject(err as Error));
    }
  }

  private onEnd(): void {
    this.reusable = false;
    const x = this.exchange;
    if (!x || this.reading.length === 0) return; // 'close' follows and fails a request that got nothing
    try {
      this.tryFinish(x, this.reading, true, undefined);
      if (this.exchange === x) throw new MalformedAnswerError('the connection closed mid-answer');
    } catch (err) {
      this.settle(x, () => x.reject(err as Error));
    }
  }

  /** The bytes read so far, as one buffer (kept as one, so that a long answer is not copied again and again). */
  private bytes(r: Reading): Buffer {
    if (r.chunks.length > 1) r.chunks = [Buffer.concat(r.chunks, r.length)];
    return r.chunks[0] ?? Buffer.alloc(0);
  }

  /**
   * Resolves the exchange once its answer is all there (`ended`: the node has closed its side). The bytes are
   * looked at again only when they could hold the end: the head's blank line, the declared length, a chunked body's
   * line end (its last chunk and trailer end in one).
   */
  private tryFinish(x: Exchange, r: Reading, ended: boolean, last: Buffer | undefined): void {
    while (!r.parsed) {
      const bytes = this.bytes(r);
      const blank = bytes.indexOf('\r\n\r\n');
      if (blank < 0) return;
      const head = parseHead(bytes.subarray(0, blank));
      if (head.status >= 100 && head.status < 200) {
        // an interim answer (100 Continue, 103 Early Hints): the final one follows on the same connection
        r.chunks = [bytes.subarray(blank + 4)];
        r.length -= blank + 4;
        continue;
      }
      const framing: BodyFraming =
        x.headRequest || BODILESS.has(head.status) ? { kind: 'length', length: 0 } : bodyFraming(head.headers);
      r.parsed = { ...head, framing, bodyAt: blank + 4 };
      last = undefined; // the whole rest is new to the body
    }
    const { framing, bodyAt, status, headers } = r.parsed;
    let body: Buffer;
    let end: number;
    if (framing.kind === 'length') {
      if (r.length < bodyAt + framing.length) return;
      const rest = this.bytes(r).subarray(bodyAt);
      body = rest.subarray(0, framing.length);
      end = framing.length;
    } else if (framing.kind === 'chunked') {
      if (last && !(last.length >= 2 && last[last.length - 2] === 13 && last[last.length - 1] === 10)) return;
      const read = readChunked(this.bytes(r).subarray(bodyAt));
      if ('missing' in read || read.end === undefined) return;
      ({ body, end } = read as { body: Buffer; end: number });
    } else {
      if (!ended) return;
      body = this.bytes(r).subarray(bodyAt);
      end = body.length;
    }
    const connection = headers.get('connection') ?? '';
    if (end !== r.length - bodyAt || framing.kind === 'close' || /(^|,)\s*close\s*($|,)/i.test(connection)) {
      this.reusable = false; // the node closes it, or wrote more than one answer
    }
    const timeout = /(?:^|,)\s*timeout=(\d+)/i.exec(headers.get('keep-alive') ?? '')?.[1];
    if (timeout !== undefined) this.maxIdleMs = Math.max(0, Number(timeout) * 1000 - 1000);
    this.answered++;
    this.settle(x, () => x.resolve({ status, body: body.toString('utf8') }));
  }

  private fail(err: Error): void {
    const x = this.exchange;
    if (x) this.settle(x, () => x.reject(err));
  }

  private settle(x: Exchange, fn: () => void): void {
    if (this.exchange !== x) return;
    this.exchange = undefined;
    this.reading = { chunks: [], length: 0, parsed: undefined };
    fn();
  }
}

export class SocketPool {
  private readonly sock: string;
  private readonly maxSockets: number;
  /** Every open connection, and those idle (the most recently used last). */
  private readonly open = new Set<Connection>();
  private idle: Connection[] = [];
  private busy = 0;
  private readonly queue: { go: () => void; fail: (err: Error) => void }[] = [];
  private closed = false;

  constructor(sock: string, maxSockets: number) {
    this.sock = sock;
    this.maxSockets = Math.max(1, maxSockets);
  }

  /**
   * Sends `method path` (with `body`, a JSON text, when given) and resolves with the answer's status and body.
   * Rejects with the connection's error (its errno code; ECONNRESET when the node closed it without an answer), an
   * AbortError when `signal` aborts first, a TypeError for a path node:http would refuse, or MalformedAnswerError.
   */
  async request(method: string, path: string, body: string | undefined, signal: AbortSignal): Promise<SocketAnswer> {
    if (signal.aborted) throw abortError(signal);
    if (!sendablePath(path)) throw new TypeError('Request path contains unescaped characters');
    this.checkOpen();
    const length =
      body === undefined ? (method === 'GET' || method === 'HEAD' ? undefined : 0) : Buffer.byteLength(body);
    const request =
      `${method} ${path} HTTP/1.1\r\nhost: localhost\r\n` +
      (length === undefined ? '' : `content-type: application/json\r\ncontent-length: ${length}\r\n`) +
      `\r\n${body ?? ''}`;
    const headRequest = method === 'HEAD';
    await this.turn(signal);
    try {
      const conn = this.take();
      try {
        return await this.exchange(conn, request, headRequest, signal);
      } catch (err) {
        // the node closed a kept connection just as it was reused: a GET goes again, on a new connection
        const again = NO_ANSWER.has(err as Error) && conn.answered > 0 && method === 'GET';
        if (!again || signal.aborted || this.closed) throw err;
        return await this.exchange(this.take(true), request, headRequest, signal);
      }
    } finally {
      this.busy--;
      this.queue.shift()?.go();
    }
  }

  /** Ends every connection: requests running fail with their connection's error, those waiting with a closed error. */
  close(): void {
    this.closed = true;
    for (const c of this.open) c.destroy();
    this.idle = [];
    for (const waiter of this.queue.splice(0)) waiter.fail(closedError());
  }

  private checkOpen(): void {
    if (this.closed) throw closedError();
  }

  /** Waits until fewer than maxSockets requests run, then counts this one. */
  private async turn(signal: AbortSignal): Promise<void> {
    if (this.busy < this.maxSockets) {
      this.busy++;
      return;
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const waiter = {
      go: (): void => {
        signal.removeEventListener('abort', onAbort);
        this.busy++;
        resolve();
      },
      fail: (err: Error): void => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    };
    const onAbort = (): void => {
      this.queue.splice(this.queue.indexOf(waiter), 1);
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    this.queue.push(waiter);
    return promise;
  }

  /** The most recently used idle connection that may still be reused, else a new one. */
  private take(fresh = false): Connection {
    this.checkOpen();
    const now = performance.now();
    while (!fresh && this.idle.length > 0) {
      const c = this.idle.pop() as Connection;
      if (c.reusable && now - c.idleSince < c.maxIdleMs) return c;
      c.destroy();
    }
    const conn = new Connection(this.sock, (gone) => {
      this.open.delete(gone);
      const at = this.idle.indexOf(gone);
      if (at >= 0) this.idle.splice(at, 1);
    });
    this.open.add(conn);
    return conn;
  }

  private exchange(
    conn: Connection,
    request: string,
    headRequest: boolean,
    signal: AbortSignal,
  ): Promise<SocketAnswer> {
    // a signal that aborted while this request waited for its turn (in the moment between its turn and now)
    if (signal.aborted) {
      if (conn.answered === 0) conn.destroy();
      else this.idle.push(conn);
      return Promise.reject(abortError(signal));
    }
    const { promise, resolve, reject } = Promise.withResolvers<SocketAnswer>();
    const onAbort = (): void => {
      conn.destroy(); // its answer, should it come, is for nobody
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    conn.send(request, { headRequest, resolve, reject });
    return promise.finally(() => {
      signal.removeEventListener('abort', onAbort);
      if (conn.reusable && !this.closed && !signal.aborted) {
        conn.rest();
        this.idle.push(conn);
      } else conn.destroy();
    });
  }
}

/** A call on a client whose close() ran (or that close() ended while it waited its turn). */
function closedError(): Error {
  return Object.assign(new Error('this API client was closed'), { code: 'ERR_CLIENT_CLOSED' });
}
