// Tests for src/core/api/socket-call.ts (a client verb's one request over the control socket without node:http):
// answers as a node writes them (content-length, chunked, until the end, split into tiny pieces) are read whole;
// anything else is a MalformedAnswerError, never a partial body; an aborted call rejects as node:http does and
// closes its connection; a missing socket is the connection's own error; a path node:http would refuse is refused.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MalformedAnswerError, parseAnswer, socketCall } from '../../src/core/api/socket-call.ts';

const answer = (text: string) => parseAnswer(Buffer.from(text, 'latin1'));

describe('parseAnswer', () => {
  test('a body of content-length bytes, a chunked body, a body up to the end', () => {
    assert.deepEqual(answer('HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n{"a":1}'), { status: 200, body: '{"a":1}' });
    assert.deepEqual(
      answer('HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n'),
      { status: 404, body: '{"a":1}' },
    );
    assert.deepEqual(answer('HTTP/1.0 500\r\nx: y\r\n\r\nall of it'), { status: 500, body: 'all of it' });
    // content-length counts bytes, not characters ('€' is 3 bytes, 'é' 2)
    const utf8 = (length: number) =>
      parseAnswer(
        Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${length}\r\n\r\n`), Buffer.from('€é')]),
      );
    assert.equal(utf8(5).body, '€é');
    assert.equal(utf8(3).body, '€');
  });

  test('anything else is a MalformedAnswerError naming what is wrong', () => {
    const cases: [string, RegExp][] = [
      ['', /no answer/],
      ['HTTP/1.1 200 OK\r\ncontent-length: 2\r\n', /no end of headers/],
      ['SSH-2.0-OpenSSH\r\n\r\n', /status line "SSH-2\.0-OpenSSH"/],
      ['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', /header line "no colon here"/],
      ['HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n', /content-length/],
      ['HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort', /body of 5 of 10 bytes/],
      ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n', /chunk size "zz"/],
      ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n9\r\nab\r\n', /truncated chunk/],
      ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n', /chunk size line/],
    ];
    for (const [text, why] of cases) {
      assert.throws(
        () => answer(text),
        (err: unknown) => err instanceof MalformedAnswerError && why.test(err.message),
        JSON.stringify(text),
      );
    }
  });
});

describe('socketCall', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-socket-call-'));
  const sock = join(dir, 'api.sock');
  let server: Server;
  /** What the server does with each connection (set per test). */
  let onConnection: (socket: Socket, request: Promise<string>) => void = () => {};
  const closed: Promise<void>[] = [];

  before(async () => {
    server = createServer((socket) => {
      closed.push(new Promise((r) => socket.once('close', () => r())));
      const request = new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString('latin1');
          if (text.includes('\r\n\r\n')) resolve(text);
        });
      });
      onConnection(socket, request);
    });
    await new Promise<void>((r) => server.listen(sock, r));
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('sends one bodiless request and reads an answer written a few bytes at a time', async () => {
    const body = JSON.stringify({ peers: 3, text: 'x'.repeat(70_000) });
    let seen = '';
    onConnection = (socket, request) =>
      void request.then(async (text) => {
        seen = text;
        const whole = Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        const cut = 200; // the status line, the headers and the body's start, 7 bytes at a time; then the rest
        for (let at = 0; at < cut; at += 7) {
          socket.write(whole.subarray(at, Math.min(at + 7, cut)));
          await new Promise((r) => setImmediate(r));
        }
        socket.end(whole.subarray(cut));
      });
    const got = await socketCall(sock, 'GET', '/v1/status?x=%20y', AbortSignal.timeout(5_000));
    assert.equal(got.status, 200);
    assert.ok(got.body === body, `the whole body (${got.body.length} of ${body.length} characters)`);
    assert.equal(seen, 'GET /v1/status?x=%20y HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n');
  });

  test('an answer cut off before its end is an error, not a partial body', async () => {
    onConnection = (socket, request) =>
      void request.then(() => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"partial":'));
    await assert.rejects(socketCall(sock, 'GET', '/v1/status', AbortSignal.timeout(5_000)), /body of 11 of 100 bytes/);
  });

  test('an aborted call rejects as node:http does and closes its connection', async () => {
    let connected!: () => void;
    const accepted = new Promise<void>((r) => (connected = r));
    onConnection = () => connected(); // and never answers
    const controller = new AbortController();
    const call = socketCall(sock, 'GET', '/v1/status', controller.signal);
    await accepted;
    controller.abort(new Error('enough'));
    await assert.rejects(call, (err: Error & { code?: string }) => {
      assert.equal(err.name, 'AbortError');
      assert.equal(err.code, 'ABORT_ERR');
      assert.equal((err.cause as Error).message, 'enough');
      return true;
    });
    await closed.at(-1);
    await assert.rejects(socketCall(sock, 'GET', '/v1/status', controller.signal), { name: 'AbortError' });
  });

  test("a missing socket is the connection's own error; a path node:http refuses is refused", async () => {
    await assert.rejects(socketCall(join(dir, 'none.sock'), 'GET', '/v1/status', AbortSignal.timeout(5_000)), {
      code: 'ENOENT',
    });
    for (const path of ['/v1/status x', '/v1/\r\nx: y', '/v1/é', 'v1/status'])
      await assert.rejects(socketCall(sock, 'GET', path, AbortSignal.timeout(5_000)), TypeError, JSON.stringify(path));
  });
});
