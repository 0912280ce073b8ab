// docs/api.md documents the whole control API: every route in the node's route table has a section
// ("### METHOD /path"), every section names a route a running node serves, and the shared parts (auth, the
// error body, streaming, UCXI envelopes, limits) are there. A new route group cannot go undocumented.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { controlRoutes, type NodeQueries, type RouteComponents } from '../../src/core/node/routes.ts';
import { MAX_DECISION_BYTES, MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES } from '../../src/core/limits.ts';
import { startWithConfig, stopAll, testConfig } from '../helpers/cluster.ts';
import { ROOT } from '../helpers/run.ts';

const doc = readFileSync(join(ROOT, 'docs/api.md'), 'utf8');
const documented = [...doc.matchAll(/^### (GET|POST|PUT|DELETE|PATCH) (\/\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
/** The route table, built without a node (routes only touch the node when they are called). */
const served = Object.keys(controlRoutes({} as NodeQueries, {} as RouteComponents));

test('every route of the route table has a section in docs/api.md', () => {
  assert.ok(served.length > 20, `the route table has ${served.length} routes`);
  const missing = served.filter((r) => !documented.includes(r));
  assert.deepEqual(missing, [], `undocumented routes: add a "### <METHOD> <path>" section to docs/api.md`);
});

test('every section of docs/api.md names a served route, once', () => {
  const stale = documented.filter((r) => !served.includes(r));
  assert.deepEqual(stale, [], 'docs/api.md documents routes that do not exist');
  assert.equal(new Set(documented).size, documented.length, 'a route is documented twice');
});

test('the shared parts are documented: auth, errors, streaming, UCXI envelopes, limits', () => {
  for (const needle of [
    'chorus.sock',
    '0600',
    'Authorization: Bearer',
    'api.token',
    'case-insensitive',
    '401',
    '"error": {',
    '"kind": "usage"',
    'application/x-ndjson',
    '"response": {',
    '"code": "UCXL-200-SUCCESS"',
    '"source": "chorus-ucxi"',
    '"request_id"',
    `${MAX_MESSAGE_BYTES} bytes`,
    `${MAX_DECISION_BYTES} bytes`,
    `${MAX_REQUEST_BYTES} bytes`,
  ]) {
    assert.ok(doc.includes(needle), `docs/api.md mentions ${needle}`);
  }
  for (const streaming of ['GET /v1/subscribe', 'GET /v1/election/watch', 'GET /v1/events']) {
    const section = doc.slice(doc.indexOf(`### ${streaming}`)).split('\n### ')[0] ?? '';
    assert.match(section, /\*\*Streaming\*\*/, `${streaming} is marked as streaming`);
  }
});

describe('a running node serves every documented route', () => {
  let node: ChorusNode;
  before(async () => {
    node = await startWithConfig(testConfig(), {}, undefined, { api: true });
  });
  after(() => stopAll([node]));

  /** The status and error code of one request without a body or parameters (bad input is fine here). */
  function probe(method: string, path: string): Promise<{ status: number; code?: string; message?: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        { socketPath: join(node.config.dataDir, 'chorus.sock'), method, path, signal: AbortSignal.timeout(15_000) },
        (res) => {
          const type = res.headers['content-type'] ?? '';
          if (type === 'application/x-ndjson' || type === 'text/event-stream') {
            res.destroy(); // a stream: it is served
            return resolve({ status: res.statusCode ?? 0 });
          }
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => {
            const body = text ? (JSON.parse(text) as { error?: { code: string; message: string } }) : {};
            resolve({ status: res.statusCode ?? 0, code: body.error?.code, message: body.error?.message });
          });
        },
      );
      req.on('error', reject);
      req.end(method === 'GET' || method === 'DELETE' ? undefined : '{}');
    });
  }

  test('no documented route answers "no route"', async () => {
    const readOnly = documented.filter((r) => !/^POST \/v1\/(election|keys)\//.test(r)); // no hand-overs, no key rotation
    for (const route of readOnly) {
      const [method, path] = route.split(' ') as [string, string];
      const r = await probe(method, path.includes('subscribe') ? `${path}?topic=CHORUS/coordination/v1` : path);
      assert.ok(!(r.status === 404 && /^no route /.test(r.message ?? '')), `${route}: ${r.status} ${r.message}`);
    }
    const unknown = await probe('GET', '/v1/no-such-route');
    assert.equal(unknown.status, 404);
    assert.match(unknown.message ?? '', /^no route GET \/v1\/no-such-route$/);
  });
});
