// Headless Chromium for the portal's browser tests: Debian's `chromium` (.ci/run installs it), driven by
// playwright-core (no browser download), launched with a fresh profile (playwright's own temporary
// --user-data-dir) and without the background traffic the closed network here refuses. Screenshots are written
// only when CHORUS_HAP_SCREENSHOTS names a directory (e.g. docs/img), so a test run never dirties the tree.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'];

/** The Chromium executable (CHROMIUM_PATH, or Debian's), undefined when there is none. */
export function chromiumPath(): string | undefined {
  const given = process.env.CHROMIUM_PATH;
  if (given) return existsSync(given) ? given : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error('no chromium: apt-get install -y chromium (or set CHROMIUM_PATH)');
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS, timeout: 60_000 });
}

/** Writes a full-page screenshot as <dir>/hap-<name>.png when CHORUS_HAP_SCREENSHOTS is set. */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.CHORUS_HAP_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `hap-${name}.png`), fullPage: true, animations: 'disabled' });
}
