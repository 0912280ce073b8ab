// The node's side of cluster leases: acquire at start, renew at a third of the TTL, keep running
// through a grace period while the lease server is unreachable (retrying behind a circuit breaker
// with backoff), and give up — the node then stops — when the grace period since the last
// successful renewal ends. The last renewal is persisted so a restart inside the grace period works.
// Every request is signed by the node and every answer must be signed by the pinned server key
// (lease-protocol.ts): an answer that is not is no answer at all.
import { readFileSync } from 'node:fs';
import { ChorusError, describeError, UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { writePrivateFile } from '../p2p/identity.ts';
import type { Signer } from '../p2p/signer.ts';
import type { NodeCertificate } from './certificate.ts';
import { ANSWER_SIGNATURE_HEADER, signRequest, verifyAnswer } from './lease-protocol.ts';

export type LeaseState = 'held' | 'grace' | 'expired' | 'released';

export interface LeaseStatus {
  state: LeaseState;
  server: string;
  leaseId?: string;
  expiresAt?: string;
  lastRenewedAt?: string;
  graceRemainingMs?: number;
  consecutiveFailures: number;
  /** Circuit breaker: when open, no request is sent before `retryAt`. */
  breaker: 'closed' | 'open';
  retryAt?: string;
  lastError?: string;
}

export interface LeaseOptions {
  server: string;
  /** The lease server's public key (`ed25519:…`, license.serverKey): every answer must be signed by it. */
  serverKey: string;
  /** This node's certificate, shown to the server when acquiring. */
  credential: NodeCertificate;
  /** Signs requests as this node (the peer the certificate names). */
  signer: Signer;
  ttlMs: number;
  gracePeriodMs: number;
  /** Where the last successful renewal is remembered (0600). */
  stateFile: string;
  logger: Logger;
  /** Called once when the grace period has ended; the node stops. */
  onExpired: (reason: string) => void;
  requestTimeoutMs?: number;
}

/** An answer not signed by the pinned lease server key: forged, altered or replayed on the way. */
export class UntrustedAnswerError extends ChorusError {
  constructor(message: string) {
    super('LEASE_UNTRUSTED_ANSWER', message);
    this.name = 'UntrustedAnswerError';
  }
}

/** A lease refused for good (cluster full, license refused by the server). */
export class LeaseRefusedError extends ChorusError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'LeaseRefusedError';
  }
}

interface Saved {
  leaseId: string;
  lastRenewedAt: number;
}

const MAX_BACKOFF_MS = 30_000;

export class LeaseKeeper {
  private readonly opts: LeaseOptions;
  private leaseId: string | undefined;
  private expiresAt: number | undefined;
  private lastRenewedAt: number | undefined;
  private failures = 0;
  private retryAt = 0;
  private lastError: string | undefined;
  private state: LeaseState = 'held';
  private timer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  private releasing = false;

  private constructor(opts: LeaseOptions) {
    this.opts = opts;
  }

  /**
   * Acquires a lease. A refusal (cluster full, license refused) throws LeaseRefusedError; an
   * unreachable server throws too, unless a renewal within the grace period is remembered.
   */
  static async acquire(opts: LeaseOptions): Promise<LeaseKeeper> {
    if (!opts.serverKey) throw serverKeyMissing();
    const keeper = new LeaseKeeper(opts);
    try {
      await keeper.requestLease();
    } catch (err) {
      if (err instanceof LeaseRefusedError) throw err;
      const saved = readSaved(opts.stateFile);
      const age = saved ? Date.now() - saved.lastRenewedAt : Infinity;
      if (!saved || age >= opts.gracePeriodMs) {
        if (err instanceof UntrustedAnswerError) throw err;
        throw new ChorusError('LEASE_UNREACHABLE', `lease server ${opts.server} unreachable: ${describeError(err)}`);
      }
      keeper.leaseId = saved.leaseId;
      keeper.lastRenewedAt = saved.lastRenewedAt;
      keeper.noteFailure(err);
      opts.logger.warn('lease server unreachable; starting within the grace period', {
        server: opts.server,
        graceRemainingMs: opts.gracePeriodMs - age,
      });
    }
    keeper.schedule();
    return keeper;
  }

  status(): LeaseStatus {
    return {
      state: this.state,
      server: this.opts.server,
      leaseId: this.leaseId ? `${this.leaseId.slice(0, 6)}…` : undefined,
      expiresAt: this.expiresAt ? new Date(this.expiresAt).toISOString() : undefined,
      lastRenewedAt: this.lastRenewedAt ? new Date(this.lastRenewedAt).toISOString() : undefined,
      graceRemainingMs:
        this.state === 'grace' && this.lastRenewedAt !== undefined
          ? Math.max(0, this.opts.gracePeriodMs - (Date.now() - this.lastRenewedAt))
          : undefined,
      consecutiveFailures: this.failures,
      breaker: this.retryAt > Date.now() ? 'open' : 'closed',
      retryAt: this.retryAt > Date.now() ? new Date(this.retryAt).toISOString() : undefined,
      lastError: this.lastError,
    };
  }

  /** Releases the lease (best effort, bounded) and stops renewing. */
  async release(): Promise<void> {
    clearTimeout(this.timer);
    clearTimeout(this.graceTimer);
    await this.saving;
    const id = this.leaseId;
    if (this.releasing) return;
    this.releasing = true;
    if (this.state !== 'expired') this.state = 'released'; // an expired lease stays reported as expired
    if (!id) return;
    try {
      await this.call('DELETE', `/v1/leases/${id}`, {}, AbortSignal.timeout(1500));
    } catch (err) {
      this.opts.logger.debug('could not release the lease', { error: describeError(err) });
    }
  }

