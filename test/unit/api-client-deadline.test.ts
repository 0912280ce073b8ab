// ApiClient's deadline, over each way a call travels (a one-off request over the socket, node:http with a body,
// kept-alive connections): a call that outlives timeoutMs is cancelled, at the client and at the node, and fails
// with a TimeoutError that names the node's socket and the time it had; the caller's abort passes its reason; and
// the deadline's timer is gone once the call has settled (a client making many calls keeps no timer per call).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApiClient, type ApiClientOptions } from '../../src/core/api/client.ts';
import { socketPath } from '../../src/core/api/protocol.ts';
import { ApiServer, type Route } from '../../src/core/api/server.ts';
import { TimeoutError } from '../../src/core/errors.ts';
import { silentLogger } from '../../src/core/log.ts';
import { until } from '../helpers/events.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'chorus-api-deadline-'));
/** The signals of the requests the hanging routes received, in arrival order. */
const held: AbortSignal[] = [];
const waiters: { count: number; resolve: () => void }[] = [];
const hang: Route = async ({ signal }) => {
  held.push(signal);
  for (const w of waiters.filter((w) => held.length >= w.count)) w.resolve();
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  return { answered: 'too late' };
};
const server = new ApiServer({
  dataDir,
  logger: silentLogger,
  routes: {
    'GET /v1/hang': hang,
    'POST /v1/hang': hang,
    'GET /v1/ok': async () => ({ ok: true }),
    'POST /v1/ok': async () => ({ ok: true }),
  },
});
before(() => server.start());
after(() => server.stop());

const transports: { name: string; opts: Partial<ApiClientOptions>; method: 'GET' | 'POST'; body?: unknown }[] = [
  { name: 'a one-off request over the socket', opts: {}, method: 'GET' },
  { name: 'node:http with a body', opts: {}, method: 'POST', body: { x: 1 } },
  { name: 'kept-alive connections', opts: { keepAlive: { maxSockets: 1 } }, method: 'GET' },
];

/** The cause an aborted call rejects with (node:http and socket-call put the signal's reason there). */
function causeOf(err: unknown): unknown {
  return (err as { cause?: unknown }).cause;
}

/** The signal of the `count`th request the node held, once it holds it. */
async function nodeHolds(count: number): Promise<AbortSignal> {
  if (held.length < count) {
    const { promise, resolve } = Promise.withResolvers<void>();
    waiters.push({ count, resolve });
    await promise;
  }
  return held[count - 1]!;
}

/** Resolves once the node's request signal aborted (the node saw its client let go). */
const aborted = (signal: AbortSignal): Promise<void> => until(signal, 'abort', () => signal.aborted);

for (const t of transports) {
  test(`${t.name}: a call past timeoutMs fails with a TimeoutError naming the node, and is let go at the node`, async () => {
    const client = new ApiClient({ dataDir, timeoutMs: 300, ...t.opts });
    try {
      const count = held.length + 1;
      const err = await client.call(t.method, '/v1/hang', t.body).then(
        () => assert.fail('the call should have timed out'),
        (e: unknown) => e,
      );
      // one clear line: which node did not answer, and within how long; the platform's TimeoutError underneath
      assert.ok(err instanceof TimeoutError);
      assert.equal(err.code, 'TIMEOUT');
      assert.equal(err.message, `the chorus node at ${socketPath(dataDir)} did not answer within 0.3 s`);
      assert.equal((causeOf(causeOf(err)) as Error).name, 'TimeoutError');
      // a request that reached the node before the deadline is let go there too (the node sees its client leave);
      // on a slow machine the deadline may pass before it arrives, and then there is nothing held
      if (held.length >= count) await aborted(held[count - 1]!);
    } finally {
      client.close();
    }
  });

  test(`${t.name}: the caller's abort ends the call with its reason`, async () => {
    const client = new ApiClient({ dataDir, timeoutMs: 60_000, ...t.opts });
    try {
      const controller = new AbortController();
      const count = held.length + 1;
      const call = client.call(t.method, '/v1/hang', t.body, controller.signal);
      const atNode = await nodeHolds(count);
      const reason = new Error('the caller stopped');
      controller.abort(reason);
      const err = await call.then(
        () => assert.fail('the call should have been aborted'),
        (e: unknown) => e,
      );
      assert.equal(causeOf(err), reason);
      await aborted(atNode);
    } finally {
      client.close();
    }
  });

  test(`${t.name}: the deadline's timer is cleared once the call has settled`, async (ctx) => {
    const timeoutMs = 12_345; // a delay no other timer here uses
    const armed = new Set<unknown>();
    const cleared = new Set<unknown>();
    const realSetTimeout = globalThis.setTimeout;
    const realClearTimeout = globalThis.clearTimeout;
    ctx.mock.method(globalThis, 'setTimeout', (fn: () => void, ms?: number) => {
      const timer = realSetTimeout(fn, ms);
      if (ms === timeoutMs) armed.add(timer);
      return timer;
    });
    ctx.mock.method(globalThis, 'clearTimeout', (timer?: Parameters<typeof clearTimeout>[0]) => {
      cleared.add(timer);
      realClearTimeout(timer);
    });
    const client = new ApiClient({ dataDir, timeoutMs, ...t.opts });
    try {
      assert.deepEqual(await client.call(t.method, '/v1/ok', t.body), { ok: true });
      await assert.rejects(client.call(t.method, '/v1/nope', t.body), /no route/i);
    } finally {
      client.close();
    }
    assert.equal(armed.size, 2, 'each call armed its deadline');
    for (const timer of armed) assert.ok(cleared.has(timer), 'and cleared it when it settled');
  });
}
