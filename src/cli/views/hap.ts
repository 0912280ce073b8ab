// Text rendering of `chorus hap`: the login link alone on the first line (scripts take it), then how long it lasts.
import type { HapResult } from '../../commands/hap.ts';

export function renderHap(r: HapResult): string {
  const until = new Date(r.expiresAt).toLocaleTimeString();
  return `${r.url}\n(opens one portal session; valid until ${until}${r.opened ? '; opened in your browser' : ''})`;
}
