// The portal's session logic on its own (src/core/hap/sessions.ts, gate.ts): a login secret opens one session
// and only once, expires, and is bounded in number; sessions expire; the CSRF token is the session's own; the
// cookie parser and the cross-site check.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cookieName, crossSiteReason, readCookie } from '../../src/core/hap/gate.ts';
import { urlHost } from '../../src/core/hap/portal.ts';
import {
  HapSessions,
  LOGIN_TTL_MS,
  MAX_PENDING_LOGINS,
  sameSecret,
  SESSION_TTL_MS,
} from '../../src/core/hap/sessions.ts';

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

test('a login secret opens exactly one session; its second use fails', () => {
  const sessions = new HapSessions();
  const { secret } = sessions.issueLogin();
  const session = sessions.redeem(secret);
  assert.ok(session, 'the first use opens a session');
  assert.equal(sessions.get(session.id), session);
  assert.equal(sessions.redeem(secret), undefined, 'the second use fails');
  assert.equal(sessions.redeem('made-up'), undefined);
  assert.equal(sessions.redeem(''), undefined);
  assert.equal(sessions.redeem(null), undefined);
  assert.deepEqual(sessions.size, { sessions: 1, logins: 0 });
});

test('a login secret expires after LOGIN_TTL_MS, and is spent even when used too late', () => {
  const c = clock();
  const sessions = new HapSessions({ now: c.now });
  const early = sessions.issueLogin();
  const late = sessions.issueLogin();
  assert.equal(late.expiresAt, c.now() + LOGIN_TTL_MS);
  c.advance(LOGIN_TTL_MS - 1);
  assert.ok(sessions.redeem(early.secret), 'usable until it expires');
  c.advance(1);
  assert.equal(sessions.redeem(late.secret), undefined, 'expired');
  assert.equal(sessions.size.logins, 0, 'an expired secret is forgotten once tried');
});

test('a session ends at SESSION_TTL_MS, or when ended', () => {
  const c = clock();
  const sessions = new HapSessions({ now: c.now });
  const a = sessions.redeem(sessions.issueLogin().secret);
  const b = sessions.redeem(sessions.issueLogin().secret);
  assert.ok(a && b);
  assert.notEqual(a.id, b.id);
  assert.notEqual(a.csrf, b.csrf);
  sessions.end(b.id);
  assert.equal(sessions.get(b.id), undefined, 'logged out');
  c.advance(SESSION_TTL_MS - 1);
  assert.ok(sessions.get(a.id));
  c.advance(1);
  assert.equal(sessions.get(a.id), undefined, 'expired');
  assert.equal(sessions.get(undefined), undefined);
});

test("the CSRF check takes the session's own token only", () => {
  const sessions = new HapSessions();
  const a = sessions.redeem(sessions.issueLogin().secret);
  const b = sessions.redeem(sessions.issueLogin().secret);
  assert.ok(a && b);
  assert.equal(sessions.checkCsrf(a, a.csrf), true);
  assert.equal(sessions.checkCsrf(a, b.csrf), false, "another session's token");
  assert.equal(sessions.checkCsrf(a, undefined), false, 'no token');
  assert.equal(sessions.checkCsrf(a, ''), false);
  assert.equal(sessions.checkCsrf(a, `${a.csrf}x`), false);
  assert.equal(sessions.checkCsrf(a, a.id), false, 'the session id is not the token');
  assert.ok(a.csrf.length >= 43 && a.id.length >= 43, '256-bit random values');
  assert.equal(sameSecret('abc', 'abc'), true);
  assert.equal(sameSecret('abd', 'abc'), false);
  assert.equal(sameSecret('ab', 'abc'), false);
});

test('unused login links are bounded: the oldest is dropped', () => {
  const sessions = new HapSessions();
  const first = sessions.issueLogin();
  for (let i = 0; i < MAX_PENDING_LOGINS; i++) sessions.issueLogin();
  assert.equal(sessions.size.logins, MAX_PENDING_LOGINS);
  assert.equal(sessions.redeem(first.secret), undefined, 'the oldest link was dropped');
});

test('cookies, the cross-site check and link hosts', () => {
  assert.equal(cookieName(7070), 'chorus_hap_7070');
  assert.equal(readCookie('a=1; chorus_hap_7070=s3cret; b=2', 'chorus_hap_7070'), 's3cret');
  assert.equal(readCookie('chorus_hap_7071=other', 'chorus_hap_7070'), undefined, 'another node on this host');
  assert.equal(readCookie(undefined, 'x'), undefined);
  const req = (headers: Record<string, string>) => ({ headers: { host: '127.0.0.1:7070', ...headers } });
  assert.equal(crossSiteReason(req({})), undefined, 'no Origin (same-origin GET-style clients)');
  assert.equal(crossSiteReason(req({ origin: 'http://127.0.0.1:7070', 'sec-fetch-site': 'same-origin' })), undefined);
  assert.match(crossSiteReason(req({ origin: 'http://127.0.0.1:9999' })) ?? '', /from http:\/\/127\.0\.0\.1:9999/);
  assert.match(crossSiteReason(req({ 'sec-fetch-site': 'same-site' })) ?? '', /same-site request/);
  assert.match(crossSiteReason(req({ 'sec-fetch-site': 'cross-site' })) ?? '', /cross-site/);
  assert.match(crossSiteReason(req({ origin: 'null' })) ?? '', /from null/);
  assert.equal(urlHost('0.0.0.0'), '127.0.0.1');
  assert.equal(urlHost('::'), '[::1]');
  assert.equal(urlHost('::1'), '[::1]');
  assert.equal(urlHost('127.0.0.1'), '127.0.0.1');
});
