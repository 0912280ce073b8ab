// Bounded streams of the control API: a client that stops reading while 50,000 messages flow is dropped with a
// clear close reason, and the daemon's memory stays bounded; the client prints that reason and fails.
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../src/core/api/client.ts';
import { socketPath } from '../../src/core/api/protocol.ts';
import { ApiServer } from '../../src/core/api/server.ts';
import type { BoundedStream } from '../../src/core/api/stream.ts';
import { StreamClosedError, openStream, parseStreamLine } from '../../src/core/api/stream.ts';
import { silentLogger } from '../../src/core/log.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import type { ReceivedMessage } from '../../src/core/pubsub/pubsub.ts';
import { startWithConfig, testConfig } from '../helpers/cluster.ts';
import { runCli } from '../helpers/run.ts';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TOPIC = 'CHORUS/test/flood/v1';
const MESSAGES = 50_000;

/** A received message of ~2 KiB, like a task update with a long description. */
const MESSAGE: ReceivedMessage = {
  topic: TOPIC,
  from: '12D3KooWGzh2PjyfG8vXSnx2Hq4fDRgVy1fWDvP7Xu5E8u9sB4Tj',
  via: '12D3KooWGzh2PjyfG8vXSnx2Hq4fDRgVy1fWDvP7Xu5E8u9sB4Tj',
  msgId: 'a'.repeat(64),
  gossipId: 'b'.repeat(40),
  raw: true,
  payload: { task: 't-1', note: 'x'.repeat(1800) },
  receivedAt: new Date(0).toISOString(),
} as ReceivedMessage;

/** Pulls the first item of a stream, then stops pulling (the reader stops reading). */
async function stalledReader<T>(it: AsyncGenerator<T>): Promise<T> {
  const first = await it.next();
  assert.equal(first.done, false);
  return first.value as T;
}

/** Reads what is left; returns how many items came and the error that ended it (if any). */
async function drain<T>(it: AsyncGenerator<T>): Promise<{ items: number; error?: unknown }> {
  let items = 0;
  try {
    for (let r = await it.next(); !r.done; r = await it.next()) items += 1;
    return { items };
  } catch (error) {
    return { items, error };
  }
}

