// The self-contained benchmark report page (`chorus bench report … --html`): the portal's own app.js and
// app.css inlined into one HTML file with the report as JSON, so it shows the portal's benchmark view with no
// server and no network. Its Content-Security-Policy is a <meta> that allows exactly these inline script and
// style (by their SHA-256) and nothing else: no connections, no other script, no frames.
import { createHash } from 'node:crypto';
import { ChorusError } from '../errors.ts';
import type { AssetFiles } from './assets.ts';

/** The id of the element holding the report (the app looks for it: ui/views/bench.tsx). */
export const REPORT_ELEMENT = 'chorus-bench-report';

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** The page's CSP: the inline script and style by hash, images only as data: URLs (uPlot draws on canvas). */
export function reportCsp(js: string, css: string): string {
  return `default-src 'none'; script-src ${sha256(js)}; style-src ${sha256(css)}; img-src data:; base-uri 'none'; form-action 'none'`;
}

function asset(files: AssetFiles, name: string): string {
  const file = files.get(name);
  if (!file) throw new ChorusError('HAP_ASSETS', `the portal's ${name} is missing from this build`);
  return file.body.toString('utf8');
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);

/** One HTML file showing `report` (a bench report as `--out` writes it) with the portal's benchmark view. */
export function benchReportPage(report: unknown, files: AssetFiles, title = 'chorus bench report'): string {
  const js = asset(files, 'app.js');
  const css = asset(files, 'app.css');
  if (/<\/style/i.test(css)) throw new ChorusError('HAP_ASSETS', 'app.css cannot be inlined: it holds "</style"');
  // JSON in a non-script <script>: "<" escaped, so the text can never close the element
  const data = JSON.stringify(report).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${reportCsp(js, css)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${css}</style>
</head>
<body>
<div id="app"></div>
<script type="application/json" id="${REPORT_ELEMENT}">${data}</script>
<script>${js}</script>
</body>
</html>
`;
}
