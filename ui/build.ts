// Builds the portal's files from ui/ with esbuild: app.js (Preact, uPlot, the line diff and the shared task
// and address validation from src/core, one IIFE for the browser), app.css (ours and uPlot's) and index.html,
// which loads both from /assets/ (the Content-Security-Policy allows nothing inline). Used by
// scripts/build-binaries.ts, which embeds the result, and by src/core/hap/embedded.ts when running from source.
import { join } from 'node:path';
import { build } from 'esbuild';

const UI = import.meta.dirname;

export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chorus — Human Agent Portal</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/app.css">
<script src="/assets/app.js" defer></script>
</head>
<body>
<div id="app"><p class="boot">Loading the portal…</p></div>
<noscript>The portal needs JavaScript.</noscript>
</body>
</html>
`;

/**
 * Sequences that would end or confuse an inline <script> (the self-contained benchmark report inlines app.js):
 * esbuild escapes them in strings; a build that still holds one fails here instead of breaking a report.
 */
const UNSAFE_INLINE = /<\/script|<!--/i;

/** The built files: name → content. */
export async function buildUi(): Promise<Record<string, string>> {
  const result = await build({
    entryPoints: { app: join(UI, 'main.tsx') },
    bundle: true,
    write: false,
    outdir: join(UI, 'out'),
    format: 'iife',
    platform: 'browser',
    target: ['chrome115', 'firefox115', 'safari16'],
    minify: true,
    legalComments: 'eof',
    charset: 'utf8',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: join(UI, 'tsconfig.json'),
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  const files: Record<string, string> = { 'index.html': INDEX_HTML };
  for (const out of result.outputFiles) {
    const name = out.path.slice(out.path.lastIndexOf('/') + 1);
    files[name] = out.text;
  }
  const js = files['app.js'];
  if (!js || !files['app.css']) throw new Error(`the UI build made ${Object.keys(files).join(', ')}`);
  if (UNSAFE_INLINE.test(js)) throw new Error('app.js holds "</script" or "<!--": it could not be inlined safely');
  return files;
}
