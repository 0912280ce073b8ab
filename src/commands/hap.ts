// `chorus hap`: a one-time login link to the local node's portal (HAP), asked of the node over its Unix socket,
// and opened in a browser when one is at hand — never with --no-open, under CI, or without a display.
import { spawn } from 'node:child_process';
import { ApiClient } from '../core/api/client.ts';
import type { LoginLink } from '../core/hap/portal.ts';
import type { CommandContext } from './context.ts';

export interface HapOptions {
  /** Try to open a browser (false with --no-open). */
  open: boolean;
}

export interface HapResult extends LoginLink {
  /** Whether a browser was started with the link. */
  opened: boolean;
}

/** The program that opens a URL here, or undefined when no browser can be shown. */
export function browserOpener(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string | undefined {
  if (env.CI) return undefined;
  if (platform === 'darwin') return 'open';
  if (platform === 'win32') return undefined;
  return env.DISPLAY || env.WAYLAND_DISPLAY ? 'xdg-open' : undefined;
}

function openBrowser(url: string): Promise<boolean> {
  const opener = browserOpener(process.env, process.platform);
  if (!opener) return Promise.resolve(false);
  return new Promise((resolve) => {
    const child = spawn(opener, [url], { detached: true, stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}

export async function run(opts: HapOptions, ctx: CommandContext): Promise<HapResult> {
  const api = new ApiClient({ dataDir: ctx.config.dataDir });
  const link = await api.call<LoginLink>('POST', '/v1/hap/login-link', {}, ctx.signal);
  return { ...link, opened: opts.open ? await openBrowser(link.url) : false };
}
