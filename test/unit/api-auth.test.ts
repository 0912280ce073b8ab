// The control API's TCP listener: the bearer token is required, and the auth scheme is case-insensitive.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApiServer } from '../../src/core/api/server.ts';
import { silentLogger } from '../../src/core/log.ts';

/** A loopback port that was free a moment ago (port 0 means "no TCP listener" to the API server). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

const dataDir = mkdtempSync(join(tmpdir(), 'chorus-auth-'));
let server: ApiServer;
let token = '';

before(async () => {
  server = new ApiServer({
    dataDir,
    logger: silentLogger,
    routes: { 'GET /v1/ping': async () => ({ pong: true }) },
    tcp: { host: '127.0.0.1', port: await freePort(), allowRemote: false },
  });
  await server.start();
  token = readFileSync(join(dataDir, 'api.token'), 'utf8').trim();
});
after(() => server.stop());

async function get(authorization?: string): Promise<number> {
  const { host, port } = server.tcpAddress!;
  const res = await fetch(`http://${host}:${port}/v1/ping`, {
    headers: authorization === undefined ? {} : { authorization },
    signal: AbortSignal.timeout(5000),
  });
  await res.arrayBuffer();
  return res.status;
}

test('the bearer scheme is matched case-insensitively (RFC 9110 §11.1)', async () => {
  for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
    assert.equal(await get(`${scheme} ${token}`), 200, scheme);
  }
  assert.equal(await get(`bearer   ${token}  `), 200, 'extra spaces around the token');
});

test('a missing, wrong or non-bearer credential is refused with 401', async () => {
  assert.equal(await get(), 401);
  assert.equal(await get(`Bearer ${token}x`), 401);
  assert.equal(await get(`Basic ${token}`), 401);
  assert.equal(await get(`Bearer`), 401);
  assert.equal(await get(token), 401);
  assert.equal(await get(`Bearer ${token} extra`), 401);
});
