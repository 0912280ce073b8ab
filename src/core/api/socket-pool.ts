// Kept-alive connections to the control socket without node:http, for a client that makes many calls (a
// benchmark's driver, a script holding one ApiClient): HTTP/1.1 requests, with or without a JSON body, one at a time
// on each connection, and the connection kept for the next request once its answer has been read whole. At most
// `maxSockets` connections at once; further requests wait their turn in order. node:http's Agent and request
// machinery cost such a caller ~75–80 µs of CPU per call against ~30 µs here (sequential GETs with a 1.5 KB answer
// from a node:http server in another process). Answers are read as socket-call.ts reads them (content-length,
// chunked, or up to the end, which ends the connection); anything else is a MalformedAnswerError, never a partial body.
//
// A kept connection the node closed while it was idle (its keep-alive timeout) is not reused: one idle for longer
// than the node's `keep-alive: timeout` less a second is closed here first. Should a reused connection still end
// before any byte of its answer, a GET is sent again once on a new connection; any other request fails, as it does
// with node:http, since the node may have acted on it.
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
  resolve: (answer: SocketAnswer) => void;
  reject: (err: Error) => void;
  /** Bytes of the answer so far (undefined before the first). */
  bytes: Buffer | undefined;
  head: (AnswerHead & { framing: BodyFraming; bodyAt: number }) | undefined;
}

/** A connection ended before any byte of its answer (a GET on a reused connection may be sent again). */
class EndedBeforeAnswer extends Error {
  constructor(cause?: Error) {
    super(cause?.message ?? 'the chorus node closed the connection before it answered', { cause });
    if (cause && 'code' in cause) Object.assign(this, { code: cause.code });
  }
}

class Connection {
  readonly socket: Socket;
  /** Answers read on it: a connection that has answered before is a reused one. */
  answered = 0;
  idleSince = 0;
  /** The node's keep-alive timeout less a second, from its last answer. */
  maxIdleMs = DEFAULT_IDLE_MS;
  reusable = true;
  private exchange: Exchange | undefined;

  constructor(sock: string, onGone: (c: Connection) => void) {
    this.socket = connect(sock);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('error', (err) => this.fail(this.exchange?.bytes ? err : new EndedBeforeAnswer(err)));
    this.socket.on('close', () => {
      this.reusable = false;
      this.fail(
        this.exchange?.bytes ? new MalformedAnswerError('the connection closed mid-answer') : new EndedBeforeAnswer(),
      );
      onGone(this);
    });
  }

  send(request: string, exchange: Exchange): void {
    this.exchange = exchange;
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
    x.bytes = x.bytes ? Buffer.concat([x.bytes, chunk]) : chunk;
    try {
      this.tryFinish(x, false);
    } catch (err) {
      this.destroy();
      this.settle(x, () => x.reject(err as Error));
    }
  }

  private onEnd(): void {
    this.reusable = false;
    const x = this.exchange;
    if (!x?.bytes) return; // 'close' follows and fails a request that got nothing
    try {
      this.tryFinish(x, true);
      if (this.exchange === x) throw new MalformedAnswerError('the connection closed mid-answer');
    } catch (err) {
      this.settle(x, () => x.reject(err as Error));
    }
  }

  /** Resolves the exchange once its answer is all there (`ended`: the node has closed its side). */
  private tryFinish(x: Exchange, ended: boolean): void {
    const bytes = x.bytes as Buffer;
    if (!x.head) {
      const blank = bytes.indexOf('\r\n\r\n');
      if (blank < 0) return;
      const head = parseHead(bytes.subarray(0, blank));
      x.head = { ...head, framing: bodyFraming(head.headers), bodyAt: blank + 4 };
    }
    const { framing, bodyAt, status, headers } = x.head;
    const rest = bytes.subarray(bodyAt);
    let body: Buffer;
    let end: number;
    if (framing.kind === 'length') {
      if (rest.length < framing.length) return;
      body = rest.subarray(0, framing.length);
      end = framing.length;
    } else if (framing.kind === 'chunked') {
      const read = readChunked(rest);
      if ('missing' in read || read.end === undefined) return;
      ({ body, end } = read as { body: Buffer; end: number });
    } else {
      if (!ended) return;
      body = rest;
      end = rest.length;
    }
    if (
      end !== rest.length ||
      framing.kind === 'close' ||
      /(^|,)\s*close\s*($|,)/i.test(headers.get('connection') ?? '')
    ) {
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
    fn();
  }
}

export class SocketPool {
  private readonly sock: string;
  private readonly maxSockets: number;
  /** Idle connections, the most recently used last. */
  private idle: Connection[] = [];
  private busy = 0;
  private readonly queue: (() => void)[] = [];
  private closed = false;

