// The portal's gate on the control API's TCP listener: serves its pages and assets (with a strict
// Content-Security-Policy on every response), turns a one-time login link into a session cookie
// (HttpOnly, SameSite=Strict, Path=/), and authenticates API requests that carry that cookie instead of the
// bearer token — a state-changing one only with the session's CSRF token and from the portal's own origin.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Caller, GateRefusal, TcpGate } from '../api/server.ts';
import { ChorusError } from '../errors.ts';
import { send } from '../http.ts';
import type { AssetFiles } from './assets.ts';
import type { HapSessions } from './sessions.ts';

/** The portal's Content-Security-Policy: nothing inline, nothing from elsewhere, never framed. */
export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** Headers on every response of the TCP listener. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** Methods that change nothing (no CSRF token needed). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** URL path → asset file. */
const PAGES: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/assets/app.js': 'app.js',
  '/assets/app.css': 'app.css',
};

export const LOGIN_PATH = '/hap/login';

export interface HapGateOptions {
  sessions: HapSessions;
  assets: () => Promise<AssetFiles>;
  /** The TCP listener's port: it names the cookie, so several nodes on one host keep their sessions apart. */
  port: () => number | undefined;
}

/** The session cookie's name on a listener port. */
export function cookieName(port: number | undefined): string {
  return `chorus_hap_${port ?? 0}`;
}

/** One cookie's value from a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Why a state-changing request does not come from the portal's own page, if it does not. */
export function crossSiteReason(req: Pick<IncomingMessage, 'headers'>): string | undefined {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return `a ${site} request`;
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`) return `a request from ${origin}`;
  return undefined;
}

function page(title: string, text: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/app.css"></head><body><main class="notice"><h1>${title}</h1><p>${text}</p></main></body></html>`;
}

export class HapGate implements TcpGate {
  readonly headers = SECURITY_HEADERS;
  readonly #opts: HapGateOptions;

  constructor(opts: HapGateOptions) {
    this.#opts = opts;
  }

  get cookie(): string {
    return cookieName(this.#opts.port());
  }

  async serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (req.method !== 'GET') return false;
    if (url.pathname === LOGIN_PATH) {
      this.#login(res, url);
      return true;
    }
    const name = PAGES[url.pathname];
    if (!name) return false;
    const asset = (await this.#opts.assets()).get(name);
    if (!asset) return false;
    const headers = { etag: asset.etag, 'cache-control': 'no-cache' };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
    } else {
      res.writeHead(200, { ...headers, 'content-type': asset.type, 'content-length': asset.body.length });
      res.end(asset.body);
    }
    return true;
  }

  authenticate(req: IncomingMessage): Caller | GateRefusal {
    const session = this.#opts.sessions.get(readCookie(req.headers.cookie, this.cookie));
    if (!session) {
      return {
        status: 401,
        error: new ChorusError(
          'UNAUTHORIZED',
          'a valid bearer token or portal session is required (`chorus hap` prints a login link)',
        ),
      };
    }
    if (SAFE_METHODS.has(req.method ?? 'GET')) return { via: 'session', session: session.id };
    const crossSite = crossSiteReason(req);
    if (crossSite) {
      return {
        status: 403,
        error: new ChorusError('CSRF_REJECTED', `refused: ${crossSite} may not change anything in a portal session`),
      };
    }
    const token = req.headers['x-csrf-token'];
    if (!this.#opts.sessions.checkCsrf(session, typeof token === 'string' ? token : undefined)) {
      return {
        status: 403,
        error: new ChorusError(
          'CSRF_REJECTED',
          'refused: a change made in a portal session needs its X-CSRF-Token header (GET /v1/hap/session)',
        ),
      };
    }
    return { via: 'session', session: session.id };
  }

  /** GET /hap/login?once=<secret>: a session cookie and a redirect to the portal, or a page saying why not. */
  #login(res: ServerResponse, url: URL): void {
    const session = this.#opts.sessions.redeem(url.searchParams.get('once'));
    if (!session) {
      send(
        res,
        401,
        'text/html; charset=utf-8',
        page(
          'This login link cannot be used',
          'It was used already, or it expired (a link lasts 2 minutes and opens one session). Run <code>chorus hap</code> on the node’s host for a new one.',
        ),
        { 'cache-control': 'no-store' },
      );
      return;
    }
    const maxAge = Math.max(0, Math.floor((session.expiresAt - session.createdAt) / 1000));
    res.writeHead(303, {
      location: '/',
      'set-cookie': `${this.cookie}=${session.id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}`,
      'cache-control': 'no-store',
      'content-length': 0,
    });
    res.end();
  }

  /** The header that ends the session cookie in the browser (logout). */
  clearCookie(): string {
    return `${this.cookie}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
  }
}
