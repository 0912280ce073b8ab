// The portal (HAP, the Human Agent Portal) as one part of a node: its sessions (in memory), its gate on the
// control API's TCP listener and the one-time login links `chorus hap` asks for. Nothing to start or stop:
// the API server serves it, and a restart forgets every session.
import { UsageError } from '../errors.ts';
import { loadAssets, type AssetFiles } from './assets.ts';
import { HapGate, LOGIN_PATH } from './gate.ts';
import { HapSessions } from './sessions.ts';

export interface LoginLink {
  url: string;
  /** ISO time after which the link no longer opens a session. */
  expiresAt: string;
}

export interface HapPortalOptions {
  /** The API's TCP listener as bound (absent when it is off). */
  tcp: () => { host: string; port: number } | undefined;
  sessions?: HapSessions;
  assets?: () => Promise<AssetFiles>;
}

/** The host part of a URL for a bound address (a wildcard bind is reached on loopback). */
export function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

export class HapPortal {
  readonly sessions: HapSessions;
  readonly gate: HapGate;
  readonly #tcp: HapPortalOptions['tcp'];

  constructor(opts: HapPortalOptions) {
    this.#tcp = opts.tcp;
    this.sessions = opts.sessions ?? new HapSessions();
    this.gate = new HapGate({
      sessions: this.sessions,
      assets: opts.assets ?? loadAssets,
      port: () => opts.tcp()?.port,
    });
  }

  /** A one-time login URL for this node's portal; a usage error (exit 2) when the TCP listener is off. */
  loginLink(): LoginLink {
    const tcp = this.#tcp();
    if (!tcp) {
      throw new UsageError(
        'the portal is served on the control API’s TCP listener, which this node does not run: restart it with `chorus node --api-port 7070` (or set api.tcpPort)',
        'HAP_NO_LISTENER',
      );
    }
    const { secret, expiresAt } = this.sessions.issueLogin();
    return {
      url: `http://${urlHost(tcp.host)}:${tcp.port}${LOGIN_PATH}?once=${secret}`,
      expiresAt: new Date(expiresAt).toISOString(),
    };
  }
}
