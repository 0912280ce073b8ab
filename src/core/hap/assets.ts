// The portal's static files (index.html, app.js, app.css), loaded on first use: the executable and the bundle
// embed them (the build replaces ./embedded.ts with the built files), so `chorus --version` never parses them
// and nothing is fetched at run time; from source they are built from ui/ on first use.
import { createHash } from 'node:crypto';

export interface Asset {
  type: string;
  body: Buffer;
  /** A strong ETag (the content's hash). */
  etag: string;
}

/** File name ("index.html", "app.js", "app.css") → its asset. */
export type AssetFiles = ReadonlyMap<string, Asset>;

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

function typeOf(name: string): string {
  return TYPES[name.slice(name.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
}

function toAssets(files: Record<string, string>): AssetFiles {
  return new Map(
    Object.entries(files).map(([name, text]) => {
      const body = Buffer.from(text, 'utf8');
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
      return [name, { type: typeOf(name), body, etag }];
    }),
  );
}

let loading: Promise<AssetFiles> | undefined;

/** The portal's files (loaded once; a failed load is retried on the next call). */
export function loadAssets(): Promise<AssetFiles> {
  loading ??= import('./embedded.ts')
    .then((m) => m.uiFiles())
    .then(toAssets)
    .catch((err: unknown) => {
      loading = undefined;
      throw err;
    });
  return loading;
}
