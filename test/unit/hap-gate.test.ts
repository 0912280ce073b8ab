// The portal's gate on a real API server (TCP listener and Unix socket): the one-time login link sets an
// HttpOnly, SameSite=Strict, Path=/ cookie once; the cookie authenticates reads; a change needs the session's
// CSRF token and a same-origin request (403 otherwise), while the bearer token needs neither; no credential is
// 401; every TCP response carries the CSP; pages are served on TCP only; login links come from the socket only.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApiServer, type Route } from '../../src/core/api/server.ts';
import type { AssetFiles } from '../../src/core/hap/assets.ts';
import { CSP } from '../../src/core/hap/gate.ts';
import { HapPortal } from '../../src/core/hap/portal.ts';
import { hapRoutes, type HapRouteComponents, type HapRouteDeps } from '../../src/core/hap/routes.ts';
import { silentLogger } from '../../src/core/log.ts';
import { freePort } from '../helpers/daemon.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'chorus-hap-gate-'));
const assets: AssetFiles = new Map([
  ['index.html', { type: 'text/html; charset=utf-8', body: Buffer.from('<!doctype html><p>portal</p>'), etag: '"i"' }],
  ['app.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from('void 0'), etag: '"j"' }],
]);
let server: ApiServer;
let portal: HapPortal;
let base = '';
let token = '';
const poked: string[] = [];

before(async () => {
  portal = new HapPortal({ tcp: () => server.tcpAddress, assets: async () => assets });
  const routes: Record<string, Route> = {
    'GET /v1/ping': async ({ caller }) => ({ pong: true, via: caller.via }),
    'POST /v1/poke': async ({ caller }) => {
      poked.push(caller.via);
      return { poked: true };
    },
    // only the portal's own parts are used by these routes
    ...hapRoutes({ hap: portal, pubsub: { selfId: 'self' } } as unknown as HapRouteComponents, {} as HapRouteDeps),
  };
  server = new ApiServer({
    dataDir,
    logger: silentLogger,
    routes,
    tcp: { host: '127.0.0.1', port: await freePort(), allowRemote: false },
    gate: portal.gate,
  });
  await server.start();
  base = `http://127.0.0.1:${server.tcpAddress?.port}`;
  const { ensureToken } = await import('../../src/core/api/server.ts');
  token = await ensureToken(dataDir);
});
after(() => server.stop());

interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

async function http(path: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(`${base}${path}`, { redirect: 'manual', signal: AbortSignal.timeout(5000), ...init });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** A request over the Unix socket (the client verbs' transport). */
function overSocket(method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: join(dataDir, 'chorus.sock'), method, path }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? '{}' : undefined);
  });
}

/** Logs in through a fresh one-time link; the cookie header and the session's CSRF token. */
async function login(): Promise<{ cookie: string; csrf: string }> {
  const link = JSON.parse((await overSocket('POST', '/v1/hap/login-link')).body) as { url: string };
  const r = await http(new URL(link.url).pathname + new URL(link.url).search);
  assert.equal(r.status, 303);
  const cookie = (r.headers.get('set-cookie') ?? '').split(';')[0] as string;
  const session = JSON.parse((await http('/v1/hap/session', { headers: { cookie } })).text) as { csrf: string };
  return { cookie, csrf: session.csrf };
}

test('no token and no cookie: 401 for the API, with the CSP on the refusal', async () => {
  const r = await http('/v1/ping');
  assert.equal(r.status, 401);
  assert.equal(r.headers.get('www-authenticate'), 'Bearer');
  assert.equal(r.headers.get('content-security-policy'), CSP);
  assert.match(JSON.parse(r.text).error.message, /bearer token or portal session/);
  assert.equal(
    (await http('/v1/ping', { headers: { cookie: `chorus_hap_${server.tcpAddress?.port}=forged` } })).status,
    401,
  );
});

