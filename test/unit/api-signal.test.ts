// The control API's per-request signal: aborted when the client goes away before its answer was written,
// never when the request is answered normally (nothing hooked to it may run after a normal answer).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApiClient } from '../../src/core/api/client.ts';
import { socketPath } from '../../src/core/api/protocol.ts';
import { ApiServer } from '../../src/core/api/server.ts';
import { silentLogger } from '../../src/core/log.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'chorus-api-signal-'));
let answered: { signal: AbortSignal; closed: Promise<void> } | undefined;
const started = Promise.withResolvers<AbortSignal>();
const server = new ApiServer({
  dataDir,
  logger: silentLogger,
  routes: {
    'GET /v1/quick': async ({ signal, res }) => {
      const closed = new Promise<void>((resolve) => res.once('close', () => resolve()));
      answered = { signal, closed };
      return { ok: true };
    },
    'GET /v1/slow': async ({ signal }) => {
      started.resolve(signal);
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      return { ok: false };
    },
  },
});
before(() => server.start());
after(() => server.stop());

test('a request answered normally never aborts its signal, even once its connection closed', async () => {
  const client = new ApiClient({ dataDir });
  assert.deepEqual(await client.call('GET', '/v1/quick'), { ok: true });
  assert.ok(answered);
  await answered.closed; // the response's 'close' (where the old signal aborted) has fired
  assert.equal(answered.signal.aborted, false);
});

test('a client that disconnects mid-request aborts the work it started', async () => {
  const req = request({ socketPath: socketPath(dataDir), path: '/v1/slow', method: 'GET' });
  req.on('error', () => {}); // the hang-up below
  req.end();
  const signal = await started.promise;
  assert.equal(signal.aborted, false);
  const aborted = new Promise<unknown>((resolve) =>
    signal.addEventListener('abort', () => resolve(signal.reason), { once: true }),
  );
  req.destroy();
  const reason = await aborted;
  assert.equal((reason as Error).name, 'AbortError');
});