  private base(): string {
    return this.opts.server.replace(/\/+$/, '');
  }

  /** A signed request; resolves only with an answer signed by the server for this very request. */
  private async call(
    method: 'POST' | 'DELETE',
    path: string,
    fields: Record<string, unknown>,
    signal = AbortSignal.timeout(this.opts.requestTimeoutMs ?? 5000),
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const body = signRequest(this.opts.signer, method, path, fields);
    const res = await fetch(`${this.base()}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    });
    const text = await res.text();
    if (!verifyAnswer(this.opts.serverKey, res.status, body.nonce, text, res.headers.get(ANSWER_SIGNATURE_HEADER))) {
      throw new UntrustedAnswerError(
        `lease server ${this.opts.server} answered ${res.status}, but not signed by license.serverKey ${this.opts.serverKey} for this request (forged, altered or replayed): refused`,
      );
    }
    let json: Record<string, unknown>;
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      throw new Error(`lease server answered ${res.status} with a body that is not JSON`);
    }
    return { status: res.status, json };
  }

  private async requestLease(): Promise<void> {
    const r = await this.call('POST', '/v1/leases', { certificate: this.opts.credential, ttlMs: this.opts.ttlMs });
    if (r.status === 201) return this.granted(r.json);
    const error = r.json.error as { code?: string; message?: string } | undefined;
    if (r.status === 409 || r.status === 403) {
      throw new LeaseRefusedError(
        r.status === 409 ? 'CLUSTER_FULL' : 'LEASE_REFUSED',
        `lease refused: ${error?.message ?? `status ${r.status}`}`,
      );
    }
    throw new Error(`lease server answered ${r.status}: ${error?.message ?? 'no reason'}`);
  }

  private granted(json: Record<string, unknown>): void {
    this.leaseId = typeof json.leaseId === 'string' ? json.leaseId : this.leaseId;
    this.expiresAt = typeof json.expiresAt === 'string' ? Date.parse(json.expiresAt) : undefined;
    this.lastRenewedAt = Date.now();
    if (this.state === 'grace') this.opts.logger.info('lease server reachable again; lease renewed');
    this.state = 'held';
    this.failures = 0;
    this.retryAt = 0;
    this.lastError = undefined;
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    const saved = JSON.stringify({ leaseId: this.leaseId, lastRenewedAt: this.lastRenewedAt });
    this.saving = this.saving
      .then(() => writePrivateFile(this.opts.stateFile, saved))
      .catch((err: unknown) => {
        this.opts.logger.warn('could not remember the lease renewal', { error: describeError(err) });
      });
  }

  private async renew(): Promise<void> {
    if (!this.leaseId) return this.requestLease();
    const r = await this.call('POST', `/v1/leases/${this.leaseId}/renew`, { ttlMs: this.opts.ttlMs });
    if (r.status === 200) return this.granted(r.json);
    if (r.status === 404) return this.requestLease(); // expired on the server (e.g. after an outage)
    throw new Error(`lease server answered ${r.status}`);
  }

  private noteFailure(err: unknown): void {
    this.failures++;
    this.lastError = describeError(err);
    const backoff = Math.min(
      MAX_BACKOFF_MS,
      Math.ceil(this.opts.ttlMs / 3),
      500 * 2 ** Math.min(this.failures - 1, 10),
    );
    this.retryAt = Date.now() + backoff;
    if (this.state === 'held') {
      this.state = 'grace';
      this.opts.logger.warn('cannot renew the license lease; running on the grace period', {
        server: this.opts.server,
        error: this.lastError,
      });
    }
    if (!this.graceTimer && this.lastRenewedAt !== undefined) {
      const remaining = this.opts.gracePeriodMs - (Date.now() - this.lastRenewedAt);
      this.graceTimer = setTimeout(() => this.expire(), Math.max(0, remaining));
      this.graceTimer.unref?.();
    }
  }

  private expire(): void {
    if (this.state !== 'grace') return;
    this.state = 'expired';
    clearTimeout(this.timer);
    this.opts.onExpired(
      `license lease grace period of ${this.opts.gracePeriodMs} ms ended without reaching ${this.opts.server} (${this.lastError ?? 'no answer'})`,
    );
  }

  private schedule(): void {
    if (this.state === 'expired' || this.releasing) return;
    const delay = this.state === 'held' ? Math.ceil(this.opts.ttlMs / 3) : Math.max(0, this.retryAt - Date.now());
    this.timer = setTimeout(() => void this.tick(), delay);
    this.timer.unref?.();
  }

  private async tick(): Promise<void> {
    try {
      await this.renew();
    } catch (err) {
      this.noteFailure(err);
    }
    this.schedule();
  }
}

/** license.server without license.serverKey: no answer could be trusted. */
export function serverKeyMissing(): UsageError {
  return new UsageError(
    'license.server is set but license.serverKey is not: pin the key the lease server prints at start (CHORUS_LICENSE_SERVER_KEY)',
    'LEASE_SERVER_KEY',
  );
}

function readSaved(file: string): Saved | undefined {
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as Partial<Saved>;
    return typeof s.leaseId === 'string' && typeof s.lastRenewedAt === 'number'
      ? { leaseId: s.leaseId, lastRenewedAt: s.lastRenewedAt }
      : undefined;
  } catch {
    return undefined;
  }
}