test('the login link sets an HttpOnly, SameSite=Strict, Path=/ cookie once, then redirects to the portal', async () => {
  const link = JSON.parse((await overSocket('POST', '/v1/hap/login-link')).body) as { url: string; expiresAt: string };
  const url = new URL(link.url);
  assert.equal(url.origin, base);
  assert.equal(url.pathname, '/hap/login');
  assert.ok(Date.parse(link.expiresAt) > Date.now());
  const first = await http(url.pathname + url.search);
  assert.equal(first.status, 303);
  assert.equal(first.headers.get('location'), '/');
  const cookie = first.headers.get('set-cookie') ?? '';
  assert.match(cookie, new RegExp(`^chorus_hap_${url.port}=[A-Za-z0-9_-]{43};`));
  for (const attr of ['HttpOnly', 'SameSite=Strict', 'Path=/']) assert.ok(cookie.includes(`; ${attr}`), attr);
  const second = await http(url.pathname + url.search);
  assert.equal(second.status, 401, 'a second use fails');
  assert.equal(second.headers.get('set-cookie'), null);
  assert.match(second.text, /used already, or it expired/);
  assert.equal(second.headers.get('content-security-policy'), CSP);
});

test('a session cookie reads; a change needs the CSRF token and the same origin; the bearer token needs neither', async () => {
  const { cookie, csrf } = await login();
  const read = await http('/v1/ping', { headers: { cookie } });
  assert.equal(read.status, 200);
  assert.equal(JSON.parse(read.text).via, 'session');
  poked.length = 0;
  const noToken = await http('/v1/poke', { method: 'POST', headers: { cookie }, body: '{}' });
  assert.equal(noToken.status, 403);
  assert.equal(JSON.parse(noToken.text).error.code, 'CSRF_REJECTED');
  const wrong = await http('/v1/poke', { method: 'POST', headers: { cookie, 'x-csrf-token': `${csrf}x` }, body: '{}' });
  assert.equal(wrong.status, 403);
  const crossSite = await http('/v1/poke', {
    method: 'POST',
    headers: { cookie, 'x-csrf-token': csrf, origin: 'http://127.0.0.1:1', 'sec-fetch-site': 'same-site' },
    body: '{}',
  });
  assert.equal(crossSite.status, 403);
  assert.match(JSON.parse(crossSite.text).error.message, /same-site request/);
  assert.deepEqual(poked, [], 'no refused request reached its route');
  const ok = await http('/v1/poke', {
    method: 'POST',
    headers: { cookie, 'x-csrf-token': csrf, origin: base, 'sec-fetch-site': 'same-origin' },
    body: '{}',
  });
  assert.equal(ok.status, 200);
  const bearer = await http('/v1/poke', { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{}' });
  assert.equal(bearer.status, 200);
  assert.deepEqual(poked, ['session', 'bearer']);
});

test('logout ends the session and clears the cookie', async () => {
  const { cookie, csrf } = await login();
  const out = await http('/v1/hap/logout', { method: 'POST', headers: { cookie, 'x-csrf-token': csrf }, body: '{}' });
  assert.equal(out.status, 200);
  assert.match(out.headers.get('set-cookie') ?? '', /=; HttpOnly; SameSite=Strict; Path=\/; Max-Age=0/);
  assert.equal((await http('/v1/ping', { headers: { cookie } })).status, 401);
});

test('pages and assets on TCP (with the CSP and an ETag), never on the Unix socket', async () => {
  const page = await http('/');
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(page.headers.get('content-security-policy'), CSP);
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(page.text, '<!doctype html><p>portal</p>');
  const js = await http('/assets/app.js');
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal((await http('/assets/app.js', { headers: { 'if-none-match': '"j"' } })).status, 304);
  assert.equal((await http('/assets/nope.js')).status, 401, 'anything else is the API: authenticated');
  const socket = await overSocket('GET', '/');
  assert.equal(socket.status, 404);
  assert.match(socket.body, /no route GET \//);
});

test('login links come from the Unix socket only', async () => {
  const { cookie, csrf } = await login();
  const viaSession = await http('/v1/hap/login-link', { method: 'POST', headers: { cookie, 'x-csrf-token': csrf } });
  assert.equal(viaSession.status, 403);
  assert.equal(JSON.parse(viaSession.text).error.code, 'SOCKET_ONLY');
  const viaBearer = await http('/v1/hap/login-link', { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  assert.equal(viaBearer.status, 403);
});

test('without a TCP listener, a login link is a usage error naming the fix', () => {
  const off = new HapPortal({ tcp: () => undefined, assets: async () => assets });
  assert.throws(
    () => off.loginLink(),
    (err: Error & { code?: string; kind?: string }) => {
      assert.equal(err.code, 'HAP_NO_LISTENER');
      assert.equal(err.kind, 'usage');
      assert.match(err.message, /--api-port 7070/);
      return true;
    },
  );
});
