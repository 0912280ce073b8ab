// The control API's plumbing on its own (no node): routes over the Unix socket, the shared HTTP kit's
// body limit and JSON errors, and ApiClient's keep-alive option (a bounded set of reused connections).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApiClient } from '../../src/core/api/client.ts';
import { ApiServer } from '../../src/core/api/server.ts';
import { silentLogger } from '../../src/core/log.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'chorus-api-'));
const sockets = new Set<unknown>();
const server = new ApiServer({
  dataDir,
  logger: silentLogger,
  routes: {
    'POST /v1/echo': async ({ body, req }) => {
      sockets.add(req.socket);
      return { got: await body() };
    },
  },
});
before(() => server.start());
after(() => server.stop());

test('keepAlive bounds the connections of many concurrent requests and reuses them; close() ends them', async () => {
  const kept = new ApiClient({ dataDir, keepAlive: { maxSockets: 2 } });
  try {
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => kept.call('POST', '/v1/echo', { i })));
    assert.deepEqual(answers[7], { got: { i: 7 } });
  } finally {
    kept.close();
  }
  assert.equal(sockets.size, 2);
  sockets.clear();
  // without it, concurrent requests open a connection each (Node's global agent has no bound)
  const plain = new ApiClient({ dataDir });
  await Promise.all(Array.from({ length: 10 }, (_, i) => plain.call('POST', '/v1/echo', { i })));
  assert.equal(sockets.size, 10);
});

test('a body over the limit is a usage error with one clear line; an unknown route is refused by name', async () => {
  const client = new ApiClient({ dataDir });
  await assert.rejects(client.call('POST', '/v1/echo', 'x'.repeat(5 * 1024 * 1024)), (err: unknown) => {
    assert.match(
      String((err as Error).message),
      /^the request body is 5242882 bytes \(5\.0 MiB\); the limit is 4194304 bytes \(4 MiB\) per request/,
    );
    assert.equal((err as { kind?: string }).kind, 'usage');
    return true;
  });
  await assert.rejects(client.call('POST', '/v1/nowhere'), /no route POST \/v1\/nowhere/);
});