describe('a bounded stream (the writer every streaming route uses)', () => {
  it('drops a client that stops reading, with a close frame; the client gets the reason', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'chorus-stream-'));
    let stream!: BoundedStream;
    let sentBeforeDrop = 0;
    const ended = Promise.withResolvers<unknown>();
    const server = new ApiServer({
      dataDir,
      logger: silentLogger,
      routes: {
        'GET /v1/flood': async ({ res, signal }) => {
          stream = openStream(res, { signal, maxBuffered: 256 * 1024, drainTimeoutMs: 60_000 });
          stream.send({ hello: true });
          for (let i = 0; i < MESSAGES && stream.open; i += 1) {
            if (stream.send(MESSAGE)) sentBeforeDrop += 1;
            if (i % 200 === 0) await nextTurn(); // let the socket flush what the client takes
          }
          ended.resolve(await stream.done);
          return undefined;
        },
      },
    });
    await server.start();
    try {
      const messages = new ApiClient({ dataDir }).stream<{ hello?: boolean }>('/v1/flood', AbortSignal.timeout(60_000));
      assert.deepEqual(await stalledReader(messages), { hello: true });
      const reason = (await ended.promise) as { code: string; message: string };
      assert.equal(reason.code, 'SLOW_CLIENT');
      assert.ok(sentBeforeDrop < MESSAGES / 10, `${sentBeforeDrop} messages queued before the drop`);
      assert.ok(stream.maxBufferedSeen <= 256 * 1024, `${stream.maxBufferedSeen} bytes waited`);
      assert.equal(stream.send(MESSAGE), false, 'nothing more is queued');
      // the client reads again: what was buffered, then the reason, as an error
      const rest = await drain(messages);
      assert.ok(rest.items > 0 && rest.items <= sentBeforeDrop, `${rest.items} of ${sentBeforeDrop}`);
      assert.ok(rest.error instanceof StreamClosedError, String(rest.error));
      assert.match(rest.error.message, /^the node closed the stream: the client fell behind: over 262144 bytes/);
      assert.equal(rest.error.code, 'STREAM_CLOSED');
    } finally {
      await server.stop();
    }
  });

  it('a line with a close frame is an error, others are values; SSE gets an `event: close` frame', async () => {
    assert.deepEqual(parseStreamLine('{"topic":"t","closed":false}'), { topic: 't', closed: false });
    assert.throws(() => parseStreamLine('{"closed":{"code":"NODE_STOPPING","message":"bye"}}'), /stream: bye$/);
    const dataDir = mkdtempSync(join(tmpdir(), 'chorus-sse-'));
    const server = new ApiServer({
      dataDir,
      logger: silentLogger,
      routes: {
        'GET /v1/events': async ({ res, signal }) => {
          const stream = openStream(res, { signal, format: 'sse', maxBuffered: 64 });
          stream.send({ n: 1 }, 'tick');
          stream.send({ n: 2, pad: 'x'.repeat(100) }); // over 64 bytes behind: dropped
          await stream.done;
          return undefined;
        },
      },
    });
    await server.start();
    try {
      const body = await new Promise<{ type: string; text: string }>((resolve, reject) => {
        const req = request({ socketPath: socketPath(dataDir), path: '/v1/events' }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ type: String(res.headers['content-type']), text }));
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(body.type, 'text/event-stream');
      assert.match(
        body.text,
        /^event: tick\ndata: \{"n":1\}\n\nevent: close\ndata: \{"closed":\{"code":"SLOW_CLIENT",/,
      );
    } finally {
      await server.stop();
    }
  });

  it('`chorus subscribe` prints the close reason as one line and exits 1', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'chorus-closed-'));
    const server = new ApiServer({
      dataDir,
      logger: silentLogger,
      routes: {
        'GET /v1/subscribe': async ({ res, signal }) => {
          const stream = openStream(res, { signal });
          stream.send({ subscribed: [TOPIC] });
          stream.send(MESSAGE);
          stream.close({ code: 'SLOW_CLIENT', message: 'the client fell behind (test)' });
          return undefined;
        },
      },
    });
    await server.start();
    try {
      const r = await runCli(['--data-dir', dataDir, 'subscribe', TOPIC]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout.trim().split('\n').length, 1, `the message before the close was printed: ${r.stdout}`);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('chorus: '));
      assert.deepEqual(errors, ['chorus: the node closed the stream: the client fell behind (test)']);
    } finally {
      await server.stop();
    }
  });
});

describe('GET /v1/subscribe with a client that stops reading while 50,000 messages flow', () => {
  let node: ChorusNode;
  before(async () => {
    node = await startWithConfig(testConfig(), {}, undefined, { api: true });
  });
  after(() => node.stop());

  it('keeps the daemon bounded, drops the client with SLOW_CLIENT, and leaves no listener behind', async () => {
    const listeners = node.pubsub.listenerCount('message');
    const client = new ApiClient({ dataDir: node.config.dataDir });
    const messages = client.stream<ReceivedMessage | { subscribed: string[] }>(
      `/v1/subscribe?topic=${encodeURIComponent(TOPIC)}&raw=true`,
      AbortSignal.timeout(120_000),
    );
    assert.deepEqual(await stalledReader(messages), { subscribed: [TOPIC] });
    assert.equal(node.pubsub.listenerCount('message'), listeners + 1);
    global.gc?.();
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    for (let i = 0; i < MESSAGES; i += 1) {
      node.pubsub.emit('message', MESSAGE); // what the node's pubsub emits for every received message
      if (i % 500 === 0) {
        peak = Math.max(peak, process.memoryUsage.rss());
        await nextTurn();
      }
    }
    peak = Math.max(peak, process.memoryUsage.rss());
    const grewMb = (peak - baseline) / 2 ** 20;
    console.log(
      `daemon RSS while 50,000 messages (~${((MESSAGES * 2) / 1024) | 0} MB) flowed to a stalled client: +${grewMb.toFixed(1)} MB (peak ${(peak / 2 ** 20).toFixed(0)} MB)`,
    );
    assert.ok(grewMb < 48, `RSS grew ${grewMb.toFixed(1)} MB for a client that reads nothing`);
    const rest = await drain(messages);
    assert.ok(rest.error instanceof StreamClosedError, String(rest.error));
    assert.equal(rest.error.reason.code, 'SLOW_CLIENT');
    // the route has let go of the topic and the listener
    await nextTurn();
    assert.equal(node.pubsub.listenerCount('message'), listeners);
  });
});
