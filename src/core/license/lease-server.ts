// The lease server (the KACHING role): an HTTP service that grants, renews and releases cluster
// leases — at most `maxNodes` live leases per license, each with a TTL — persisted in node:sqlite.
// Requests are signed by the node (lease-protocol.ts: fresh, never replayed, only the lease's own
// peer renews or releases it); every answer is signed by this server's key.
//   POST   /v1/leases            {certificate, ttlMs?} + signed → 201 {leaseId, licenseId, expiresAt, ttlMs}
//   POST   /v1/leases/<id>/renew {ttlMs?} + signed              → 200 {leaseId, expiresAt} | 404 expired/unknown
//   DELETE /v1/leases/<id>       signed                         → 204
//   GET    /v1/leases                                           → 200 {leases:[…]} (live leases, no secrets)
//   GET    /healthz                                             → 200 {ok:true}
import { randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import * as z from 'zod';
import { describeError, UsageError } from '../errors.ts';
import { close, HttpError, listen, readJsonBody } from '../http.ts';
import type { Logger } from '../log.ts';
import { toCertificate, verifyCertificate } from './certificate.ts';
import { LicenseError } from './document.ts';
import {
  ANSWER_SIGNATURE_HEADER,
  checkRequest,
  REQUEST_WINDOW_MS,
  RequestAuthError,
  signAnswer,
  type SignedFields,
} from './lease-protocol.ts';

const MAX_BODY = 64 * 1024;
const MIN_TTL_MS = 1000;
const MAX_TTL_MS = 24 * 3_600_000;

export interface LeaseServerOptions {
  dbFile: string;
  host: string;
  port: number;
  /** Authorities whose licenses this server grants leases for. */
  authorities: string[];
  /** This server's Ed25519 key: it signs every answer (nodes pin its public half in license.serverKey). */
  key: KeyObject;
  defaultTtlMs: number;
  logger: Logger;
  now?: () => number;
}

export interface LeaseView {
  licenseId: string;
  peerId: string;
  expiresAt: string;
  createdAt: string;
}

const acquireSchema = z.strictObject({
  certificate: z.unknown(),
  ttlMs: z.number().int().min(MIN_TTL_MS).max(MAX_TTL_MS).optional(),
});

export class LeaseServer {
  private readonly opts: LeaseServerOptions;
  private readonly db: DatabaseSync;
  private readonly server: Server;
  private readonly now: () => number;

  constructor(opts: LeaseServerOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    mkdirSync(dirname(opts.dbFile), { recursive: true, mode: 0o700 });
    this.db = new DatabaseSync(opts.dbFile);
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = FULL;
      CREATE TABLE IF NOT EXISTS leases (
        id TEXT PRIMARY KEY,
        license_id TEXT NOT NULL,
        peer_id TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS leases_license ON leases (license_id, expires_at);
      CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_at);
    `);
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<{ host: string; port: number }> {
    const a = await listen(this.server, () => this.server.listen(this.opts.port, this.opts.host));
    return a ?? { host: this.opts.host, port: this.opts.port };
  }

  async stop(): Promise<void> {
    await close(this.server);
    this.db.close();
  }

  /** Live leases (expired ones are removed first). */
  leases(): LeaseView[] {
    this.expire();
    const rows = this.db
      .prepare('SELECT license_id, peer_id, expires_at, created_at FROM leases ORDER BY created_at')
      .all() as { license_id: string; peer_id: string; expires_at: number; created_at: number }[];
    return rows.map((r) => ({
      licenseId: r.license_id,
      peerId: r.peer_id,
      expiresAt: new Date(r.expires_at).toISOString(),
      createdAt: new Date(r.created_at).toISOString(),
    }));
  }

  private expire(): void {
    this.db.prepare('DELETE FROM leases WHERE expires_at <= ?').run(this.now());
  }

  /** Checks a signed request: signature, freshness, and a nonce never seen within the window. */
  private authenticate(method: string, path: string, body: unknown): { signed: SignedFields; fields: unknown } {
    const now = this.now();
    let checked;
    try {
      checked = checkRequest(method, path, body, now);
      this.db.prepare('DELETE FROM nonces WHERE expires_at <= ?').run(now);
      try {
        this.db
          .prepare('INSERT INTO nonces (nonce, expires_at) VALUES (?, ?)')
          .run(checked.signed.nonce, now + 2 * REQUEST_WINDOW_MS);
      } catch {
        throw new RequestAuthError('the request was replayed (its nonce was seen before)');
      }
    } catch (err) {
      if (err instanceof RequestAuthError) throw new HttpError(401, 'UNAUTHENTICATED', err.message);
      throw err;
    }
    return checked;
  }

  private acquire(peerId: string, body: unknown): { status: number; body: unknown } {
    const req = acquireSchema.safeParse(body);
    if (!req.success) throw new HttpError(400, 'BAD_REQUEST', 'expected {certificate, ttlMs?} and the signed fields');
    let licenseId: string;
    let maxNodes: number;
    try {
      // the node certificate must name the peer that signed the request
      const { license } = verifyCertificate(toCertificate(req.data.certificate), {
        authorities: this.opts.authorities,
        peer: peerId,
        now: new Date(this.now()),
      });
      licenseId = license.id;
      maxNodes = license.maxNodes;
    } catch (err) {
      if (err instanceof LicenseError) throw new HttpError(403, err.code, err.message);
      throw err;
    }
    const ttl = req.data.ttlMs ?? this.opts.defaultTtlMs;
    const now = this.now();
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.expire();
      // a peer that asks again (a restart) gets its slot back instead of a second one
      this.db.prepare('DELETE FROM leases WHERE license_id = ? AND peer_id = ?').run(licenseId, peerId);
      const { live } = this.db.prepare('SELECT COUNT(*) AS live FROM leases WHERE license_id = ?').get(licenseId) as {
        live: number;
      };
      if (live >= maxNodes) {
        throw new HttpError(
          409,
          'CLUSTER_FULL',
          `license ${licenseId} allows ${maxNodes} node(s) and ${live} hold a lease: the cluster is full`,
        );
      }
      const id = randomBytes(24).toString('base64url');
      this.db
        .prepare('INSERT INTO leases (id, license_id, peer_id, expires_at, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(id, licenseId, peerId, now + ttl, now);
      this.db.exec('COMMIT');
      this.opts.logger.info('granted a lease', { license: licenseId, peer: peerId, ttlMs: ttl });
      return {
        status: 201,
        body: { leaseId: id, licenseId, expiresAt: new Date(now + ttl).toISOString(), ttlMs: ttl },
      };
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  /** Only the peer that holds a lease renews it: another peer is told it does not exist. */
  private renew(id: string, peerId: string, body: unknown): { status: number; body: unknown } {
    const ttlRaw = (body as { ttlMs?: unknown } | null)?.ttlMs;
    const ttl =
      typeof ttlRaw === 'number' && Number.isInteger(ttlRaw) && ttlRaw >= MIN_TTL_MS && ttlRaw <= MAX_TTL_MS
        ? ttlRaw
        : this.opts.defaultTtlMs;
    this.expire();
    const expiresAt = this.now() + ttl;
    const r = this.db
      .prepare('UPDATE leases SET expires_at = ? WHERE id = ? AND peer_id = ?')
      .run(expiresAt, id, peerId);
    if (r.changes === 0) throw new HttpError(404, 'LEASE_UNKNOWN', 'no such live lease (expired or released)');
    return { status: 200, body: { leaseId: id, expiresAt: new Date(expiresAt).toISOString(), ttlMs: ttl } };
  }

  private release(id: string, peerId: string): { status: number; body: unknown } {
    this.db.prepare('DELETE FROM leases WHERE id = ? AND peer_id = ?').run(id, peerId);
    return { status: 204, body: undefined };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let out: { status: number; body: unknown };
    let nonce = '';
    try {
      const url = new URL(req.url ?? '/', 'http://lease');
      const method = req.method ?? 'GET';
      const body = method === 'POST' || method === 'DELETE' ? await readJson(req) : undefined;
      const claimed = (body as { nonce?: unknown } | undefined)?.nonce;
      if (typeof claimed === 'string' && /^[A-Za-z0-9_-]{22}$/.test(claimed)) nonce = claimed;
      const m = /^\/v1\/leases\/([A-Za-z0-9_-]{1,64})(\/renew)?$/.exec(url.pathname);
      const signed = (): { signed: SignedFields; fields: unknown } => this.authenticate(method, url.pathname, body);
      if (method === 'GET' && url.pathname === '/healthz') out = { status: 200, body: { ok: true } };
      else if (method === 'GET' && url.pathname === '/v1/leases')
        out = { status: 200, body: { leases: this.leases() } };
      else if (method === 'POST' && url.pathname === '/v1/leases') {
        const r = signed();
        out = this.acquire(r.signed.peerId, r.fields);
      } else if (method === 'POST' && m?.[2]) {
        const r = signed();
        out = this.renew(m[1]!, r.signed.peerId, r.fields);
      } else if (method === 'DELETE' && m && !m[2]) out = this.release(m[1]!, signed().signed.peerId);
      else throw new HttpError(404, 'NOT_FOUND', `no route ${method} ${url.pathname}`);
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(500, 'INTERNAL', describeError(err));
      if (e.status >= 500) this.opts.logger.error('lease request failed', { error: e.message });
      else if (e.status === 401) this.opts.logger.warn('refused a lease request', { reason: e.message });
      out = { status: e.status, body: { error: { code: e.code, message: e.message } } };
    }
    const text = out.body === undefined ? '' : JSON.stringify(out.body);
    const headers: Record<string, string> = {
      [ANSWER_SIGNATURE_HEADER]: signAnswer(this.opts.key, out.status, nonce, text),
    };
    if (out.body !== undefined) headers['content-type'] = 'application/json';
    res.writeHead(out.status, headers);
    res.end(text || undefined);
  }
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return readJsonBody(req, {
    limit: MAX_BODY,
    tooLarge: () => new HttpError(413, 'TOO_LARGE', 'request body too large'),
    notJson: () => new HttpError(400, 'BAD_REQUEST', 'the body is not JSON'),
  });
}

/** Checks the listen address of `chorus license serve` (host:port). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--listen expects host:port, got "${listen}"`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}
