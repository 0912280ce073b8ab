// The portal's logins and sessions, kept in memory only (a restart logs everyone out): one-time login
// secrets (`chorus hap` asks for one; single use, short-lived) and the sessions they open, each with the
// CSRF token its page must send with every state-changing request. Pure logic over an injectable clock.
import { randomBytes, timingSafeEqual } from 'node:crypto';

/** How long a login link stays usable. */
export const LOGIN_TTL_MS = 2 * 60_000;
/** How long a session lasts from its login. */
export const SESSION_TTL_MS = 12 * 60 * 60_000;
/** Unused login links kept at once (the oldest is dropped beyond it). */
export const MAX_PENDING_LOGINS = 64;
/** Sessions kept at once (the oldest is ended beyond it). */
export const MAX_SESSIONS = 256;

export interface HapSession {
  /** The cookie's value: random, known only to this node and the browser holding it. */
  id: string;
  /** The CSRF token the page sends as X-CSRF-Token (GET /v1/hap/session hands it out). */
  csrf: string;
  createdAt: number;
  expiresAt: number;
}

export interface HapSessionsOptions {
  /** Milliseconds since the epoch (tests move it). */
  now?: () => number;
  loginTtlMs?: number;
  sessionTtlMs?: number;
}

const secret = (): string => randomBytes(32).toString('base64url');

/** Compares two strings in time that does not depend on where they differ. */
export function sameSecret(given: string | undefined, want: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Drops the oldest entries of a map (insertion order) until it holds at most `max`. */
function bound<K, V>(map: Map<K, V>, max: number): void {
  for (const key of map.keys()) {
    if (map.size <= max) return;
    map.delete(key);
  }
}

export class HapSessions {
  readonly #now: () => number;
  readonly #loginTtlMs: number;
  readonly #sessionTtlMs: number;
  /** Login secret → when it expires. */
  readonly #logins = new Map<string, number>();
  readonly #sessions = new Map<string, HapSession>();

  constructor(opts: HapSessionsOptions = {}) {
    this.#now = opts.now ?? Date.now;
    this.#loginTtlMs = opts.loginTtlMs ?? LOGIN_TTL_MS;
    this.#sessionTtlMs = opts.sessionTtlMs ?? SESSION_TTL_MS;
  }

  /** A new one-time login secret. */
  issueLogin(): { secret: string; expiresAt: number } {
    const value = secret();
    const expiresAt = this.#now() + this.#loginTtlMs;
    this.#logins.set(value, expiresAt);
    bound(this.#logins, MAX_PENDING_LOGINS);
    return { secret: value, expiresAt };
  }

  /** Uses a login secret (once: a second use fails, as does an expired one) and opens a session. */
  redeem(value: string | null | undefined): HapSession | undefined {
    if (!value) return undefined;
    const expiresAt = this.#logins.get(value);
    this.#logins.delete(value);
    if (expiresAt === undefined || this.#now() >= expiresAt) return undefined;
    const now = this.#now();
    const session: HapSession = { id: secret(), csrf: secret(), createdAt: now, expiresAt: now + this.#sessionTtlMs };
    this.#sessions.set(session.id, session);
    bound(this.#sessions, MAX_SESSIONS);
    return session;
  }

  /** The live session with this id (an expired one is forgotten). */
  get(id: string | undefined): HapSession | undefined {
    if (!id) return undefined;
    const session = this.#sessions.get(id);
    if (!session) return undefined;
    if (this.#now() >= session.expiresAt) {
      this.#sessions.delete(id);
      return undefined;
    }
    return session;
  }

  /** Whether `token` is this session's CSRF token. */
  checkCsrf(session: HapSession, token: string | undefined): boolean {
    return sameSecret(token, session.csrf);
  }

  /** Ends a session (logout). */
  end(id: string): void {
    this.#sessions.delete(id);
  }

  /** Sessions and unused login links held (tests). */
  get size(): { sessions: number; logins: number } {
    return { sessions: this.#sessions.size, logins: this.#logins.size };
  }
}
