// The ops HTTP listener (loopback by default): /healthz (liveness: the event loop answers), /readyz
// (readiness: every critical check passes), /health (each check in detail, JSON) and /metrics
// (Prometheus text). Read-only and unauthenticated, hence loopback unless ops.allowRemote.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { UsageError } from '../errors.ts';
import { close, isLoopbackHost, listen, send as sendBody } from '../http.ts';
import type { HealthReport } from './checks.ts';

export interface OpsHandlers {
  health(): HealthReport;
  metrics(): Promise<{ contentType: string; text: string }>;
  /** Extra facts for /health (peer id, uptime …). */
  about(): Record<string, unknown>;
}

const send = (res: ServerResponse, status: number, type: string, body: string): void =>
  sendBody(res, status, type, body, { 'cache-control': 'no-store' });

const json = (res: ServerResponse, status: number, value: unknown): void =>
  send(res, status, 'application/json', `${JSON.stringify(value)}\n`);

export class OpsHttpServer {
  private server: Server | undefined;
  private readonly handlers: OpsHandlers;
  address: { host: string; port: number } | undefined;

  constructor(handlers: OpsHandlers) {
    this.handlers = handlers;
  }

  async start(host: string, port: number, allowRemote: boolean): Promise<void> {
    if (!isLoopbackHost(host) && !allowRemote) {
      throw new UsageError(`ops.host ${host} is not a loopback address; set ops.allowRemote to bind it`);
    }
    const server = createServer((req, res) => {
      void this.dispatch(req.method ?? 'GET', new URL(req.url ?? '/', 'http://ops').pathname, res).catch(() => {
        if (!res.headersSent) json(res, 500, { error: 'internal error' });
        else res.end();
      });
    });
    this.address = await listen(
      server,
      () => server.listen(port, host),
      () =>
        new UsageError(
          `ops port ${host}:${port} is already in use: set ops.port (0 picks a free port) or ops.enabled=false`,
          'OPS_PORT_IN_USE',
        ),
    );
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.address = undefined;
    if (server) await close(server);
  }

  private async dispatch(method: string, path: string, res: ServerResponse): Promise<void> {
    if (method !== 'GET' && method !== 'HEAD') return json(res, 405, { error: 'only GET' });
    switch (path) {
      case '/healthz':
        return json(res, 200, { status: 'alive' });
      case '/readyz': {
        const r = this.handlers.health();
        return json(res, r.ready ? 200 : 503, { ready: r.ready, reasons: r.reasons });
      }
      case '/health': {
        const r = this.handlers.health();
        return json(res, r.ready ? 200 : 503, { ...this.handlers.about(), ...r });
      }
      case '/metrics': {
        const m = await this.handlers.metrics();
        return send(res, 200, m.contentType, m.text);
      }
      default:
        return json(res, 404, { error: `no endpoint ${path}: try /healthz, /readyz, /health, /metrics` });
    }
  }
}
