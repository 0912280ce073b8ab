// Tests for src/core/api/socket-pool.ts (an ApiClient's kept-alive connections over the control socket, without
// node:http), against a scripted server that answers as a node does or as a broken one would: answers are read whole
// (content-length, chunked) and the connection is reused; one the node closes, or says it will close, or lets idle
// past its keep-alive timeout is not; a GET the node dropped on a reused connection goes again once, a POST does not;
// a malformed or cut-off answer is a MalformedAnswerError; a request waiting its turn can be aborted; and through
// ApiClient against the real ApiServer, an early answer to a body over the limit is read as it is without the pool.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiClient } from '../../src/core/api/client.ts';
import { ApiServer } from '../../src/core/api/server.ts';
import { MalformedAnswerError } from '../../src/core/api/socket-call.ts';
import { SocketPool } from '../../src/core/api/socket-pool.ts';
import { silentLogger } from '../../src/core/log.ts';

/** One request as the scripted server saw it, with the connection it came on (numbered from 1). */
interface Seen {
  connection: number;
  head: string;
  body: string;
}

/** What the server does with a request: write these bytes (and end the connection after them when `end`). */
type Reply = { write?: string; pieces?: number; end?: boolean; destroy?: boolean; hang?: boolean };

const ok = (body: string, extra = ''): string =>
  `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

describe('SocketPool', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-socket-pool-'));
  const sock = join(dir, 'api.sock');
  let server: Server;
  let connections = 0;
  const seen: Seen[] = [];
  /** The reply to the nth request (from 1); by default a JSON answer naming it. */
  let script: (n: number, s: Seen) => Reply = (n) => ({ write: ok(`{"n":${n}}`) });
  const open = new Set<Socket>();

  before(async () => {
    server = createServer((socket) => {
      const connection = ++connections;
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      let buf = '';
      socket.on('data', (chunk) => {
        buf += chunk.toString('latin1');
        for (;;) {
          const blank = buf.indexOf('\r\n\r\n');
          if (blank < 0) return;
          const head = buf.slice(0, blank);
          const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
          if (buf.length < blank + 4 + length) return;
          const s = { connection, head, body: buf.slice(blank + 4, blank + 4 + length) };
          buf = buf.slice(blank + 4 + length);
          if (socket.writableEnded) return; // a request on a connection this side has ended goes unanswered
          seen.push(s);
          const reply = script(seen.length, s);
          if (reply.destroy) return void socket.destroy();
          if (reply.hang) return;
          if (reply.write) {
            const bytes = Buffer.from(reply.write);
            const size = Math.ceil(bytes.length / (reply.pieces ?? 1));
            for (let at = 0; at < bytes.length; at += size) socket.write(bytes.subarray(at, at + size));
          }
          if (reply.end) socket.end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(sock, resolve));
  });
  after(async () => {
    for (const s of open) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const fresh = (): void => {
    seen.length = 0;
    connections = 0;
    script = (n) => ({ write: ok(`{"n":${n}}`) });
  };
  /** Runs `fn` with a pool of `maxSockets` against a fresh script, and closes the pool after it. */
  const withPool = async (maxSockets: number, fn: (pool: SocketPool) => Promise<void>): Promise<void> => {
    fresh();
    const pool = new SocketPool(sock, maxSockets);
    try {
      await fn(pool);
    } finally {
      pool.close();
    }
  };
  const get = (pool: SocketPool, path = '/v1/x') => pool.request('GET', path, undefined, new AbortController().signal);

  test('answers are read whole and one connection carries request after request; a body goes with its length', async () => {
    await withPool(4, async (pool) => {
      script = (n) =>
        n === 2
          ? { write: 'HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n' }
          : { write: ok(`{"n":${n}}`) };
      assert.deepEqual(await get(pool), { status: 200, body: '{"n":1}' });
      assert.deepEqual(await get(pool), { status: 404, body: '{"a":1}' });
      // the answer arrives in pieces, a multi-byte character split between them
      script = () => ({ write: ok('{"s":"€"}') });
      const answered = pool.request('POST', '/v1/y', JSON.stringify({ é: 1 }), new AbortController().signal);
      assert.deepEqual(await answered, { status: 200, body: '{"s":"€"}' });
      assert.equal(connections, 1);
      assert.match(seen[2]!.head, /^POST \/v1\/y HTTP\/1\.1\r\n/);
      assert.match(seen[2]!.head, /content-length: 8/); // bytes, not characters
      assert.equal(Buffer.from(seen[2]!.body, 'latin1').toString('utf8'), '{"é":1}');
    });
  });

  test('a connection the node closes, says it closes, or let idle past its keep-alive timeout is not reused', async () => {
    await withPool(1, async (pool) => {
      script = (n) => (n === 1 ? { write: ok('{}'), end: true } : { write: ok('{}', 'connection: close\r\n') });
      await get(pool);
      await get(pool);
      assert.equal(connections, 2);
      // `keep-alive: timeout=1`: a second less is no idle time at all
      script = () => ({ write: ok('{}', 'keep-alive: timeout=1\r\n') });
      await get(pool);
      await get(pool);
      assert.equal(connections, 4);
      // `keep-alive: timeout=5`, as node:http's server says: kept
      script = () => ({ write: ok('{}', 'keep-alive: timeout=5\r\n') });
      await get(pool);
      await get(pool);
      assert.equal(connections, 5);
    });
  });

  test('a GET the node dropped on a reused connection goes again on a new one; a POST fails and is not sent again', async () => {
    await withPool(1, async (pool) => {
      script = (n) => (n === 2 ? { destroy: true } : { write: ok(`{"n":${n}}`) });
      await get(pool);
      assert.deepEqual(await get(pool), { status: 200, body: '{"n":3}' });
      assert.deepEqual(
        seen.map((s) => s.connection),
        [1, 1, 2],
      );
      script = (n) => (n === 5 ? { destroy: true } : { write: ok(`{"n":${n}}`) });
      await get(pool); // n = 4, on connection 2
      // node:http's "socket hang up": ApiClient tells the caller no node is answering
      await assert.rejects(pool.request('POST', '/v1/y', '{}', new AbortController().signal), { code: 'ECONNRESET' });
      assert.equal(seen.length, 5); // the POST reached the node once
      // a GET on a new connection that ends without an answer is not retried either
      script = () => ({ destroy: true });
      await assert.rejects(get(pool), { code: 'ECONNRESET' });
      assert.equal(seen.length, 6);
    });
  });

  test('a malformed answer, or one cut off by the node, is a MalformedAnswerError and never a partial body', async () => {
    await withPool(1, async (pool) => {
      script = () => ({ write: 'SSH-2.0-OpenSSH\r\n\r\n' });
      await assert.rejects(
        get(pool),
        (err: unknown) => err instanceof MalformedAnswerError && /SSH-2\.0/.test(err.message),
      );
      script = () => ({ write: 'HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort', end: true });
      await assert.rejects(
        get(pool),
        (err: unknown) => err instanceof MalformedAnswerError && /mid-answer/.test(err.message),
      );
      script = () => ({ write: 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n' });
      await assert.rejects(
        get(pool),
        (err: unknown) => err instanceof MalformedAnswerError && /chunk size "zz"/.test(err.message),
      );
      // each broken connection was let go: a good answer comes on a new one
      script = () => ({ write: ok('{}') });
      assert.deepEqual(await get(pool), { status: 200, body: '{}' });
      assert.equal(connections, 4);
    });
  });

  test('an interim 1xx answer is skipped; a 204, and the answer to a HEAD, have no body; a long answer comes whole', async () => {
    await withPool(1, async (pool) => {
      script = (n) =>
        n === 1
          ? { write: `HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n${ok('{"n":1}')}` }
          : n === 2
            ? { write: 'HTTP/1.1 204 No Content\r\nkeep-alive: timeout=5\r\n\r\n' }
            : { write: ok('{"n":3}').replace(/\r\n\r\n.*$/s, '\r\n\r\n') };
      assert.deepEqual(await get(pool), { status: 200, body: '{"n":1}' });
      assert.deepEqual(await get(pool), { status: 204, body: '' });
      assert.deepEqual(await pool.request('HEAD', '/v1/x', undefined, new AbortController().signal), {
        status: 200,
        body: '',
      });
      assert.equal(connections, 1, 'each answer was read whole, and the connection kept');
      // 2 MiB written in 2,048 pieces, with content-length and chunked
      const big = 'z'.repeat(2 * 1024 * 1024);
      const pieces = (text: string): Reply => ({ write: text, pieces: 2048 });
      script = (n) =>
        n === 4
          ? pieces(ok(big))
          : pieces(
              `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${[...Array(64).keys()]
                .map(() => `8000\r\n${'z'.repeat(0x8000)}\r\n`)
                .join('')}0\r\n\r\n`,
            );
      assert.equal((await get(pool)).body, big);
      assert.equal((await get(pool)).body, big);
      assert.equal(connections, 1);
    });
  });

  test('close() ends the running request and fails those waiting; the client takes no call after it', async () => {
    fresh();
    const pool = new SocketPool(sock, 1);
    const arrived = Promise.withResolvers<void>();
    script = () => {
      arrived.resolve();
      return { hang: true };
    };
    const running = get(pool, '/v1/running');
    const waiting = get(pool, '/v1/waiting');
    await arrived.promise;
    const outcomes = [
      assert.rejects(running, { code: 'ECONNRESET' }),
      assert.rejects(waiting, { code: 'ERR_CLIENT_CLOSED' }),
    ];
    pool.close();
    await Promise.all(outcomes);
    await assert.rejects(get(pool), { code: 'ERR_CLIENT_CLOSED' });
    assert.equal(seen.length, 1);
  });

  test('requests beyond maxSockets wait their turn in order, and one aborted while it waits leaves the queue', async () => {
    await withPool(1, async (pool) => {
      const arrived = Promise.withResolvers<void>();
      script = (n, s) => {
        if (s.head.startsWith('GET /v1/held ')) {
          arrived.resolve();
          return { hang: true };
        }
        return { write: ok(`{"n":${n}}`) };
      };
      const first = new AbortController();
      const held = pool.request('GET', '/v1/held', undefined, first.signal);
      const waiting = new AbortController();
      const aborted = pool.request('GET', '/v1/aborted', undefined, waiting.signal);
      const later = get(pool, '/v1/later');
      await arrived.promise; // the node holds the first request; the other two wait their turn
      const reason = new Error('enough');
      waiting.abort(reason);
      await assert.rejects(
        aborted,
        (err: unknown) => (err as Error).name === 'AbortError' && (err as Error).cause === reason,
      );
      first.abort(reason);
      await assert.rejects(held, { name: 'AbortError' });
      assert.deepEqual(await later, { status: 200, body: '{"n":2}' });
      assert.deepEqual(
        seen.map((s) => s.head.split(' ')[1]),
        ['/v1/held', '/v1/later'],
      );
    });
  });
});

describe('ApiClient with keepAlive, against the real ApiServer', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'chorus-socket-pool-api-'));
  const server = new ApiServer({
    dataDir,
    logger: silentLogger,
    routes: { 'POST /v1/echo': async ({ body }) => ({ got: await body() }) },
  });
  before(() => server.start());
  after(() => server.stop());

  test('a body over the limit is answered with the usage error, and the next call still goes through', async () => {
    const client = new ApiClient({ dataDir, keepAlive: { maxSockets: 1 } });
    try {
      await assert.rejects(client.call('POST', '/v1/echo', 'x'.repeat(5 * 1024 * 1024)), (err: unknown) => {
        assert.match(String((err as Error).message), /^the request body is 5242882 bytes \(5\.0 MiB\); the limit is/);
        assert.equal((err as { kind?: string }).kind, 'usage');
        return true;
      });
      assert.deepEqual(await client.call('POST', '/v1/echo', { a: 1 }), { got: { a: 1 } });
    } finally {
      client.close();
    }
  });
});