  constructor(sock: string, maxSockets: number) {
    this.sock = sock;
    this.maxSockets = Math.max(1, maxSockets);
  }

  /**
   * Sends `method path` (with `body`, a JSON text, when given) and resolves with the answer's status and body.
   * Rejects with the connection's error (its errno code), an AbortError when `signal` aborts first, a TypeError for
   * a path node:http would refuse, or MalformedAnswerError.
   */
  async request(method: string, path: string, body: string | undefined, signal: AbortSignal): Promise<SocketAnswer> {
    if (signal.aborted) throw abortError(signal);
    if (!sendablePath(path)) throw new TypeError('Request path contains unescaped characters');
    if (this.closed) throw new Error('this API client was closed');
    const length = body === undefined ? (method === 'GET' ? undefined : 0) : Buffer.byteLength(body);
    const request =
      `${method} ${path} HTTP/1.1\r\nhost: localhost\r\n` +
      (length === undefined ? '' : `content-type: application/json\r\ncontent-length: ${length}\r\n`) +
      `\r\n${body ?? ''}`;
    await this.turn(signal);
    try {
      const conn = this.take();
      try {
        return await this.exchange(conn, request, signal);
      } catch (err) {
        // the node closed a kept connection just as it was reused: a GET goes again, on a new connection
        if (!(err instanceof EndedBeforeAnswer) || conn.answered === 0 || method !== 'GET' || signal.aborted) throw err;
        return await this.exchange(this.take(true), request, signal);
      }
    } finally {
      this.busy--;
      this.queue.shift()?.();
    }
  }

  /** Ends every connection; requests still running fail with their connection's error. */
  close(): void {
    this.closed = true;
    for (const c of this.idle) c.destroy();
    this.idle = [];
  }

  /** Waits until fewer than maxSockets requests run, then counts this one. */
  private async turn(signal: AbortSignal): Promise<void> {
    if (this.busy < this.maxSockets) {
      this.busy++;
      return;
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const go = (): void => {
      signal.removeEventListener('abort', onAbort);
      this.busy++;
      resolve();
    };
    const onAbort = (): void => {
      this.queue.splice(this.queue.indexOf(go), 1);
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    this.queue.push(go);
    return promise;
  }

  /** The most recently used idle connection that may still be reused, else a new one. */
  private take(fresh = false): Connection {
    const now = performance.now();
    while (!fresh && this.idle.length > 0) {
      const c = this.idle.pop() as Connection;
      if (c.reusable && now - c.idleSince < c.maxIdleMs) return c;
      c.destroy();
    }
    return new Connection(this.sock, (gone) => {
      const at = this.idle.indexOf(gone);
      if (at >= 0) this.idle.splice(at, 1);
    });
  }

  private exchange(conn: Connection, request: string, signal: AbortSignal): Promise<SocketAnswer> {
    const { promise, resolve, reject } = Promise.withResolvers<SocketAnswer>();
    const onAbort = (): void => {
      conn.destroy(); // its answer, should it come, is for nobody
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    conn.send(request, { resolve, reject, bytes: undefined, head: undefined });
    return promise.finally(() => {
      signal.removeEventListener('abort', onAbort);
      if (conn.reusable && !this.closed && !signal.aborted) {
        conn.rest();
        this.idle.push(conn);
      } else conn.destroy();
    });
  }
}
